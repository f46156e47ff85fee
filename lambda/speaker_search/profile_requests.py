"""Voice profile requests (``ENABLE_ENROLLMENT=true``): one Enroll / Update / Delete Voice Profile.

Each request ends as exactly one of: an outcome event on the bus (``Voice Profile Enrolled``,
``Updated``, ``Deleted``, or ``Voice Profile Request Failed`` with a ``reason``), or a failure that
SQS redelivers (throttling, 5xx, a state table that cannot be reached). A malformed request
publishes ``Voice Profile Request Failed`` with the validation message as ``reason``. Enroll is in
``enrollment.py``; update and delete are idempotent and retried like any call.
"""

from __future__ import annotations

from typing import Any

import aws_calls
import clients
import consent
import enrollment
import metrics
import state
import voice_profiles
from notifications import MalformedError, loggable, optional_id
from outcomes import Outcome, logger
from results import publish
from settings import Settings

ENROLL = "Enroll Voice Profile"
UPDATE = "Update Voice Profile"
DELETE = "Delete Voice Profile"
ENROLLED = enrollment.ENROLLED
UPDATED = "Voice Profile Updated"
DELETED = "Voice Profile Deleted"
REQUEST_FAILED = "Voice Profile Request Failed"


class VoiceProfileRequest:
    """One Enroll / Update / Delete Voice Profile request."""

    def __init__(
        self,
        notification: dict[str, Any],
        detail: dict[str, Any],
        settings: Settings,
        deadline: aws_calls.Deadline,
        fields: dict[str, Any],
    ) -> None:
        self.kind: str = notification["detail-type"]
        self.detail = detail
        self.settings = settings
        self.table: str = settings.state_table_name or ""
        self.deadline = deadline
        self.request_id = consent.request_id(notification) or "unknown"
        self.ids: dict[str, str | None] = {
            "speakerSearchTaskId": None,
            "voiceProfileId": None,
            "consentReference": None,
            "externalId": None,
        }
        self.fields = fields

    def serve(self) -> Outcome:
        try:
            for name in self.ids:
                self.ids[name] = optional_id(self.detail, name)
        except MalformedError as exc:
            return self.fail(str(exc))
        # Only ID-shaped values reach the logs (a malformed request could carry a phone number);
        # externalId is the user's own key and is never logged.
        self.fields = {
            **self.fields,
            **{k: loggable(v) for k, v in self.ids.items() if k != "externalId"},
        }
        try:
            if self.kind == DELETE:
                return self.delete()
            missing = [name for name in self.required() if self.ids[name] is None]
            if missing:
                return self.fail(f"detail.{missing[0]} is required")
            return enrollment.enroll(self) if self.kind == ENROLL else self.update()
        except state.StateError as exc:
            logger.error("voice_profile_state_failed", extra={**self.fields, "errorCode": exc.code})
            return Outcome("failed", f"state table: {exc.code}")

    def required(self) -> tuple[str, ...]:
        if self.kind == ENROLL:
            return ("speakerSearchTaskId", "consentReference")
        return ("voiceProfileId", "speakerSearchTaskId", "consentReference")

    # Update and delete (both idempotent: retried like any call)

    def update(self) -> Outcome:
        profile_id, task_id = self.ids["voiceProfileId"] or "", self.ids["speakerSearchTaskId"] or ""
        try:
            response, _ = aws_calls.call(
                lambda: clients.chime().update_voice_profile(
                    VoiceProfileId=profile_id, SpeakerSearchTaskId=task_id
                ),
                deadline=self.deadline,
                policy=clients.retry_policy(),
                operation="UpdateVoiceProfile",
            )
        except aws_calls.AwsCallError as exc:
            return self.retry(exc) if voice_profiles.retryable(exc) else self.fail(exc.code)
        return self.succeed(
            UPDATED,
            voice_profiles.profile_fields(response.get("VoiceProfile", {})),
            count=metrics.VOICE_PROFILES_UPDATED,
        )

    def delete(self) -> Outcome:
        profile_id = self.ids["voiceProfileId"]
        if profile_id is None:
            return self.fail("detail.voiceProfileId is required")
        try:
            aws_calls.call(
                lambda: clients.chime().delete_voice_profile(VoiceProfileId=profile_id),
                deadline=self.deadline,
                policy=clients.retry_policy(),
                operation="DeleteVoiceProfile",
            )
        except aws_calls.AwsCallError as exc:
            if exc.kind is not aws_calls.ErrorKind.NOT_FOUND:  # already gone counts as deleted
                return self.retry(exc) if voice_profiles.retryable(exc) else self.fail(exc.code)
        detail = {
            "searchId": self.settings.search_id,
            "requestId": self.request_id,
            "voiceProfileId": profile_id,
            "consentReference": self.ids["consentReference"],
        }
        return self.publish(DELETED, detail, metrics.VOICE_PROFILES_DELETED)

    # Outcomes

    def succeed(self, detail_type: str, profile: dict[str, str | None], *, count: str | None) -> Outcome:
        detail = {
            "searchId": self.settings.search_id,
            "requestId": self.request_id,
            "voiceProfileId": profile.get("voiceProfileId") or self.ids["voiceProfileId"],
            "voiceProfileArn": profile.get("voiceProfileArn"),
            "expirationTimestamp": profile.get("expirationTimestamp"),
            "speakerSearchTaskId": self.ids["speakerSearchTaskId"],
            "consentReference": self.ids["consentReference"],
            "externalId": self.ids["externalId"],
        }
        return self.publish(detail_type, detail, count)

    def fail(self, reason: str) -> Outcome:
        detail = {
            "searchId": self.settings.search_id,
            "requestId": self.request_id,
            "request": self.kind,
            "reason": reason,
            **self.ids,
        }
        logger.warning("voice_profile_request_failed", extra={**self.fields, "reason": reason})
        return self.publish(REQUEST_FAILED, detail, metrics.VOICE_PROFILE_REQUESTS_FAILED)

    def retry(self, exc: aws_calls.AwsCallError) -> Outcome:
        logger.warning("voice_profile_request_retrying", extra={**self.fields, "errorCode": exc.code})
        return Outcome("failed", f"{exc.operation}: {exc.code}: {exc.reason}")

    def publish(self, detail_type: str, detail: dict[str, Any], count: str | None) -> Outcome:
        prefix = "voice_profile_" + detail_type.rsplit(" ", 1)[-1].lower()
        outcome = publish(detail_type, detail, self.settings, self.deadline, self.fields, log_prefix=prefix)
        if outcome.kind == "published" and count is not None:
            metrics.count(count)
        return outcome
