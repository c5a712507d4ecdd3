"""Which names a customer may bring: each refusal with its reason, IDNs as punycode shown in Unicode."""
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.domains.names import DomainRefused, domain_name_parse, unicode_name

pytestmark = pytest.mark.smoke
PROVIDER = ("localtest.me", "portal.example.id")


@pytest.mark.parametrize("typed, ascii_name, shown", [
    ("blog.example.co.id", "blog.example.co.id", "blog.example.co.id"),
    ("Blog.EXAMPLE.com.", "blog.example.com", "blog.example.com"),  # case and the root's dot do not matter
    ("  example.com ", "example.com", "example.com"),
    ("bücher.example", "xn--bcher-kva.example", "bücher.example"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example", "bücher.example"),  # typed as punycode: the same name
    ("MÜNCHEN.de", "xn--mnchen-3ya.de", "münchen.de"),
    ("токо.рф", "xn--j1ahbn.xn--p1ai", "токо.рф"),
    ("a-b.c-d.example", "a-b.c-d.example", "a-b.c-d.example"),
    ("x" * 63 + ".com", "x" * 63 + ".com", "x" * 63 + ".com"),
    ("notlocaltest.me", "notlocaltest.me", "notlocaltest.me"),  # only under the provider's domain is refused
])
def test_accepted_names(typed, ascii_name, shown):
    name = domain_name_parse(typed, provider_suffixes=PROVIDER)
    assert (name.ascii, name.unicode) == (ascii_name, shown)


@pytest.mark.parametrize("typed, reason", [
    ("", "Enter a domain name"),
    ("*.example.com", "Wildcard domains"),
    ("blog.*.example.com", "Wildcard domains"),
    ("203.0.113.7", "An IP address cannot be used"),
    ("2001:db8::1", "An IP address cannot be used"),
    ("[2001:db8::1]", "An IP address cannot be used"),
    ("ana.localtest.me", "Addresses under localtest.me belong to us"),
    ("localtest.me", "Addresses under localtest.me belong to us"),
    ("shop.portal.example.id", "Addresses under portal.example.id belong to us"),
    ("https://example.com", "without http://, a path or a port"),
    ("example.com/blog", "without http://, a path or a port"),
    ("example.com:8080", "without http://, a path or a port"),
    ("example", "Enter a full domain name with its ending"),
    ("example.123", "The ending of a domain name cannot be a number"),
    ("a..example.com", "cannot have an empty part"),
    (".example.com", "cannot have an empty part"),
    ("-blog.example.com", "“-blog” is not a valid part"),
    ("blog-.example.com", "“blog-” is not a valid part"),
    ("my_blog.example.com", "“my_blog” is not a valid part"),
    ("my blog.example.com", "“my blog” is not a valid part"),
    ("x" * 64 + ".com", "at most 63 characters"),
    (".".join(["a" * 60] * 5) + ".com", "at most 253 characters"),
    ("ü" * 60 + ".example", "at most 63 characters"),  # short in Unicode, too long as punycode
])
def test_refused_names_say_why(typed, reason):
    with pytest.raises(DomainRefused, match=re.escape(reason)):
        domain_name_parse(typed, provider_suffixes=PROVIDER)


def test_a_name_of_253_ascii_characters_is_accepted_and_254_refused():
    name = ".".join(["a" * 61] * 4) + ".co"  # 4 * 62 + 2 = 250
    assert len(domain_name_parse(name + "m").ascii) == 251
    assert len(domain_name_parse(name + "mmm").ascii) == 253
    with pytest.raises(DomainRefused, match="at most 253"):
        domain_name_parse(name + "mmmm")


@given(st.text(max_size=80))
def test_any_text_is_accepted_as_a_valid_name_or_refused_with_a_reason(text):
    try:
        name = domain_name_parse(text, provider_suffixes=PROVIDER)
    except DomainRefused as refusal:
        assert str(refusal)
        return
    labels = name.ascii.split(".")
    assert len(name.ascii) <= 253 and len(labels) >= 2
    assert all(0 < len(label) <= 63 and label == label.lower() for label in labels)
    assert all(c.isascii() and (c.isalnum() or c == "-") for label in labels for c in label)
    assert domain_name_parse(name.ascii).ascii == name.ascii  # stored form parses to itself
    assert unicode_name(name.ascii) == name.unicode
