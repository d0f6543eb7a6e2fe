"""Forms: Flask-WTF gives every one its CSRF token; services do the real validation."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp


class KioskLoginForm(FlaskForm):
    """Guard sign-in: staff number and 6-digit PIN."""

    staff_no = StringField(_l("Staff number"), validators=[DataRequired(), Length(max=20)])
    pin = PasswordField(_l("PIN"), validators=[DataRequired(), Regexp(r"^\d{6}$")])


class LoginForm(FlaskForm):
    """Sign-in for supervisors, service desk, residents and admins."""

    login = StringField(_l("Username or phone"), validators=[DataRequired(), Length(max=40)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class PlainForm(FlaskForm):
    """A form that carries only the CSRF token (buttons, checklists read from request.form)."""


def require_token() -> None:
    """Abort with 400 unless the posted form carries a valid CSRF token."""
    from flask import abort

    if not PlainForm().validate():
        abort(400)


class JournalForm(FlaskForm):
    """Any guard-written entry; which fields matter depends on the kind."""

    who = StringField(_l("Who"))
    what = TextAreaField(_l("What"))
    when = StringField(_l("When"))
    where = StringField(_l("Where"))
    why = TextAreaField(_l("Why"))
    how = TextAreaField(_l("How it was handled"))
    pass_on_to = StringField(_l("Pass the message on to"))
    due_minutes = StringField(_l("Promised within (minutes)"))
    unit = StringField(_l("Unit (building-entrance-room)"))
    purpose = StringField(_l("Purpose"))
    outcome = TextAreaField(_l("Outcome"))
    topic = StringField(_l("Topic"))
    summary = TextAreaField(_l("Summary"))
    forwarded = BooleanField(_l("Forwarded to the Owner Service Centre"), default=True)
    area = StringField(_l("Area patrolled"))
    findings = TextAreaField(_l("Findings"))
    text = TextAreaField(_l("Note"))
    kind = HiddenField()
