"""Voice profiles as this construct reads them: the fields it publishes, which AWS errors a voice
profile request retries, and the domain check that keeps profile operations inside this construct.

IAM cannot narrow ``voice-profile/*`` to one domain, so every operation on an existing profile
(update and delete here; the speaker registry's opt-out and erase) first reads it with
``GetVoiceProfile`` (:func:`owned_profile`) and acts only when its ``VoiceProfileDomainId`` is this
construct's (``VOICE_PROFILE_DOMAIN_ID``). Another domain's profile is never touched: the request
fails with reason ``VoiceProfileInAnotherDomain``. A profile whose answer names no domain is treated
as another domain's (fail closed).

AWS allows one concurrent API call per voice profile (and per domain, and per task), so
``ConflictException`` on these calls is contention: it is retried with backoff like throttling.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aws_calls
import clients

#: Why a request names a profile it may not act on.
IN_ANOTHER_DOMAIN = "VoiceProfileInAnotherDomain"
#: What a voice profile call retries in-process: throttling, 5xx and timeouts, and 409 (contention).
RETRY_ON = frozenset(
    {aws_calls.ErrorKind.THROTTLED, aws_calls.ErrorKind.TRANSIENT, aws_calls.ErrorKind.CONFLICT}
)


class ForeignProfileError(Exception):
    """The profile exists in another voice profile domain; its domain is never logged."""


def retryable(exc: aws_calls.AwsCallError) -> bool:
    """An error a redelivery may not meet again (throttling, 5xx, timeouts, contention)."""
    return exc.kind in RETRY_ON


def owned_profile(profile_id: str, *, domain_id: str, deadline: aws_calls.Deadline) -> dict[str, Any] | None:
    """``GetVoiceProfile``: the profile when it is in ``domain_id``; None when it does not exist.

    Raises :class:`ForeignProfileError` for another domain's profile, and
    :class:`aws_calls.AwsCallError` when the answer could not be had.
    """
    try:
        response, _ = aws_calls.call(
            lambda: clients.chime().get_voice_profile(VoiceProfileId=profile_id),
            deadline=deadline,
            policy=clients.retry_policy(retry_on=RETRY_ON),
            operation="GetVoiceProfile",
        )
    except aws_calls.AwsCallError as exc:
        if exc.kind is aws_calls.ErrorKind.NOT_FOUND:
            return None
        raise
    profile = dict(response.get("VoiceProfile") or {})
    if profile.get("VoiceProfileDomainId") != domain_id:
        raise ForeignProfileError(profile_id)
    return profile


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
