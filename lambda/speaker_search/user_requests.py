"""Consent and enrollment requests (issue 10), delivered by the construct's rules into its queue.

(Not called ``requests.py``: this folder is first on ``sys.path``, and that name would shadow the
well-known HTTP library for everything imported beside the handler.)

Requests are EventBridge events with ``source`` = ``REQUEST_SOURCE``; their ``detail`` names only
opaque IDs. Each request ends as exactly one of: an outcome event on the bus (and its log line),
a documented skip with a logged reason, or a failure that SQS redelivers (throttling, 5xx, a
state table that cannot be reached). Malformed requests never crash the batch: a malformed
consent is skipped with its reason; a malformed voice profile request publishes
``Voice Profile Request Failed`` with the validation message as ``reason``.

Consent (``REQUIRE_CONSENT=true``): the latest decision per connector and transaction is stored
(``state.record_consent``). ``granted`` for a call whose AnalyticsReady has arrived starts it now;
``granted`` before AnalyticsReady is remembered and the notification starts the call; ``declined``
stops tasks already running. Published as ``Speaker Search Consent Recorded``.

Enrollment (``ENABLE_ENROLLMENT=true``, ``detail.searchId`` = this construct's): CreateVoiceProfile
takes no idempotency token, so one task gives at most one profile through the state table:

* the first request claims ``enroll#<taskId>`` (``creating``) before calling; a second request, or
  a redelivery, finds ``enrolled`` and publishes the existing profile;
* CreateVoiceProfile is retried only on throttling (the service did nothing), and only within
  ``CREATE_BUDGET_S`` of the claim; the claim records when that budget ends (``endsBy``). A 5xx,
  timeout, dropped connection or an answer without a profile leaves the claim ``creating``: the
  record is redelivered, and once the claim's window (its start to ``endsBy``, widened by
  ``CLOCK_SKEW_S`` both ways) has passed, the profile is looked for: ListVoiceProfiles, profiles
  created in that window that no other task has claimed. One -> adopted (``Enrolled``); none ->
  the create never happened and is tried again; several -> ``Voice Profile Request Failed`` with reason
  ``AmbiguousLostResponse`` (their IDs are logged for an operator; nothing is deleted blindly).
  That verdict is stored (``ambiguous``), so every later delivery or request for the task gets
  the same answer rather than a different one once the other create has settled.
  A profile's summary does not name its task, so one candidate is adopted only when no other
  task's create was unsettled in that window (``state.note_create_attempt``, recorded before
  every create and cleared once its outcome is known); otherwise it could be another person's
  voiceprint, and the request fails with ``AmbiguousLostResponse`` too (found by bench/soak.py).
* any other error answer (an expired task's ``GoneException``, ``NotFoundException``, ...) means
  no profile was made: the claim is released for later requests, and the request's reason is
  kept (``failed:<requestId>`` on the claim's item), so a redelivery of the same request repeats
  its failure instead of creating again (a second outcome; found by bench/soak.py at 10,000).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aws_calls
import clients
import metrics
import state
import tasks
from notifications import LOGGABLE_ID, MalformedError, json_type, optional_id, require_id
from outcomes import Outcome, logger, skip
from results import publish
from settings import Settings

CONSENT = "Speaker Search Consent"
ENROLL = "Enroll Voice Profile"
UPDATE = "Update Voice Profile"
DELETE = "Delete Voice Profile"
REQUEST_DETAIL_TYPES = frozenset({CONSENT, ENROLL, UPDATE, DELETE})
CONSENT_RECORDED = "Speaker Search Consent Recorded"
ENROLLED = "Voice Profile Enrolled"
UPDATED = "Voice Profile Updated"
DELETED = "Voice Profile Deleted"
REQUEST_FAILED = "Voice Profile Request Failed"
CONSENT_VALUES = (state.GRANTED, state.DECLINED)
EVENT_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
#: Seconds around a lost CreateVoiceProfile's window in which a profile is taken as its result.
CLOCK_SKEW_S = 60.0
#: Longest time after its claim in which one request's CreateVoiceProfile attempts (throttling
#: retries included) may be sent. A lost create's window ends there, so a redelivery waits at most
#: this plus ``CLOCK_SKEW_S`` before it looks for the profile.
CREATE_BUDGET_S = 20.0
AMBIGUOUS_LOST_RESPONSE = "AmbiguousLostResponse"


def on_request(
    notification: dict[str, Any],
    detail: dict[str, Any],
    settings: Settings,
    deadline: aws_calls.Deadline,
    fields: dict[str, Any],
) -> Outcome:
    if notification.get("source") != settings.request_source:
        return skip(fields, "request from an unexpected source", logging.WARNING)
    detail_type = notification["detail-type"]
    if detail_type == CONSENT:
        if not settings.require_consent:
            return skip(fields, "consent gate is off (REQUIRE_CONSENT is not true)", logging.WARNING)
        return _on_consent(notification, detail, settings, deadline, fields)
    if not settings.enable_enrollment:
        return skip(fields, "enrollment is off (ENABLE_ENROLLMENT is not true)", logging.WARNING)
    if detail.get("searchId") != settings.search_id:
        return skip(fields, "request for another SpeakerSearch (searchId)", logging.WARNING)
    if settings.state_table_name is None or settings.voice_profile_domain_id is None:
        return tasks.configuration_failure(
            fields, "enrollment needs STATE_TABLE_NAME and VOICE_PROFILE_DOMAIN_ID"
        )
    return _VoiceProfileRequest(notification, detail, settings, deadline, fields).serve()


# -- consent -----------------------------------------------------------------------------------


def _on_consent(
    notification: dict[str, Any],
    detail: dict[str, Any],
    settings: Settings,
    deadline: aws_calls.Deadline,
    fields: dict[str, Any],
) -> Outcome:
    try:
        voice_connector_id = require_id(detail, "voiceConnectorId")
        transaction_id = require_id(detail, "transactionId")
        consent = detail.get("consent")
        if consent not in CONSENT_VALUES:
            shown = repr(consent)[:40] if isinstance(consent, str) else json_type(consent)
            raise MalformedError(f"detail.consent must be 'granted' or 'declined', got {shown}")
        reference = optional_id(detail, "consentReference")
    except MalformedError as exc:
        return skip(fields, f"malformed consent: {exc}", logging.WARNING)
    if not settings.serves(voice_connector_id):
        return skip(fields, tasks.NOT_SERVED, logging.INFO)
    if settings.state_table_name is None:
        return tasks.configuration_failure(fields, "REQUIRE_CONSENT needs STATE_TABLE_NAME")
    decided_at = _event_time(notification)
    fields = {**fields, "consent": consent, "consentReference": _loggable(reference)}
    try:
        call, applied = state.record_consent(
            settings.state_table_name,
            voice_connector_id,
            transaction_id,
            consent=consent,
            consent_reference=reference,
            decided_at=decided_at,
            deadline=deadline,
        )
    except state.StateError as exc:
        logger.error("consent_state_failed", extra={**fields, "errorCode": exc.code})
        return Outcome("failed", f"state table: {exc.code}")
    if not applied:
        return skip(fields, "a later consent decision is already recorded", logging.INFO)
    logger.info("consent_recorded", extra={**fields, "decidedAt": decided_at, "callReady": call.ready})
    metrics.count(metrics.CONSENT_GRANTED if consent == state.GRANTED else metrics.CONSENT_DECLINED)
    audit = {
        "searchId": settings.search_id,
        "requestId": _request_id(notification),
        "voiceConnectorId": voice_connector_id,
        "transactionId": transaction_id,
        "consent": consent,
        "consentReference": reference,
        "decidedAt": decided_at,
    }
    published = publish(CONSENT_RECORDED, audit, settings, deadline, fields, log_prefix="consent_recorded")
    if published.failed:
        return published  # redelivered: recording the same decision again is a no-op
    if not call.ready:
        return Outcome("skipped", "consent recorded; the call starts when AnalyticsReady arrives")
    if consent == state.GRANTED:
        return tasks.start_call(
            voice_connector_id,
            transaction_id,
            notification_time=None,
            settings=settings,
            deadline=deadline,
            fields=fields,
            after_consent=True,
        )
    metrics.count(metrics.CALLS_NOT_SEARCHED, status="declined")
    return tasks.stop_call(
        voice_connector_id, transaction_id, settings=settings, deadline=deadline, fields=fields
    )


def _event_time(notification: dict[str, Any]) -> str:
    """The request event's ``time`` (set by EventBridge), or now when it is missing or odd."""
    value = notification.get("time")
    if isinstance(value, str) and EVENT_TIME.fullmatch(value):
        return value
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _request_id(notification: dict[str, Any]) -> str | None:
    value = notification.get("id")
    return value if isinstance(value, str) else None


