"""The service templates' display texts: the fields a customer reads, their Babel extractor, their translation."""
from collections.abc import Iterator

import yaml
from flask_babel import gettext, lazy_gettext

# The fields of a template file that a customer or staff member reads (machine values such as slugs, images,
# parameter names and choices are not): top-level fields, then per-item fields of the lists.
TOP_LEVEL_TEXTS = ("name", "description", "category")
LIST_TEXTS = {"plans": ("name",), "parameters": ("label", "help", "pattern_message"), "secrets": ("label",)}


def display_texts(document) -> Iterator[tuple[int, str]]:
    """(line, text) of each display text in a template's YAML (a string or a stream), in the file's order."""
    root = yaml.compose(document, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return
    found = []
    for key, value in root.value:
        if key.value in TOP_LEVEL_TEXTS:
            found.extend(_scalar_text(value))
        elif key.value in LIST_TEXTS and isinstance(value, yaml.SequenceNode):
            for item in value.value:
                if not isinstance(item, yaml.MappingNode):
                    continue
                for item_key, item_value in item.value:
                    if item_key.value in LIST_TEXTS[key.value]:
                        found.extend(_scalar_text(item_value))
    yield from sorted(found, key=lambda pair: pair[0])


def _scalar_text(node) -> list[tuple[int, str]]:
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str" and node.value.strip():
        # The scalar's value as the loader reads it (a folded >- block joined into one line): the msgid is the
        # text the loaded template holds.
        return [(node.start_mark.line + 1, node.value)]
    return []


def extract_service_templates(fileobj, keywords, comment_tags, options):
    """Babel extraction method for service-templates/*.yaml: yields (lineno, funcname, message, comments)."""
    encoding = options.get("encoding", "utf-8")
    text = fileobj.read().decode(encoding)
    for lineno, message in display_texts(text):
        yield lineno, None, message, []


def N_(text: str) -> str:
    """Marks a text for extraction (Babel's default keyword) without translating it here."""
    return text


def translated(text: str) -> str:
    """A template's display text in the reader's language (unchanged when the catalog has no translation)."""
    return gettext(text) if text else text


def lazily_translated(text: str):
    """A template's display text, translated when it is rendered (so a cached template reads in each reader's
    language)."""
    return lazy_gettext(text) if text else text
