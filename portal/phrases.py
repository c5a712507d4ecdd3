"""Texts stored now and read later in each reader's language: a catalog message and its values, kept as JSON.

The portal writes some texts once and shows them for months (the timeline, DNS findings, email contexts queued for
the outbox). Stored as English they would stay English for every reader; stored as a phrase, the message is looked
up in the reader's catalog when shown (portal/rendering.py `phrase_read`), its values formatted in the reader's
language and zone. `phrase` and `nphrase` are extraction keywords (babel.cfg's command line: `-k phrase
-k nphrase:1,2`); `N_` marks a constant that is stored as it is and translated when read.
"""
from datetime import UTC, date, datetime

Phrase = dict  # {"message": msgid, "values": {...}} (+ "plural", "num" for a plural message); JSON as it is


def N_(message: str) -> str:
    """A constant text the catalog holds, stored in English and read in the reader's language."""
    return message


def _stored(value):
    """A value as JSON keeps it: moments and days tagged so the reader sees them in their own zone and language."""
    if is_phrase(value) or isinstance(value, dict) and "day_of" in value \
            or isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return {"at": moment.astimezone(UTC).isoformat()}
    if isinstance(value, date):
        return {"day": value.isoformat()}
    return "" if value is None else str(value)


def day_of(moment: datetime) -> dict:
    """A value: the calendar day a moment falls on where the reader is (a period's end, read as a day)."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return {"day_of": moment.astimezone(UTC).isoformat()}


def phrase(message: str, /, **values) -> Phrase:
    """A stored text: `message` (in the catalog) with its values, each a text, a number, a moment, a day or another
    phrase. Values from outside (a node's name, cert-manager's reason) stay in their own words."""
    return {"message": message, "values": {name: _stored(value) for name, value in values.items()}}


def nphrase(singular: str, plural: str, num: int, /, **values) -> Phrase:
    """A stored text with a count: read with the plural form the reader's language takes for `num`."""
    return {**phrase(singular, **values), "plural": plural, "num": int(num)}


def is_phrase(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("message"), str)


def as_phrase(text: "str | Phrase") -> Phrase:
    """A text as a phrase, to be a value of another: a constant (N_) is read in the reader's language, other text
    as it is (the catalog does not hold it)."""
    return text if is_phrase(text) else phrase(text)


def _english_value(value):
    if is_phrase(value):
        return phrase_english(value)
    if isinstance(value, dict) and "at" in value:
        return f"{datetime.fromisoformat(value['at']):%Y-%m-%d %H:%M} UTC"
    if isinstance(value, dict) and "day" in value:
        return value["day"]
    if isinstance(value, dict) and "day_of" in value:
        return f"{datetime.fromisoformat(value['day_of']):%Y-%m-%d}"
    return value


def phrase_english(stored: Phrase | str | None) -> str:
    """The phrase as its English source reads (for staff's logs and alerts, and the stored `message` column)."""
    if not is_phrase(stored):
        return stored or ""
    values = {name: _english_value(value) for name, value in (stored.get("values") or {}).items()}
    message = stored["message"]
    if "plural" in stored:
        values.setdefault("num", stored["num"])
        message = message if stored["num"] == 1 else stored["plural"]
    return message % values if values else message
