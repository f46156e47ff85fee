"""Voice profiles as this construct reads them: the fields it publishes, and which AWS errors
a voice profile request retries."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aws_calls


def retryable(exc: aws_calls.AwsCallError) -> bool:
    return exc.kind in (aws_calls.ErrorKind.THROTTLED, aws_calls.ErrorKind.TRANSIENT)


def profile_fields(raw: Mapping[str, Any]) -> dict[str, str | None]:
    expiration = raw.get("ExpirationTimestamp")  # botocore parses the timestamp: a datetime or absent
    return {
        "voiceProfileId": raw.get("VoiceProfileId"),
        "voiceProfileArn": raw.get("VoiceProfileArn"),
        "expirationTimestamp": (
            expiration.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if isinstance(expiration, datetime)
            else None
        ),
    }


def epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float("-inf")
