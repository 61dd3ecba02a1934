"""`when` and `when_exact`: dates as `<time>` elements, with or without a relative hint.

The markup is built by `identities.dates`, which the tables use too.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.safestring import SafeString

from identities.dates import time_html

register = template.Library()


@register.filter
def when(value: datetime | None, style: str = "datetime") -> SafeString | str:
    """`{{ cycle.ends_at|when }}`, `{{ credential.end|when:"date" }}`."""
    return time_html(value, style)


@register.filter
def when_exact(value: datetime | None, style: str = "datetime") -> SafeString | str:
    """The `<time>` alone, for dense tables where a hint would be noise."""
    return time_html(value, style, hint=False)
