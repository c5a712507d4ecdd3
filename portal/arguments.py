"""Numbers read from URLs and query strings, bounded to what the database's id columns hold."""
import re

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter

# Every id column is an INTEGER: 32 bits on PostgreSQL (SQLite's hold 64). A larger number names nothing, and sent
# to the database it is an error (PostgreSQL: out of range; SQLite: too large to bind) rather than "no such row".
MAX_ID = 2**31 - 1
# ASCII digits only (\d would take other scripts' digits too), and few enough that int() is cheap.
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,19}")


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: a number beyond MAX_ID does not match the route, so the answer is a 404."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = None,  # noqa: A002
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits, min, MAX_ID if max is None else max, signed)


def url_converters_register(app: Flask) -> None:
    """Before any blueprint: a rule picks its converter class when it is added to the map."""
    app.url_map.converters["int"] = IdConverter


def int_arg(name: str, default: int | None = None, *, minimum: int = 0, maximum: int = MAX_ID) -> int | None:
    """A whole number from the query string (an id, a page, a count of days); absent or empty is `default`.

    Anything else that is not a whole number within [minimum, maximum] is a 400: a filter the page would
    silently ignore, or one the database would refuse, is a broken link worth saying so.
    """
    text = (request.args.get(name) or "").strip()
    if not text:
        return default
    if not _WHOLE_NUMBER.fullmatch(text) or not minimum <= int(text) <= maximum:
        abort(400)
    return int(text)
