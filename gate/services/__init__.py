"""Use cases: one function per action; each is one transaction with its shift-book entry."""

from collections.abc import Iterator
from contextlib import contextmanager

from flask import g

from gate.extensions import db

_GROUP = "gate_group_commit"


@contextmanager
def transaction() -> Iterator[None]:
    """Commit everything done inside, or nothing: the action and its shift-book entry together.

    A row changed by someone else meanwhile (a versioned row, e.g. two guards on one visit)
    becomes ActionError "conflict", so every action reports it the same way.
    """
    from flask_babel import lazy_gettext
    from sqlalchemy.orm.exc import StaleDataError

    conflict = ActionError("conflict", lazy_gettext("Someone else changed this just now. Reload "
                                                    "the page and try again."))
    if g.get(_GROUP):  # inside group_commit(): all or nothing as a savepoint, durable with the group
        try:
            with db.session.begin_nested():
                yield
        except StaleDataError:
            raise conflict from None
        return
    try:
        yield
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise conflict from None
    except BaseException:
        db.session.rollback()
        raise


@contextmanager
def group_commit() -> Iterator[None]:
    """Several actions made durable by one commit, each still all-or-nothing (a savepoint).

    The bridge writes a burst of device events this way: one disk flush for the burst instead
    of one per event. Nothing inside may be announced (a barrier command sent) before this
    block ends without an exception.
    """
    setattr(g, _GROUP, True)
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        setattr(g, _GROUP, False)


class ActionError(Exception):
    """An action refused for a reason the user can fix; `code` is stable for the API."""

    def __init__(self, code: str, message: object):
        # message may be a lazy translation: rendered in the reader's locale when shown.
        super().__init__(code)
        self.code = code
        self._message = message

    @property
    def message(self) -> str:
        """The message in the current locale."""
        return str(self._message)

    def __str__(self) -> str:
        return self.message
