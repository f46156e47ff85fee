"""Voice profile requests (``ENABLE_ENROLLMENT=true``): one Enroll / Update / Delete Voice Profile.

Each request ends as exactly one of: an outcome event on the bus (``Voice Profile Enrolled``,
``Updated``, ``Deleted``, or ``Voice Profile Request Failed`` with a ``reason``), or a failure that
SQS redelivers (throttling, 5xx, a state table that cannot be reached, a voiceprint not ready yet).
A malformed request publishes ``Voice Profile Request Failed`` with the validation message as
``reason``; so does an enroll or update without ``consentReference``, before any call.

Profiles stay inside this construct: enroll and update use only this construct's tasks, of calls
granted under ``REQUIRE_CONSENT``, once their voiceprint is ready (``task_scope.py``); update and
delete act only on profiles in this construct's domain (``voice_profiles.owned_profile``). A task
whose profile was deleted is never enrolled again, nor used for an update (``VoiceProfileDeleted``).
Enroll is in ``enrollment.py``; update and delete are idempotent and retried like any call.
"""

from __future__ import annotations

from typing import Any

import aws_calls
import clients
import consent
import enrollment
import enrollment_state
import metrics
import state
import task_index
import task_scope
import voice_profiles
from notifications import Instant, MalformedError, loggable, optional_id
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
        *,
        ingested_at: Instant,
    ) -> None:
        self.kind: str = notification["detail-type"]
        #: EventBridge's ingestion time of the request (its envelope's): bounds the voiceprint wait.
        self.ingested_at = ingested_at
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

    # Scope (task_scope.py, voice_profiles.py)

    def task_for_update(self, task_id: str) -> task_index.TaskEntry | Outcome:
        """``admissible``, and the task's own profile was not deleted (its voiceprint may not be
        stored again in another profile either). Raises :class:`state.StateError`."""
        prior = enrollment_state.get_enroll(self.table, task_id, self.request_id, self.deadline)
        if prior is not None and prior.status == state.DELETED:
            return self.fail(task_scope.VOICE_PROFILE_DELETED)
        return self.admissible(task_id)

    def admissible(self, task_id: str) -> task_index.TaskEntry | Outcome:
        """The task's index entry if this request may make or change a profile from it (this
        construct's task, of a call granted under the consent gate), else the request's failure.
        Raises :class:`state.StateError`."""
        scope = task_scope.admissible_task(
            task_id, table=self.table, require_consent=self.settings.require_consent, deadline=self.deadline
        )
        return self.fail(scope.reason) if isinstance(scope, task_scope.Refused) else scope

    def voiceprint_ready(self, task_id: str, entry: task_index.TaskEntry) -> Outcome | None:
        """None when the task's voiceprint is ready; else the request's outcome for now."""
        try:
            readiness = task_scope.readiness(
                task_id, entry, ingested_at=self.ingested_at, deadline=self.deadline
            )
        except aws_calls.AwsCallError as exc:
            return self.retry(exc) if voice_profiles.retryable(exc) else self.fail(exc.code)
        if isinstance(readiness, task_scope.Refused):
            return self.fail(readiness.reason)
        if isinstance(readiness, task_scope.Wait):
            return self.wait(readiness.delay_s)
        return None

    def profile_in_domain(self, profile_id: str) -> dict[str, Any] | Outcome | None:
        """The profile when it is in this construct's domain, None when it does not exist, else the
        request's outcome (another domain's profile is never touched)."""
        try:
            return voice_profiles.owned_profile(
                profile_id, domain_id=self.settings.voice_profile_domain_id or "", deadline=self.deadline
            )
        except voice_profiles.ForeignProfileError:
            return self.fail(voice_profiles.IN_ANOTHER_DOMAIN)
        except aws_calls.AwsCallError as exc:
            return self.retry(exc) if voice_profiles.retryable(exc) else self.fail(exc.code)

    # Update and delete (both idempotent: retried like any call, 409 included)

    def update(self) -> Outcome:
        profile_id, task_id = self.ids["voiceProfileId"] or "", self.ids["speakerSearchTaskId"] or ""
        found = self.profile_in_domain(profile_id)
        if isinstance(found, Outcome):
            return found
        if found is None:
            return self.fail("NotFoundException")
        entry = self.task_for_update(task_id)
        if isinstance(entry, Outcome):
            return entry
        waiting = self.voiceprint_ready(task_id, entry)
        if waiting is not None:
            return waiting
        try:
            response, _ = aws_calls.call(
                lambda: clients.chime().update_voice_profile(
                    VoiceProfileId=profile_id, SpeakerSearchTaskId=task_id
                ),
                deadline=self.deadline,
                policy=clients.retry_policy(retry_on=voice_profiles.RETRY_ON),
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
        found = self.profile_in_domain(profile_id)
        if isinstance(found, Outcome):
            return found
        if found is not None:  # absent: already gone, which counts as deleted
            try:
                aws_calls.call(
                    lambda: clients.chime().delete_voice_profile(VoiceProfileId=profile_id),
                    deadline=self.deadline,
                    policy=clients.retry_policy(retry_on=voice_profiles.RETRY_ON),
                    operation="DeleteVoiceProfile",
                )
            except aws_calls.AwsCallError as exc:
                if exc.kind is not aws_calls.ErrorKind.NOT_FOUND:  # gone meanwhile counts as deleted
                    return self.retry(exc) if voice_profiles.retryable(exc) else self.fail(exc.code)
        # Also when it was already gone: a redelivery after a lost answer must still close the task.
        enrollment_state.mark_deleted(self.table, profile_id, self.deadline)
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

    def wait(self, delay_s: float) -> Outcome:
        """Not ready yet: no outcome event; the record comes back in about ``delay_s``."""
        logger.info("voice_profile_waiting_for_voiceprint", extra={**self.fields, "retryAfter": delay_s})
        return Outcome("failed", "voiceprint not ready yet; retried later", retry_after_s=delay_s)

    def retry(self, exc: aws_calls.AwsCallError) -> Outcome:
        logger.warning("voice_profile_request_retrying", extra={**self.fields, "errorCode": exc.code})
        return Outcome("failed", f"{exc.operation}: {exc.code}: {exc.reason}")

    def publish(self, detail_type: str, detail: dict[str, Any], count: str | None) -> Outcome:
        prefix = "voice_profile_" + detail_type.rsplit(" ", 1)[-1].lower()
        outcome = publish(detail_type, detail, self.settings, self.deadline, self.fields, log_prefix=prefix)
        if outcome.kind == "published" and count is not None:
            metrics.count(count)
        return outcome
