"""Phone numbers out of free text before it is logged (a pipeline failure's ``failureReason``).

AWS writes ``failureReason`` in its own words and may quote a call's numbers. Masked, as ``<digits>``,
is every spelling of a phone number: E.164 (``+12065550100``), international with separators
(``+44 20 7946 0958``, ``+1-206-555-0100``, ``00 44 20 7946 0958``), national with parentheses
(``(206) 555-0100``, ``+49 (0)30 123456``), separated by spaces, dots, hyphens or slashes, local
7-digit forms (``555-0123``, ``5550123``, ``555 0123``, ``555.0123``), inside SIP and tel URIs
(``sip:+12065550100@...``, ``tel:+1-206-555-0100``), and with an extension (``x45``, ``ext. 45``,
``extension 45``, ``#45``, ``;ext=45``), the extension masked with the number. The rule: a run of at
least ``MIN_DIGITS`` digits, each next digit at most ``MAX_SEPARATORS`` separator characters from
the last, that is not part of a longer word or ID.

Kept as they are, because an operator needs them: HTTP status codes and other numbers of fewer than
7 digits (``403``, ``HTTP 503``), IDs whose digits are part of a word (``vc-5550123``,
``87654321-33ca-4dc6``, ``abcdef1ghij2klmno3pqr4``), and ISO 8601 dates with a real month and day,
and their times (``2029-11-25T10:01:00Z``, ``2029-11-25 10:01:00``; ``2065-55-0100`` is masked). An
AWS account ID in an ARN (12 digits) is masked, which costs the operator nothing: it is their own;
so is an IPv4 address of 7 digits or more (``10.24.34.0``, ``192.168.100.200``): it may be a
caller's SIP endpoint.
"""

from __future__ import annotations

import re

MASK = "<digits>"
MIN_DIGITS = 7
MAX_SEPARATORS = 3
#: Masking looks at this much of a text at most (the logged reason is shorter still).
MAX_INPUT = 4096

_SEPARATORS = r"[\s().\-/]"
_EXTENSION = r"(?:\s*[,;]?\s*(?:ext\.?|extension|x|#)\s*[=:]?\s*\d{1,6})"
_PATTERN = re.compile(
    # kept: an ISO 8601 date (a real month and day), with its time if it has one
    r"(?P<keep>(?<![\d\w])\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?!\d)"
    r"(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?)"
    # masked: a phone number, not inside a word or an ID
    r"|(?P<phone>(?<![A-Za-z0-9_])(?<![A-Za-z0-9_]-)(?:\+|00)?\(?\d"
    rf"(?:{_SEPARATORS}{{0,{MAX_SEPARATORS}}}\d){{{MIN_DIGITS - 1},}}"
    rf"{_EXTENSION}?)(?![A-Za-z0-9_]|-[A-Za-z0-9])",
    re.IGNORECASE,
)


def mask_phone_numbers(text: str) -> str:
    """``text`` (its first ``MAX_INPUT`` characters) with every phone number replaced by ``MASK``."""
    return _PATTERN.sub(lambda m: m.group("keep") or MASK, text[:MAX_INPUT])