# -- enrollment --------------------------------------------------------------------------------


class _VoiceProfileRequest:
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
        self.request_id = _request_id(notification) or "unknown"
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
            **{k: _loggable(v) for k, v in self.ids.items() if k != "externalId"},
        }
        try:
            if self.kind == DELETE:
                return self.delete()
            missing = [name for name in self.required() if self.ids[name] is None]
            if missing:
                return self.fail(f"detail.{missing[0]} is required")
            return self.enroll() if self.kind == ENROLL else self.update()
        except state.StateError as exc:
            logger.error("voice_profile_state_failed", extra={**self.fields, "errorCode": exc.code})
            return Outcome("failed", f"state table: {exc.code}")

    def required(self) -> tuple[str, ...]:
        if self.kind == ENROLL:
            return ("speakerSearchTaskId", "consentReference")
        return ("voiceProfileId", "speakerSearchTaskId", "consentReference")

    # Enroll

    def enroll(self) -> Outcome:
        task_id = self.ids["speakerSearchTaskId"] or ""
        # Every create of a claim is sent before ``creating`` runs out; the claim records that
        # moment, which is where a lost create's window ends for a redelivery.
        creating = self.deadline.sooner(CREATE_BUDGET_S)
        prior, claimed = state.begin_enroll(
            self.table, task_id, self.request_id, self.deadline, creates_until=creating
        )
        if not claimed:
            if prior is None:  # the claim vanished between the write and the read (TTL)
                return Outcome("failed", "enrollment claim changed meanwhile; retried later")
            if prior.failure is not None:  # this request definitely failed before: the same answer
                return self.fail(prior.failure)
            if prior.status == state.ENROLLED:
                logger.info("voice_profile_already_enrolled", extra=self.fields)
                return self.succeed(ENROLLED, prior.profile, count=None)
            if prior.status == state.AMBIGUOUS:  # settled: the same answer for every delivery
                return self.fail(AMBIGUOUS_LOST_RESPONSE)
            if prior.status != state.CREATING:  # released between the write and the read
                return Outcome("failed", "enrollment claim changed meanwhile; retried later")
            if state._now() < prior.ends_by + CLOCK_SKEW_S:
                return Outcome("failed", "another delivery is creating this profile; retried later")
            adopted = self.find_lost_profile(task_id, prior.attempted_at, prior.ends_by)
            if adopted is not None:
                return adopted
            creating = self.deadline.sooner(CREATE_BUDGET_S)  # from now: the search took time
            if not state.retake_enroll(
                self.table,
                task_id,
                self.request_id,
                prior.attempted_at,
                self.deadline,
                creates_until=creating,
            ):
                return Outcome("failed", "another delivery took over this enrollment; retried later")
        domain = self.settings.voice_profile_domain_id or ""
        attempt = state.note_create_attempt(
            self.table, domain, task_id, self.deadline, creates_until=creating
        )
        try:
            response, _ = aws_calls.call(
                lambda: clients.chime().create_voice_profile(SpeakerSearchTaskId=task_id),
                deadline=creating,
                # Only throttling: the service did nothing. After a 5xx or a timeout a profile
                # may exist, and a second create would make a second voiceprint.
                policy=clients.retry_policy(retry_on=frozenset({aws_calls.ErrorKind.THROTTLED})),
                operation="CreateVoiceProfile",
            )
        except aws_calls.AwsCallError as exc:
            if exc.kind in (aws_calls.ErrorKind.TRANSIENT, aws_calls.ErrorKind.CONFLICT):
                logger.warning(
                    "voice_profile_create_unanswered", extra={**self.fields, "errorCode": exc.code}
                )
                return Outcome("failed", f"CreateVoiceProfile: {exc.code}; outcome checked on redelivery")
            # No profile was made. Throttled: a redelivery tries again. Any other answer is this
            # request's outcome, kept so that a redelivery repeats it rather than creating.
            verdict = None if exc.kind is aws_calls.ErrorKind.THROTTLED else exc.code
            state.release_enroll(self.table, task_id, self.request_id, self.deadline, verdict=verdict)
            state.clear_create_attempts(self.table, domain, [attempt], self.deadline)
            return self.retry(exc) if verdict is None else self.fail(verdict)
        profile = _profile(response.get("VoiceProfile", {}))
        if profile["voiceProfileId"] is None:  # a profile may exist, but which one is unknown
            logger.warning(
                "voice_profile_create_unanswered", extra={**self.fields, "errorCode": "NoVoiceProfile"}
            )
            return Outcome(
                "failed", "CreateVoiceProfile answered without a profile; outcome checked on redelivery"
            )
        state.finish_enroll(self.table, task_id, profile, self.deadline)
        state.clear_create_attempts(self.table, domain, [attempt], self.deadline)
        return self.succeed(ENROLLED, profile, count=metrics.VOICE_PROFILES_ENROLLED)

    def find_lost_profile(self, task_id: str, attempted_at: float, ends_by: float) -> Outcome | None:
        """Adopt the profile a lost CreateVoiceProfile made, if exactly one fits; see the module doc."""
        domain = self.settings.voice_profile_domain_id or ""
        try:
            summaries = self.list_profiles(domain)
        except aws_calls.AwsCallError as exc:
            if _retryable(exc):  # the claim stays: a redelivery looks again
                return self.retry(exc)
            # The claim stays for a later request, but this request's outcome is final.
            reason = f"cannot check a lost CreateVoiceProfile response: {exc.code}"
            state.keep_verdict(self.table, task_id, self.request_id, reason, self.deadline)
            return self.fail(reason)
        low, high = attempted_at - CLOCK_SKEW_S, ends_by + CLOCK_SKEW_S
        candidates = [
            s
            for s in summaries
            if s.get("VoiceProfileId")  # the model makes no summary field required
            and low <= _epoch(s.get("CreatedTimestamp")) <= high
            and not state.profile_claimed(self.table, str(s.get("VoiceProfileId")), self.deadline)
        ]
        attempts = state.create_attempts(self.table, domain, self.deadline)
        # Unsettled creates older than any task that can still be enrolled can no longer matter;
        # dropping them keeps the item (which every create refreshes) from growing without end.
        horizon = state._now() - state.ENROLL_TTL_S
        state.clear_create_attempts(
            self.table, domain, [a.entry for a in attempts if a.ends_by < horizon], self.deadline
        )
        mine = [a.entry for a in attempts if a.task_id == task_id]
        others = [
            a.task_id
            for a in attempts
            if a.task_id != task_id
            and a.started_at - CLOCK_SKEW_S <= high
            and a.ends_by + CLOCK_SKEW_S >= low
        ]
        if not candidates:
            state.clear_create_attempts(self.table, domain, mine, self.deadline)
            return None  # the create never happened: try it again
        if len(candidates) > 1 or others:
            # Several profiles, or one that another unsettled create may have made: adopting it
            # could give this request someone else's voiceprint.
            ids = [str(s.get("VoiceProfileId")) for s in candidates]
            extra = {**self.fields, "candidates": ids, "otherCreates": len(others)}
            logger.error("voice_profile_lost_response_ambiguous", extra=extra)
            state.abandon_enroll(self.table, task_id, self.deadline)
            return self.fail(AMBIGUOUS_LOST_RESPONSE)
        profile = _profile(candidates[0])
        if not state.claim_profile(self.table, profile["voiceProfileId"] or "", task_id, self.deadline):
            return Outcome("failed", "the candidate profile was claimed meanwhile; retried later")
        state.finish_enroll(self.table, task_id, profile, self.deadline)
        state.clear_create_attempts(self.table, domain, mine, self.deadline)
        logger.info("voice_profile_lost_response_recovered", extra=self.fields)
        return self.succeed(ENROLLED, profile, count=metrics.VOICE_PROFILES_ENROLLED)

    def list_profiles(self, domain: str) -> list[dict[str, Any]]:
        summaries: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"VoiceProfileDomainId": domain, "MaxResults": 100}
        while True:

            def list_page(kwargs: dict[str, Any] = kwargs) -> dict[str, Any]:
                return dict(clients.chime().list_voice_profiles(**kwargs))

            page, _ = aws_calls.call(
                list_page,
                deadline=self.deadline,
                policy=clients.retry_policy(),
                operation="ListVoiceProfiles",
            )
            summaries += page.get("VoiceProfiles", [])
            if not page.get("NextToken"):
                return summaries
            kwargs = {**kwargs, "NextToken": page["NextToken"]}

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
            return self.retry(exc) if _retryable(exc) else self.fail(exc.code)
        return self.succeed(
            UPDATED, _profile(response.get("VoiceProfile", {})), count=metrics.VOICE_PROFILES_UPDATED
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
                return self.retry(exc) if _retryable(exc) else self.fail(exc.code)
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


def _loggable(value: str | None) -> str | None:
    return value if value is not None and LOGGABLE_ID.fullmatch(value) else None


def _retryable(exc: aws_calls.AwsCallError) -> bool:
    return exc.kind in (aws_calls.ErrorKind.THROTTLED, aws_calls.ErrorKind.TRANSIENT)


def _profile(raw: Mapping[str, Any]) -> dict[str, str | None]:
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


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float("-inf")
