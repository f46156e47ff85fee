"""Pure parsing of what arrives: unwrapping, ID validation and the IDs that may be logged.

Requests reach the queue only through the construct's rules, whose input transformer wraps each
event in the request envelope (``REQUEST_ENVELOPE``)::

    {"envelope": "chime-speaker-search/request", "ingestionTime": "<ISO 8601>", "event": {...}}

``ingestionTime`` is EventBridge's ``aws.events.event.ingestion-time``: set by EventBridge, so a
producer cannot choose it, unlike the event's ``time``. Its precision is not documented, so any
number of fractional digits and a ``Z`` or numeric offset are accepted (:func:`parse_instant`).
"""

from __future__ import annotations

import calendar
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, NamedTuple

MAX_ID_LENGTH = 1024
MAX_UNWRAP_STEPS = 8  # JSON decodes plus wrapper removals; enough for SNS + double encoding
# What a value must look like to be logged (IDs, statuses, detail-types); see loggable_ids.
LOGGABLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}")
#: ``envelope`` of a request wrapped by the construct's rules (their input transformer).
REQUEST_ENVELOPE = "chime-speaker-search/request"
#: Fractional-second digits kept of an instant (DynamoDB numbers hold 38 significant digits: 13 for
#: the milliseconds since 1970, 22 after the point); later digits are dropped, which can only make
#: two instants equal, never reorder them.
MAX_FRACTION_DIGITS = 25
_INSTANT = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):?(\d\d))"
)


class MalformedError(Exception):
    """A notification that can never succeed; the message is the reason (no payload values)."""


def is_sqs_batch(event: Any) -> bool:
    """True for an SQS event: a top-level ``Records`` list whose entries all have a string ``messageId``."""
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and "detail-type" not in event
        and all(isinstance(r, dict) and isinstance(r.get("messageId"), str) for r in records)
    )


class Instant(NamedTuple):
    """A point in time, exactly: milliseconds since 1970 (fraction kept) and ISO 8601 UTC text."""

    epoch_ms: Decimal
    #: ``YYYY-MM-DDThh:mm:ss[.fraction]Z`` in UTC, with the fractional digits as given.
    text: str


def parse_instant(value: Any) -> Instant | None:
    """An ISO 8601 date-time with a ``Z`` or numeric offset, as an :class:`Instant`; None if it is not one.

    ``...:00.5Z`` is later than ``...:00Z``, and ``10:00:00+01:00`` is ``09:00:00Z``: instants are
    compared as numbers, never as text.
    """
    match = _INSTANT.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = (match.group(7) or "")[:MAX_FRACTION_DIGITS]
    offset = timedelta(0)
    if match.group(9):
        sign = 1 if match.group(9) == "+" else -1
        offset = sign * timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
    try:
        if offset >= timedelta(days=1) or -offset >= timedelta(days=1):
            raise ValueError("offset out of range")
        local = datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset))
    except ValueError:
        return None
    utc = local.astimezone(UTC)
    # Built from digits, not arithmetic: a Decimal made from a string is exact (no context rounding).
    milliseconds = calendar.timegm(utc.timetuple()) * 1000 + int(fraction[:3].ljust(3, "0"))
    below = fraction[3:].rstrip("0")
    epoch_ms = Decimal(f"{milliseconds}.{below}" if below else str(milliseconds))
    text = utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"
    return Instant(epoch_ms, text)


class Received(NamedTuple):
    """What one SQS body (or raw event) held: the notification, and the request envelope's time."""

    notification: dict[str, Any]
    #: ``ingestionTime`` of the request envelope around it; None when it came without one.
    ingested_at: Instant | None


def unwrap(value: Any) -> dict[str, Any]:
    """Return the notification inside JSON strings, SNS envelopes and one-entry Records wrappers."""
    return receive(value).notification


def receive(value: Any) -> Received:
    """Unwrap like :func:`unwrap`, also removing (at most one) request envelope and keeping its time."""
    ingested_at: Instant | None = None
    # One pass more than steps: the last pass only looks at what the last allowed step produced.
    for _ in range(MAX_UNWRAP_STEPS + 1):
        if isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except ValueError:
                raise MalformedError("body is not valid JSON") from None
        elif not isinstance(value, dict):
            raise MalformedError(f"JSON {json_type(value)} is not a notification object")
        elif "detail-type" in value:
            return Received(value, ingested_at)
        elif "envelope" in value:
            if value["envelope"] != REQUEST_ENVELOPE or ingested_at is not None:
                raise MalformedError("unknown or repeated envelope")
            ingested_at = parse_instant(value.get("ingestionTime"))
            if ingested_at is None:
                raise MalformedError("envelope.ingestionTime is not an ISO 8601 date-time with an offset")
            value = value.get("event")
        elif value.get("Type") == "Notification" and "Message" in value:
            value = value["Message"]
        elif isinstance(value.get("Records"), list):
            if len(value["Records"]) != 1:
                raise MalformedError(
                    f"Records wrapper holds {len(value['Records'])} entries; exactly 1 is supported"
                )
            value = value["Records"][0]
        else:
            raise MalformedError("object has no detail-type and is not a known wrapper")
    raise MalformedError(f"still wrapped after {MAX_UNWRAP_STEPS} unwrapping steps")


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def valid_id(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= MAX_ID_LENGTH


def require_id(detail: dict[str, Any], key: str) -> str:
    value = detail.get(key)
    if value is None:
        raise MalformedError(f"detail.{key} is missing")
    if not isinstance(value, str):
        raise MalformedError(f"detail.{key} must be a string, got {json_type(value)}")
    if not value.strip():
        raise MalformedError(f"detail.{key} is empty")
    if len(value) > MAX_ID_LENGTH:
        raise MalformedError(f"detail.{key} is longer than {MAX_ID_LENGTH} characters ({len(value)})")
    return value


def optional_id(detail: dict[str, Any], key: str) -> str | None:
    return None if detail.get(key) is None else require_id(detail, key)


def loggable_ids(notification: dict[str, Any], detail: Any) -> dict[str, Any]:
    """The IDs worth logging (never callId or other PII).

    A value is logged only if it looks like an ID: a malformed notification could carry a phone
    number or SIP URI ('+', '@', '<') in an ID field, and that must not reach the logs.
    """
    candidates = {"notificationId": notification.get("id"), "detailType": notification.get("detail-type")}
    if isinstance(detail, dict):
        for key in ("detailStatus", "voiceConnectorId", "transactionId", "taskId"):
            candidates[key] = detail.get(key)
    return {k: v for k, v in candidates.items() if isinstance(v, str) and LOGGABLE_ID.fullmatch(v)}


def loggable(value: str | None) -> str | None:
    """``value`` if it looks like an ID (so it may be logged), else None."""
    return value if value is not None and LOGGABLE_ID.fullmatch(value) else None
