"""Enroll Voice Profile: CreateVoiceProfile, at most one profile per speaker search task.

A task whose enrollment is settled is answered at once: its profile (``Enrolled``), the request's
kept failure, ``AmbiguousLostResponse``, or ``VoiceProfileDeleted`` once its profile was deleted
(a deleted profile is never reported enrolled again, and no new one is made from the task: the
person asked for the voiceprint to go). Otherwise the task must be this construct's, of a call
granted under ``REQUIRE_CONSENT`` (``task_scope.admissible_task``), and its voiceprint ready
before a create is tried (``task_scope.readiness``).

CreateVoiceProfile takes no idempotency token, so one task gives at most one profile through the
state table (``enrollment_state``):

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
  task's create was unsettled in that window (``enrollment_state.note_create_attempt``, recorded
  before every create and cleared once its outcome is known); otherwise it could be another
  person's voiceprint, and the request fails with ``AmbiguousLostResponse`` too (found by
  bench/soak.py).
* any other error answer (an expired task's ``GoneException``, ``NotFoundException``, ...) means
  no profile was made: the claim is released for later requests, and the request's reason is
  kept (``failed:<requestId>`` on the claim's item), so a redelivery of the same request repeats
  its failure instead of creating again (a second outcome; found by bench/soak.py at 10,000).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aws_calls
import clients
import enrollment_state
import metrics
import state
import task_scope
import voice_profiles
from outcomes import Outcome, logger

if TYPE_CHECKING:
    from profile_requests import VoiceProfileRequest

ENROLLED = "Voice Profile Enrolled"
#: Seconds around a lost CreateVoiceProfile's window in which a profile is taken as its result.
CLOCK_SKEW_S = 60.0
#: Longest time after its claim in which one request's CreateVoiceProfile attempts (throttling
#: retries included) may be sent. A lost create's window ends there, so a redelivery waits at most
#: this plus ``CLOCK_SKEW_S`` before it looks for the profile.
CREATE_BUDGET_S = 20.0
AMBIGUOUS_LOST_RESPONSE = "AmbiguousLostResponse"


def enroll(request: VoiceProfileRequest) -> Outcome:
    task_id = request.ids["speakerSearchTaskId"] or ""
    known = enrollment_state.get_enroll(request.table, task_id, request.request_id, request.deadline)
    settled = _settled(request, known)
    if settled is not None:
        return settled
    entry = request.admissible(task_id)
    if isinstance(entry, Outcome):
        return entry
    checked = known is None or known.status == state.RELEASED  # a create is about to be tried
    if checked and (waiting := request.voiceprint_ready(task_id, entry)) is not None:
        return waiting
    # Every create of a claim is sent before ``creating`` runs out; the claim records that
    # moment, which is where a lost create's window ends for a redelivery.
    creating = request.deadline.sooner(CREATE_BUDGET_S)
    prior, claimed = enrollment_state.begin_enroll(
        request.table, task_id, request.request_id, request.deadline, creates_until=creating
    )
    if not claimed:
        if prior is None:  # the claim vanished between the write and the read (TTL)
            return Outcome("failed", "enrollment claim changed meanwhile; retried later")
        settled = _settled(request, prior)
        if settled is not None:
            return settled
        if prior.status != state.CREATING:  # released between the write and the read
            return Outcome("failed", "enrollment claim changed meanwhile; retried later")
        if state._now() < prior.ends_by + CLOCK_SKEW_S:
            return Outcome("failed", "another delivery is creating this profile; retried later")
        adopted = find_lost_profile(request, task_id, prior.attempted_at, prior.ends_by)
        if adopted is not None:
            return adopted
        if not checked and (waiting := request.voiceprint_ready(task_id, entry)) is not None:
            return waiting
        creating = request.deadline.sooner(CREATE_BUDGET_S)  # from now: the search took time
        if not enrollment_state.retake_enroll(
            request.table,
            task_id,
            request.request_id,
            prior.attempted_at,
            request.deadline,
            creates_until=creating,
        ):
            return Outcome("failed", "another delivery took over this enrollment; retried later")
    domain = request.settings.voice_profile_domain_id or ""
    attempt = enrollment_state.note_create_attempt(
        request.table, domain, task_id, request.deadline, creates_until=creating
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
            logger.warning("voice_profile_create_unanswered", extra={**request.fields, "errorCode": exc.code})
            return Outcome("failed", f"CreateVoiceProfile: {exc.code}; outcome checked on redelivery")
        # No profile was made. Throttled: a redelivery tries again. Any other answer is this
        # request's outcome, kept so that a redelivery repeats it rather than creating.
        verdict = None if exc.kind is aws_calls.ErrorKind.THROTTLED else exc.code
        enrollment_state.release_enroll(
            request.table, task_id, request.request_id, request.deadline, verdict=verdict
        )
        enrollment_state.clear_create_attempts(request.table, domain, [attempt], request.deadline)
        return request.retry(exc) if verdict is None else request.fail(verdict)
    profile = voice_profiles.profile_fields(response.get("VoiceProfile", {}))
    if profile["voiceProfileId"] is None:  # a profile may exist, but which one is unknown
        logger.warning(
            "voice_profile_create_unanswered", extra={**request.fields, "errorCode": "NoVoiceProfile"}
        )
        return Outcome(
            "failed", "CreateVoiceProfile answered without a profile; outcome checked on redelivery"
        )
    enrollment_state.finish_enroll(request.table, task_id, profile, request.deadline)
    enrollment_state.clear_create_attempts(request.table, domain, [attempt], request.deadline)
    return request.succeed(ENROLLED, profile, count=metrics.VOICE_PROFILES_ENROLLED)


def _settled(request: VoiceProfileRequest, record: enrollment_state.EnrollRecord | None) -> Outcome | None:
    """The answer of an enrollment already settled for the task (or this request), else None."""
    if record is None:
        return None
    if record.failure is not None:  # this request definitely failed before: the same answer
        return request.fail(record.failure)
    if record.status == state.DELETED:  # its profile was deleted: never reported enrolled again
        return request.fail(task_scope.VOICE_PROFILE_DELETED)
    if record.status == state.ENROLLED:
        logger.info("voice_profile_already_enrolled", extra=request.fields)
        return request.succeed(ENROLLED, record.profile, count=None)
    if record.status == state.AMBIGUOUS:  # settled: the same answer for every delivery
        return request.fail(AMBIGUOUS_LOST_RESPONSE)
    return None


def find_lost_profile(
    request: VoiceProfileRequest, task_id: str, attempted_at: float, ends_by: float
) -> Outcome | None:
    """Adopt the profile a lost CreateVoiceProfile made, if exactly one fits; see the module doc."""
    domain = request.settings.voice_profile_domain_id or ""
    try:
        summaries = list_profiles(request, domain)
    except aws_calls.AwsCallError as exc:
        if voice_profiles.retryable(exc):  # the claim stays: a redelivery looks again
            return request.retry(exc)
        # The claim stays for a later request, but this request's outcome is final.
        reason = f"cannot check a lost CreateVoiceProfile response: {exc.code}"
        enrollment_state.keep_verdict(request.table, task_id, request.request_id, reason, request.deadline)
        return request.fail(reason)
    low, high = attempted_at - CLOCK_SKEW_S, ends_by + CLOCK_SKEW_S
    candidates = [
        s
        for s in summaries
        if s.get("VoiceProfileId")  # the model makes no summary field required
        and low <= voice_profiles.epoch(s.get("CreatedTimestamp")) <= high
        and not enrollment_state.profile_claimed(
            request.table, str(s.get("VoiceProfileId")), request.deadline
        )
    ]
    attempts = enrollment_state.create_attempts(request.table, domain, request.deadline)
    # Unsettled creates older than any task that can still be enrolled can no longer matter;
    # dropping them keeps the item (which every create refreshes) from growing without end.
    horizon = state._now() - state.ENROLL_TTL_S
    enrollment_state.clear_create_attempts(
        request.table, domain, [a.entry for a in attempts if a.ends_by < horizon], request.deadline
    )
    mine = [a.entry for a in attempts if a.task_id == task_id]
    others = [
        a.task_id
        for a in attempts
        if a.task_id != task_id and a.started_at - CLOCK_SKEW_S <= high and a.ends_by + CLOCK_SKEW_S >= low
    ]
    if not candidates:
        enrollment_state.clear_create_attempts(request.table, domain, mine, request.deadline)
        return None  # the create never happened: try it again
    if len(candidates) > 1 or others:
        # Several profiles, or one that another unsettled create may have made: adopting it
        # could give this request someone else's voiceprint.
        ids = [str(s.get("VoiceProfileId")) for s in candidates]
        extra = {**request.fields, "candidates": ids, "otherCreates": len(others)}
        logger.error("voice_profile_lost_response_ambiguous", extra=extra)
        enrollment_state.abandon_enroll(request.table, task_id, request.deadline)
        return request.fail(AMBIGUOUS_LOST_RESPONSE)
    profile = voice_profiles.profile_fields(candidates[0])
    if not enrollment_state.claim_profile(
        request.table, profile["voiceProfileId"] or "", task_id, request.deadline
    ):
        return Outcome("failed", "the candidate profile was claimed meanwhile; retried later")
    enrollment_state.finish_enroll(request.table, task_id, profile, request.deadline)
    enrollment_state.clear_create_attempts(request.table, domain, mine, request.deadline)
    logger.info("voice_profile_lost_response_recovered", extra=request.fields)
    return request.succeed(ENROLLED, profile, count=metrics.VOICE_PROFILES_ENROLLED)


def list_profiles(request: VoiceProfileRequest, domain: str) -> list[dict[str, Any]]:
    summaries: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"VoiceProfileDomainId": domain, "MaxResults": 100}
    while True:

        def list_page(kwargs: dict[str, Any] = kwargs) -> dict[str, Any]:
            return dict(clients.chime().list_voice_profiles(**kwargs))

        page, _ = aws_calls.call(
            list_page,
            deadline=request.deadline,
            policy=clients.retry_policy(),
            operation="ListVoiceProfiles",
        )
        summaries += page.get("VoiceProfiles", [])
        if not page.get("NextToken"):
            return summaries
        kwargs = {**kwargs, "NextToken": page["NextToken"]}
