"""Flask extensions, created unbound here and bound to the app in create_app."""
import contextlib
import contextvars
from collections.abc import Iterator

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import Engine, Index, MetaData, event
from sqlalchemy.orm import DeclarativeBase

from portal import ratelimit_storage  # noqa: F401  (registers sqlite:// as a rate-limit storage)
from portal.timestamps import migration_render_item

# Named constraints let Alembic's batch mode rebuild SQLite tables and drop them by name later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, compare_type=True, render_item=migration_render_item)
login_manager = LoginManager()
csrf = CSRFProtect()
mail = Mail()
htmx = Htmx()
limiter = Limiter(key_func=get_remote_address)


def substring_index(name: str, column: str) -> Index:
    """An index that serves `LIKE '%text%'` searches: trigram GIN on PostgreSQL, a plain index elsewhere."""
    return Index(name, column, postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"})


def one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL for a CHECK constraint that keeps a state column within its known values."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# SQLite has no row locks: `SELECT … FOR UPDATE` is a plain read, and pysqlite starts a transaction only at the first
# write, so two use cases could both read "pending" and both act on it. A use case's transaction on SQLite therefore
# starts with BEGIN IMMEDIATE (the database's one write lock, taken before the first read). Other reads keep
# pysqlite's way (each statement sees what is committed, as PostgreSQL's read committed does).
_WRITE_LOCK_WANTED = contextvars.ContextVar("sqlite_write_lock_wanted", default=False)


@contextlib.contextmanager
def sqlite_write_lock() -> Iterator[None]:
    """Transactions begun inside start by taking SQLite's write lock (PostgreSQL: no effect, its row locks work)."""
    token = _WRITE_LOCK_WANTED.set(True)
    try:
        yield
    finally:
        _WRITE_LOCK_WANTED.reset(token)


@event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_connection, connection_record) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=15000")  # a use case waits for the write lock instead of failing
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection) -> None:
    if connection.dialect.name == "sqlite" and _WRITE_LOCK_WANTED.get():
        connection.exec_driver_sql("BEGIN IMMEDIATE")
