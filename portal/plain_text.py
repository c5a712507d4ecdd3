"""Free text a person types (names, staff reasons): the characters it may not hold."""
import unicodedata

# Zero-width (non-)joiners are part of spelling in Persian, Hindi and other scripts and in emoji: kept.
_JOINERS = {"\u200c", "\u200d"}
# Unicode's line and paragraph separators (U+2028, U+2029) break lines as CR/LF do.
_LINE_BREAKING = {"Zl", "Zp"}


def has_control_characters(text: str) -> bool:
    """True when the text holds a line break, tab or any other Unicode "other" (C*) character: control,
    format (bidi overrides), surrogate, private-use or unassigned. Such text would reach email headers,
    subject lines and logs, where a CR/LF starts a new header and an override hides what a name says."""
    for char in text:
        category = unicodedata.category(char)
        if (category.startswith("C") and char not in _JOINERS) or category in _LINE_BREAKING:
            return True
    return False
