"""Per-connection database settings that make SQLite safe for several processes."""

from sqlalchemy import event
from sqlalchemy.engine import Engine

_installed = False


def install() -> None:
    """Register the SQLite hooks once per process."""
    global _installed
    if _installed:
        return
    _installed = True

    @event.listens_for(Engine, "connect")
    def _sqlite_connect(dbapi_conn, record) -> None:
        if type(dbapi_conn).__module__.startswith("sqlite3"):
            # Let SQLAlchemy's "begin" hook issue BEGIN IMMEDIATE itself.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # Generous: under load one writer can lose several races for the lock in a row.
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    @event.listens_for(Engine, "begin")
    def _sqlite_begin(conn) -> None:
        # IMMEDIATE takes the write lock up front: a transaction that read first and wrote
        # later would otherwise fail with "database is locked" when another process wrote.
        # A connection marked gate_read_only (shift-book verification) takes a plain BEGIN: a
        # snapshot in WAL mode without the write lock, so the gate keeps writing meanwhile.
        if conn.dialect.name == "sqlite":
            read_only = conn.get_execution_options().get("gate_read_only", False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
