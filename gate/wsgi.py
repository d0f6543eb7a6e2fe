"""WSGI entry point for gunicorn: `gunicorn 'gate.wsgi:app'`."""

from gate.app import create_app

app = create_app()
