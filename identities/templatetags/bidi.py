"""`{{ name|isolate }}` on pages and HTML emails, `{{ name|isolate_text }}` in plain text, page
titles and attributes: a name from Graph never turns the text around it (see identities.bidi)."""

from __future__ import annotations

from django import template

from identities import bidi

register = template.Library()

register.filter("isolate", bidi.isolate, is_safe=True)
register.filter("isolate_text", bidi.isolate_text)
