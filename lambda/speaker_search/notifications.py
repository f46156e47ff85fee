"""Pure parsing of what arrives: unwrapping, ID validation and the IDs that may be logged."""

from __future__ import annotations

import json
import re
from typing import Any

MAX_ID_LENGTH = 1024
MAX_UNWRAP_STEPS = 8  # JSON decodes plus wrapper removals; enough for SNS + double encoding
# What a value must look like to be logged (IDs, statuses, detail-types); see loggable_ids.
LOGGABLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}")


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


def unwrap(value: Any) -> dict[str, Any]:
    """Return the notification inside JSON strings, SNS envelopes and one-entry Records wrappers."""
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
            return value
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
