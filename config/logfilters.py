"""Log filters every handler applies.

An emailed review link carries its signed token in the path (/reviews/l/<token>/). Django logs
the path of every 4xx and 5xx answer ("Gone: /reviews/l/…"), and runserver logs every request:
the token would sit in the logs of whoever reads them. The filter rewrites the message before any
handler formats it.
"""

from __future__ import annotations

import logging
import re

_LINK_TOKEN = re.compile(r"(/l/)[^/\s?#\"']+")


def redact_link_tokens(text: str) -> str:
    return _LINK_TOKEN.sub(r"\1[token]", text)


class RedactLinkTokens(logging.Filter):
    """Replaces review-link tokens in a record's message with `[token]`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_link_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
