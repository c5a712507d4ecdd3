"""Small helpers the tests share (fixtures live in conftest.py)."""
import re

STRONG_PASSWORD = "correct horse battery staple"


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def message_parts(message) -> tuple[str, str]:
    """The text and HTML parts of an email received by the SMTP server."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html
