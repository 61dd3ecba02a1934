"""Bidirectional isolation of names that come from Graph (or anyone else we do not control).

A display name is attacker-controlled: "\u202egnp.exe" carries a right-to-left override that,
left to itself, reverses the name and everything after it on the same line ("approve … for
exe.png" with the sentence's own words flipped). Isolating the name confines its direction
to itself: HTML wraps it in <bdi> (an isolate by definition, styled `unicode-bidi: isolate`),
plain text in FIRST STRONG ISOLATE … POP DIRECTIONAL ISOLATE (U+2068 … U+2069).

Only a name that can move the text around it is wrapped: one with right-to-left letters or
Arabic digits (which pull neighbouring numbers and punctuation into their run) or explicit
direction controls. A purely left-to-right name on our left-to-right pages and emails cannot,
so it is shown exactly as before.

An isolate ends at the first PDI that matches its initiator, so a name carrying its own stray
PDI could close ours early and let its override escape: stray PDIs are dropped first. A PDF
(U+202C) can never pop past an isolate, so it needs no care.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString

FSI = "\u2068"
PDI = "\u2069"
ISOLATE_INITIATORS = frozenset("\u2066\u2067\u2068")  # LRI, RLI, FSI
# Bidi classes that can change how the text around a name is ordered.
MOVING_CLASSES = frozenset(
    ("R", "AL", "AN", "LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI")
)


def needs_isolation(text: str) -> bool:
    """Whether `text` has anything that can reorder the text next to it."""
    return any(unicodedata.bidirectional(char) in MOVING_CLASSES for char in text)


def balanced(text: str) -> str:
    """`text` without PDIs that close no isolate opened inside it."""
    if PDI not in text:
        return text
    depth = 0
    kept = []
    for char in text:
        if char in ISOLATE_INITIATORS:
            depth += 1
        elif char == PDI:
            if depth == 0:
                continue
            depth -= 1
        kept.append(char)
    return "".join(kept)


def isolate_text(value: Any) -> str:
    """A name for plain text (email text parts, page titles, attributes, messages)."""
    if value is None or value == "":
        return ""
    text = str(value)
    if not needs_isolation(text):
        return text
    return f"{FSI}{balanced(text)}{PDI}"


def isolate(value: Any) -> SafeString | str:
    """A name for HTML: escaped, inside <bdi>."""
    if value is None or value == "":
        return ""
    text = str(value)
    if not needs_isolation(text):
        return conditional_escape(text)
    return format_html("<bdi>{}</bdi>", balanced(text))
