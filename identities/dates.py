"""Dates as people read them: `<time>` with the exact instant, and a relative hint.

The server writes the time in the site's zone (UTC by default) so that the page is right
without JavaScript; static/js/local-time.js then rewrites the text into the browser's own zone.
The hint ("in 3 days", "2 hours ago") is the same in every zone, so it is computed here.
"""

from __future__ import annotations

from datetime import date, datetime

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil

FORMATS = {"datetime": "%Y-%m-%d %H:%M", "date": "%Y-%m-%d", "seconds": "%Y-%m-%d %H:%M:%S"}


def relative_hint(value: datetime, now: datetime | None = None) -> str:
    """ "in 3 days", "2 hours ago", "just now": the largest unit only."""
    now = now or timezone.now()
    if abs((value - now).total_seconds()) < 60:
        return "just now"
    # Django joins number and unit with a no-break space; the hint's CSS keeps it on one line.
    if value > now:
        return "in " + timeuntil(value, now, depth=1).replace("\xa0", " ")
    return timesince(value, now, depth=1).replace("\xa0", " ") + " ago"


def time_html(
    value: datetime | None, style: str = "datetime", *, hint: bool = True, now=None
) -> SafeString | str:
    """`<time datetime="ISO">2026-03-02 09:00 UTC</time> <span>(in 3 days)</span>`; "" for None.

    `style` is "datetime", "date" or "seconds"; the script keeps the same precision.
    """
    if value is None or not isinstance(value, (datetime, date)):
        return ""
    if not isinstance(value, datetime):  # a plain date has no zone and no hour to convert
        return format_html('<time datetime="{}">{}</time>', value.isoformat(), value.isoformat())
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    local = timezone.localtime(value)
    pattern = FORMATS.get(style, FORMATS["datetime"])
    text = local.strftime(pattern) if style == "date" else f"{local.strftime(pattern)} {local:%Z}"
    tag = format_html(
        '<time datetime="{}" data-local="{}" title="{}">{}</time>',
        value.isoformat(),
        style if style in FORMATS else "datetime",
        local.strftime("%Y-%m-%d %H:%M:%S %Z"),
        text,
    )
    if not hint:
        return tag
    return format_html('{} <span class="relative">({})</span>', tag, relative_hint(value, now))
