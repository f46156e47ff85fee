"""Voice profile requests (issue 10) in detail: the published events and log lines field by field,
update and delete errors, the lost-CreateVoiceProfile search (its time window, paging, profiles
other tasks own, a race for the candidate) and a state table that cannot be reached.

chime-sdk-voice is a botocore Stubber (requests and responses validated against the service
model); the state table is moto's. A raw (non-SQS) invocation returns or raises the outcome's
reason, which is how a redelivered failure's reason is checked here.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import aws_calls
import boto3
import clients
import enrollment_state
import metrics
import pytest
import state
from botocore.stub import Stubber

from tests.runtime import notifications as n
from tests.runtime.conftest import StateAws
from tests.runtime.helpers import (
    FakeContext,
    Stubs,
    events_of,
    in_domain,
    index_tasks,
    listing,
    logged,
    put_ok,
    reconfigure,
    state_item,
    voiceprints_ready,
)

TASK = "ssk-task-1"
DOMAIN = "vpd-0123456789"
#: When the lost CreateVoiceProfile attempt was made.
ATTEMPTED = datetime(2029, 11, 25, 10, 0, tzinfo=UTC).timestamp()
#: How long the earlier delivery's claim could send creates (``deadline()``; the clock is still).
CLAIM_S = 30
#: Its window: claim - 60 s .. the claim's end + 60 s (``CLOCK_SKEW_S``).
WINDOW = (ATTEMPTED - 60, ATTEMPTED + CLAIM_S + 60)


def profile(profile_id: str = "vp-1", created: float = ATTEMPTED + 1) -> dict[str, Any]:
    return {
        "VoiceProfileId": profile_id,
        "VoiceProfileArn": f"arn:aws:chime:us-east-1:111122223333:voice-profile/{profile_id}",
        "VoiceProfileDomainId": DOMAIN,
        "CreatedTimestamp": datetime.fromtimestamp(created, UTC),
        "UpdatedTimestamp": datetime.fromtimestamp(created, UTC),
        "ExpirationTimestamp": datetime(2032, 11, 25, 10, 0, tzinfo=UTC),
    }


def published_profile(profile_id: str = "vp-1", **extra: Any) -> dict[str, Any]:
    """The Enrolled / Updated detail for ``profile(profile_id)`` requested by ``request()``."""
    return {
        "searchId": "search-abc",
        "requestId": "req-1",
        "voiceProfileId": profile_id,
        "voiceProfileArn": f"arn:aws:chime:us-east-1:111122223333:voice-profile/{profile_id}",
        "expirationTimestamp": "2032-11-25T10:00:00Z",
        "speakerSearchTaskId": TASK,
        "consentReference": "ivr-42",
        "externalId": None,
        **extra,
    }


def request(detail_type: str = "Enroll Voice Profile", **detail: Any) -> dict[str, Any]:
    body = {"searchId": "search-abc", "speakerSearchTaskId": TASK, "consentReference": "ivr-42", **detail}
    event = n.envelope(detail_type, {k: v for k, v in body.items() if v is not None}, "req-1")
    event.update(source="chime-speaker-search.requests", time="2029-11-25T10:01:00Z")
    return n.request_envelope(event)


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(metrics, "_out", buffer)
    return buffer


def total(out: io.StringIO, name: str) -> float:
    values = [json.loads(line).get(name) for line in out.getvalue().splitlines()]
    return sum(sum(v) if isinstance(v, list) else v for v in values if v is not None)


@pytest.fixture
def chime(handler: ModuleType, stubs: Stubs, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch) -> Stubs:
    reconfigure(handler, monkeypatch, ENABLE_ENROLLMENT="true")
    # Deadlines do not count down, so a claim's end is exactly its start plus the time it had.
    monkeypatch.setattr(aws_calls, "_clock", lambda: 0.0)
    index_tasks(state_aws.table_name, TASK)  # a task this construct started
    voiceprints_ready(monkeypatch)
    return stubs


@pytest.fixture
def lost_create(chime: Stubs, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch) -> Stubs:
    """An earlier delivery claimed the task and lost CreateVoiceProfile's answer; its window has passed."""
    monkeypatch.setattr(state, "_now", lambda: ATTEMPTED)
    enrollment_state.begin_enroll(state_aws.table_name, TASK, "req-0", deadline())
    monkeypatch.setattr(state, "_now", lambda: ATTEMPTED + 600)
    return chime


def deadline() -> aws_calls.Deadline:
    return aws_calls.Deadline.after(CLAIM_S)


# -- enroll ----------------------------------------------------------------------------------------


def test_a_repeated_enroll_publishes_the_stored_profile_in_full(
    chime: Stubs, handler: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    chime.chime.add_response(
        "create_voice_profile", {"VoiceProfile": profile()}, {"SpeakerSearchTaskId": TASK}
    )
    put_ok(chime, 2)
    handler.handler(n.sqs_event(request()), None)
    handler.handler(n.sqs_event(request()), None)  # answered from the state table
    assert events_of(chime) == [("Voice Profile Enrolled", published_profile())] * 2
    [line] = logged(caplog, "voice_profile_already_enrolled")
    assert (line.levelno, line.speakerSearchTaskId) == (logging.INFO, TASK)


@pytest.fixture
def india_time() -> Iterator[None]:
    """A host clock that is not UTC (Lambda's is, a developer machine's may not be)."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def test_the_expiration_is_published_in_utc_whatever_the_hosts_zone(
    chime: Stubs, handler: ModuleType, india_time: None
) -> None:
    chime.chime.add_response("create_voice_profile", {"VoiceProfile": profile()})
    put_ok(chime)
    handler.handler(n.sqs_event(request()), None)
    [(_, detail)] = events_of(chime)
    assert detail["expirationTimestamp"] == "2032-11-25T10:00:00Z"


def test_a_consent_is_dated_by_its_ingestion_time_in_utc_whatever_its_offset_and_the_hosts_zone(
    handler: ModuleType,
    stubs: Stubs,
    state_aws: StateAws,
    monkeypatch: pytest.MonkeyPatch,
    india_time: None,
) -> None:
    reconfigure(handler, monkeypatch, REQUIRE_CONSENT="true")
    put_ok(stubs)
    detail = {"voiceConnectorId": n.SERVED_CONNECTOR, "transactionId": "tx-1", "consent": "declined"}
    envelope = request("Speaker Search Consent", **detail)
    envelope["ingestionTime"] = "2029-11-25T15:31:00.25+05:30"
    del envelope["event"]["time"]  # the producer's time plays no part
    handler.handler(envelope, None)
    [(_, published)] = events_of(stubs)
    assert published["decidedAt"] == "2029-11-25T10:01:00.25Z"


# -- a lost CreateVoiceProfile response ------------------------------------------------------------


@pytest.mark.parametrize("created", WINDOW, ids=["window-start", "window-end"])
def test_a_profile_created_at_either_edge_of_the_window_is_adopted(
    lost_create: Stubs,
    handler: ModuleType,
    state_aws: StateAws,
    emf: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    created: float,
) -> None:
    listing(
        lost_create,
        profile("vp-early", WINDOW[0] - 1),
        profile("vp-1", created),
        profile("vp-late", WINDOW[1] + 1),
    )
    put_ok(lost_create)
    assert handler.handler(n.sqs_event(request()), None) == {"batchItemFailures": []}
    assert events_of(lost_create) == [("Voice Profile Enrolled", published_profile())]
    assert total(emf, "VoiceProfilesEnrolled") == 1
    [recovered] = logged(caplog, "voice_profile_lost_response_recovered", messageId="m-0")
    assert recovered.speakerSearchTaskId == TASK
    assert state_item(state_aws.table_name, f"enroll#{TASK}")["voiceProfileId"] == {"S": "vp-1"}  # type: ignore[index]
    assert state_item(state_aws.table_name, "profile#vp-1")["taskId"] == {"S": TASK}  # type: ignore[index]


def test_another_tasks_long_create_that_overlaps_the_window_blocks_adoption(
    lost_create: Stubs, handler: ModuleType, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other create started well before this claim, but could send attempts until after it began.

    Its window runs to the end it recorded, not one attempt past its start (found by bench/soak.py
    at 10,000 notifications: a throttled create outlived a window of one attempt).
    """
    monkeypatch.setattr(state, "_now", lambda: ATTEMPTED - 200)
    enrollment_state.note_create_attempt(
        state_aws.table_name, DOMAIN, "ssk-task-other", aws_calls.Deadline.after(300)
    )
    monkeypatch.setattr(state, "_now", lambda: ATTEMPTED + 600)
    listing(lost_create, profile("vp-1"))
    put_ok(lost_create)
    handler.handler(n.sqs_event(request()), None)
    [(detail_type, detail)] = events_of(lost_create)
    assert (detail_type, detail["reason"]) == ("Voice Profile Request Failed", "AmbiguousLostResponse")


def test_another_tasks_create_that_ended_before_the_window_does_not_block_adoption(
    lost_create: Stubs, handler: ModuleType, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state, "_now", lambda: ATTEMPTED - 200)
    enrollment_state.note_create_attempt(
        state_aws.table_name, DOMAIN, "ssk-task-other", aws_calls.Deadline.after(79)
    )
    monkeypatch.setattr(state, "_now", lambda: ATTEMPTED + 600)
    listing(lost_create, profile("vp-1"))
    put_ok(lost_create)
    handler.handler(n.sqs_event(request()), None)
    assert events_of(lost_create) == [("Voice Profile Enrolled", published_profile())]


@pytest.mark.parametrize(
    ("started", "claim_s", "blocks"),
    [
        # the other create's end, widened by the skew, touches the window's start
        (ATTEMPTED - 200, 80, True),
        (ATTEMPTED - 200, 79.999, False),
        # the other create's start, widened by the skew, touches the window's end
        (WINDOW[1] + 60, 30, True),
        (WINDOW[1] + 60.001, 30, False),
    ],
    ids=["ends-at-window-start", "ends-just-before", "starts-at-window-end", "starts-just-after"],
)
def test_another_tasks_create_blocks_adoption_exactly_when_its_skewed_window_meets_this_one(
    lost_create: Stubs,
    handler: ModuleType,
    state_aws: StateAws,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    started: float,
    claim_s: float,
    blocks: bool,
) -> None:
    """Both windows are widened by ``CLOCK_SKEW_S``; windows that touch overlap (the edges count)."""
    monkeypatch.setattr(state, "_now", lambda: started)
    other = enrollment_state.note_create_attempt(
        state_aws.table_name, DOMAIN, "ssk-task-other", aws_calls.Deadline.after(claim_s)
    )
    monkeypatch.setattr(state, "_now", lambda: ATTEMPTED + 600)
    listing(lost_create, profile("vp-1"))
    put_ok(lost_create)
    handler.handler(n.sqs_event(request()), None)
    [(detail_type, detail)] = events_of(lost_create)
    if blocks:
        assert (detail_type, detail["reason"]) == ("Voice Profile Request Failed", "AmbiguousLostResponse")
        assert state_item(state_aws.table_name, f"enroll#{TASK}")["s"] == {"S": "ambiguous"}  # type: ignore[index]
        [ambiguous] = logged(caplog, "voice_profile_lost_response_ambiguous")
        assert (ambiguous.candidates, ambiguous.otherCreates) == (["vp-1"], 1)
    else:
        assert (detail_type, detail) == ("Voice Profile Enrolled", published_profile())
    # Either way the other task's create is still unsettled: its entry stays for its own redelivery.
    assert _unsettled_creates(state_aws) == [other]


def _unsettled_creates(state_aws: StateAws) -> list[str]:
    """The ``task|start|end`` entries of the domain's ``creates#`` item (none: an empty list)."""
    item = state_item(state_aws.table_name, f"creates#{DOMAIN}") or {}
    return list(item.get("attempts", {}).get("SS", []))


def test_adopting_a_lost_profile_settles_only_this_tasks_creates(
    lost_create: Stubs, handler: ModuleType, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lost create's own entry never blocks its adoption, and adopting clears it (and only it)."""
    table = state_aws.table_name
    monkeypatch.setattr(state, "_now", lambda: ATTEMPTED)
    enrollment_state.note_create_attempt(table, DOMAIN, TASK, deadline())
    monkeypatch.setattr(state, "_now", lambda: ATTEMPTED - 500)  # another task's, long settled by time
    other = enrollment_state.note_create_attempt(table, DOMAIN, "ssk-task-other", deadline())
    monkeypatch.setattr(state, "_now", lambda: ATTEMPTED + 600)
    listing(lost_create, profile("vp-1"))
    put_ok(lost_create)
    handler.handler(n.sqs_event(request()), None)
    assert events_of(lost_create) == [("Voice Profile Enrolled", published_profile())]
    assert _unsettled_creates(state_aws) == [other]


def test_a_lost_create_that_made_nothing_settles_its_entry_and_creates_again(
    lost_create: Stubs, handler: ModuleType, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = state_aws.table_name
    monkeypatch.setattr(state, "_now", lambda: ATTEMPTED)
    lost = enrollment_state.note_create_attempt(table, DOMAIN, TASK, deadline())
    other = enrollment_state.note_create_attempt(table, DOMAIN, "ssk-task-other", deadline())
    monkeypatch.setattr(state, "_now", lambda: ATTEMPTED + 600)
    listing(lost_create)  # nothing was made
    lost_create.chime.add_response(
        "create_voice_profile", {"VoiceProfile": profile()}, {"SpeakerSearchTaskId": TASK}
    )
    put_ok(lost_create)
    handler.handler(n.sqs_event(request()), None)
    assert events_of(lost_create) == [("Voice Profile Enrolled", published_profile())]
    # The lost create's entry went when nothing was found; the new create's went with its answer.
    stored = _unsettled_creates(state_aws)
    assert lost not in stored
    assert stored == [other]


def test_a_search_drops_unsettled_creates_that_ended_more_than_an_enrollment_ttl_ago(
    lost_create: Stubs, handler: ModuleType, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    table, now = state_aws.table_name, ATTEMPTED + 600
    horizon = now - state.ENROLL_TTL_S
    monkeypatch.setattr(state, "_now", lambda: horizon - CLAIM_S)
    at_horizon = enrollment_state.note_create_attempt(
        table, DOMAIN, "ssk-task-at", deadline()
    )  # ends at the horizon
    monkeypatch.setattr(state, "_now", lambda: horizon - CLAIM_S - 1)
    enrollment_state.note_create_attempt(
        table, DOMAIN, "ssk-task-before", deadline()
    )  # ended a second earlier
    monkeypatch.setattr(state, "_now", lambda: now)
    listing(lost_create, profile("vp-1"))
    put_ok(lost_create)
    handler.handler(n.sqs_event(request()), None)
    assert events_of(lost_create) == [("Voice Profile Enrolled", published_profile())]
    assert _unsettled_creates(state_aws) == [at_horizon]


def test_a_profile_another_task_owns_is_not_adopted(
    lost_create: Stubs, handler: ModuleType, state_aws: StateAws
) -> None:
    enrollment_state.claim_profile(state_aws.table_name, "vp-other", "ssk-task-other", deadline())
    listing(lost_create, profile("vp-other"), profile("vp-1"))
    put_ok(lost_create)
    handler.handler(n.sqs_event(request()), None)
    assert events_of(lost_create) == [("Voice Profile Enrolled", published_profile())]


def test_a_profile_without_a_creation_time_is_not_taken_for_the_lost_one(
    lost_create: Stubs, handler: ModuleType
) -> None:
    undated = {k: v for k, v in profile("vp-undated").items() if k != "CreatedTimestamp"}
    lost_create.chime.add_response("list_voice_profiles", {"VoiceProfiles": [undated]})
    lost_create.chime.add_response(
        "create_voice_profile", {"VoiceProfile": profile()}, {"SpeakerSearchTaskId": TASK}
    )
    put_ok(lost_create)
    handler.handler(n.sqs_event(request()), None)
    assert events_of(lost_create) == [("Voice Profile Enrolled", published_profile())]


def test_two_candidates_fail_the_request_and_log_both_for_an_operator(
    lost_create: Stubs, handler: ModuleType, emf: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    listing(lost_create, profile("vp-1"), profile("vp-2", ATTEMPTED + 2))
    put_ok(lost_create)
    assert handler.handler(n.sqs_event(request()), None) == {"batchItemFailures": []}
    assert events_of(lost_create) == [
        (
            "Voice Profile Request Failed",
            {
                "searchId": "search-abc",
                "requestId": "req-1",
                "request": "Enroll Voice Profile",
                "reason": "AmbiguousLostResponse",
                "speakerSearchTaskId": TASK,
                "voiceProfileId": None,
                "consentReference": "ivr-42",
                "externalId": None,
            },
        )
    ]
    [ambiguous] = logged(caplog, "voice_profile_lost_response_ambiguous", messageId="m-0")
    assert (ambiguous.levelno, ambiguous.candidates, ambiguous.speakerSearchTaskId) == (
        logging.ERROR,
        ["vp-1", "vp-2"],
        TASK,
    )
    [failed] = logged(caplog, "voice_profile_request_failed", messageId="m-0")
    assert (failed.levelno, failed.reason, failed.speakerSearchTaskId) == (
        logging.WARNING,
        "AmbiguousLostResponse",
        TASK,
    )
    assert total(emf, "VoiceProfileRequestsFailed") == 1


def test_a_listing_that_fails_for_good_fails_the_request_with_the_code(
    lost_create: Stubs, handler: ModuleType
) -> None:
    lost_create.chime.add_client_error(
        "list_voice_profiles", service_error_code="ForbiddenException", http_status_code=403
    )
    put_ok(lost_create)
    handler.handler(n.sqs_event(request()), None)
    [(detail_type, detail)] = events_of(lost_create)
    assert (detail_type, detail["reason"]) == (
        "Voice Profile Request Failed",
        "cannot check a lost CreateVoiceProfile response: ForbiddenException",
    )
    # Permissions fixed: a redelivery of this request repeats its answer (no listing: the Stubber
    # has none queued), while the claim stays for a later request, which may still adopt.
    put_ok(lost_create)
    handler.handler(n.sqs_event(request()), None)
    assert events_of(lost_create)[-1] == (detail_type, detail)
    listing(lost_create, profile())
    put_ok(lost_create)
    handler.handler(n.sqs_event(n.request_envelope({**request()["event"], "id": "req-2"})), None)
    assert events_of(lost_create)[-1][0] == "Voice Profile Enrolled"


def test_a_listing_that_fails_for_now_is_redelivered_with_the_code_and_logged(
    lost_create: Stubs, handler: ModuleType, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clients, "MAX_ATTEMPTS", 1)
    lost_create.chime.add_client_error(
        "list_voice_profiles", service_error_code="ServiceUnavailableException", http_status_code=503
    )
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(request(), None)
    assert str(raised.value).startswith("ListVoiceProfiles: ServiceUnavailableException: ")
    [retrying] = logged(caplog, "voice_profile_request_retrying")
    assert (retrying.levelno, retrying.errorCode, retrying.speakerSearchTaskId) == (
        logging.WARNING,
        "ServiceUnavailableException",
        TASK,
    )
    assert events_of(lost_create) == []


def test_every_page_of_the_listing_is_searched_and_throttling_is_retried(
    lost_create: Stubs, handler: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    first = {"VoiceProfileDomainId": DOMAIN, "MaxResults": 100}
    lost_create.chime.add_client_error(
        "list_voice_profiles", service_error_code="ThrottlingException", http_status_code=429
    )
    lost_create.chime.add_response(
        "list_voice_profiles", {"VoiceProfiles": [profile()], "NextToken": "page-2"}, first
    )
    lost_create.chime.add_response(
        "list_voice_profiles",
        {"VoiceProfiles": [profile("vp-2", 0)], "NextToken": "page-3"},
        {**first, "NextToken": "page-2"},
    )
    lost_create.chime.add_response("list_voice_profiles", {}, {**first, "NextToken": "page-3"})
    put_ok(lost_create)
    handler.handler(n.sqs_event(request()), None)
    assert events_of(lost_create) == [("Voice Profile Enrolled", published_profile())]
    [retry] = logged(caplog, "aws_call_retrying", errorCode="ThrottlingException")
    assert retry.operation == "ListVoiceProfiles"


def test_a_candidate_claimed_by_another_task_meanwhile_is_retried_later(
    lost_create: Stubs, handler: ModuleType, state_aws: StateAws
) -> None:
    listing(lost_create, profile())

    keys: list[str] = []

    def note_key(params: dict[str, Any], **_: Any) -> None:
        keys.append(params["Key"]["pk"]["S"])

    def claim_after_the_check(**_: Any) -> None:
        if keys[-1] == "profile#vp-1":  # read as unclaimed; another task claims it now
            boto3.client("dynamodb").put_item(
                TableName=state_aws.table_name,
                Item={"pk": {"S": "profile#vp-1"}, "taskId": {"S": "ssk-task-other"}},
            )

    events = clients.dynamodb().meta.events
    events.register("before-parameter-build.dynamodb.GetItem", note_key)
    events.register("after-call.dynamodb.GetItem", claim_after_the_check)
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(request(), None)
    assert str(raised.value) == "the candidate profile was claimed meanwhile; retried later"
    assert events_of(lost_create) == []
    assert state_item(state_aws.table_name, "profile#vp-1")["taskId"] == {"S": "ssk-task-other"}  # type: ignore[index]


# -- update and delete -----------------------------------------------------------------------------


def test_update_publishes_the_profile_it_was_answered_with(chime: Stubs, handler: ModuleType) -> None:
    in_domain(chime)
    chime.chime.add_response(
        "update_voice_profile",
        {"VoiceProfile": profile()},
        {"VoiceProfileId": "vp-1", "SpeakerSearchTaskId": TASK},
    )
    put_ok(chime)
    handler.handler(
        n.sqs_event(request("Update Voice Profile", voiceProfileId="vp-1", externalId="crm-7")), None
    )
    assert events_of(chime) == [("Voice Profile Updated", published_profile(externalId="crm-7"))]


def test_update_answered_without_a_profile_publishes_the_requested_id(
    chime: Stubs, handler: ModuleType
) -> None:
    in_domain(chime)
    chime.chime.add_response("update_voice_profile", {})
    put_ok(chime)
    handler.handler(n.sqs_event(request("Update Voice Profile", voiceProfileId="vp-1")), None)
    assert events_of(chime) == [
        (
            "Voice Profile Updated",
            published_profile(voiceProfileArn=None, expirationTimestamp=None),
        )
    ]


@pytest.mark.parametrize(
    ("kind", "operation"),
    [("Update Voice Profile", "update_voice_profile"), ("Delete Voice Profile", "delete_voice_profile")],
)
def test_an_update_or_delete_refused_for_good_publishes_a_failure(
    chime: Stubs, handler: ModuleType, caplog: pytest.LogCaptureFixture, kind: str, operation: str
) -> None:
    in_domain(chime)
    chime.chime.add_client_error(operation, service_error_code="BadRequestException", http_status_code=400)
    put_ok(chime)
    assert handler.handler(request(kind, voiceProfileId="vp-1"), None)["outcome"] == "published"
    assert events_of(chime) == [
        (
            "Voice Profile Request Failed",
            {
                "searchId": "search-abc",
                "requestId": "req-1",
                "request": kind,
                "reason": "BadRequestException",
                "speakerSearchTaskId": TASK,
                "voiceProfileId": "vp-1",
                "consentReference": "ivr-42",
                "externalId": None,
            },
        )
    ]
    [failed] = logged(caplog, "voice_profile_request_failed", reason="BadRequestException")
    assert failed.voiceProfileId == "vp-1"


@pytest.mark.parametrize("kind", ["Update Voice Profile", "Delete Voice Profile"])
def test_an_update_or_delete_that_cannot_be_tried_now_is_redelivered(
    chime: Stubs, handler: ModuleType, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    # Less time left than one attempt takes: nothing is called (the domain check is the first
    # call), the record comes back later.
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(request(kind, voiceProfileId="vp-1"), FakeContext(5000))
    assert str(raised.value) == "GetVoiceProfile: DeadlineExceeded: not enough time left"
    [retrying] = logged(caplog, "voice_profile_request_retrying")
    assert (retrying.levelno, retrying.errorCode, retrying.voiceProfileId) == (
        logging.WARNING,
        "DeadlineExceeded",
        "vp-1",
    )
    assert events_of(chime) == []


def test_delete_without_a_voice_profile_id_publishes_a_failure(chime: Stubs, handler: ModuleType) -> None:
    put_ok(chime)
    handler.handler(n.sqs_event(request("Delete Voice Profile")), None)
    [(detail_type, detail)] = events_of(chime)
    assert (detail_type, detail["reason"]) == (
        "Voice Profile Request Failed",
        "detail.voiceProfileId is required",
    )


# -- the state table cannot be reached -------------------------------------------------------------


def test_an_unreachable_state_table_redelivers_a_consent_with_the_code(
    handler: ModuleType,
    stubs: Stubs,
    state_aws: StateAws,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reconfigure(handler, monkeypatch, REQUIRE_CONSENT="true", STATE_TABLE_NAME="no-such-table")
    detail = {"voiceConnectorId": n.SERVED_CONNECTOR, "transactionId": "tx-1", "consent": "granted"}
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(request("Speaker Search Consent", **detail), None)
    assert str(raised.value) == "state table: ResourceNotFoundException"
    [line] = logged(caplog, "consent_state_failed")
    assert line.errorCode == "ResourceNotFoundException"


def test_an_unreachable_state_table_redelivers_an_enroll_with_the_code(
    chime: Stubs, handler: ModuleType, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconfigure(handler, monkeypatch, STATE_TABLE_NAME="no-such-table")
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(request(), None)
    assert str(raised.value) == "state table: ResourceNotFoundException"
    [line] = logged(caplog, "voice_profile_state_failed")
    assert (line.errorCode, line.speakerSearchTaskId) == ("ResourceNotFoundException", TASK)


# -- enroll: claims held by other deliveries and CreateVoiceProfile errors -------------------------


@pytest.mark.parametrize(
    ("elapsed", "searched"),
    [(CLAIM_S + 60 - 0.5, False), (CLAIM_S + 60, True)],
    ids=["in-flight", "window-passed"],
)
def test_a_claim_is_treated_as_in_flight_until_its_window_and_the_clock_skew_have_passed(
    chime: Stubs,
    handler: ModuleType,
    state_aws: StateAws,
    monkeypatch: pytest.MonkeyPatch,
    elapsed: float,
    searched: bool,
) -> None:
    monkeypatch.setattr(state, "_now", lambda: ATTEMPTED)
    enrollment_state.begin_enroll(state_aws.table_name, TASK, "req-0", deadline())
    monkeypatch.setattr(state, "_now", lambda: ATTEMPTED + elapsed)
    if searched:
        listing(chime)  # nothing was made: created again
        chime.chime.add_response(
            "create_voice_profile", {"VoiceProfile": profile()}, {"SpeakerSearchTaskId": TASK}
        )
        put_ok(chime)
        assert handler.handler(request(), None)["outcome"] == "published"
    else:
        with pytest.raises(handler.NotificationFailedError) as raised:
            handler.handler(request(), None)
        assert str(raised.value) == "another delivery is creating this profile; retried later"


def test_a_claim_retaken_by_another_delivery_meanwhile_is_left_to_it(
    lost_create: Stubs, handler: ModuleType, state_aws: StateAws
) -> None:
    listing(lost_create)

    def retake_meanwhile(**_: Any) -> None:  # the other delivery retakes while we list
        enrollment_state.retake_enroll(state_aws.table_name, TASK, "req-other", ATTEMPTED, deadline())

    lost_create.chime.client.meta.events.register(
        "after-call.chime-sdk-voice.ListVoiceProfiles", retake_meanwhile
    )
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(request(), None)
    assert str(raised.value) == "another delivery took over this enrollment; retried later"
    assert state_item(state_aws.table_name, f"enroll#{TASK}")["requestId"] == {"S": "req-other"}  # type: ignore[index]


def unclaimed_and_indexed(dynamodb: Stubber) -> None:
    """The reads before a claim: no enrollment of the task yet, and the task in the index."""
    dynamodb.add_response("get_item", {})
    entry = {
        "voiceConnectorId": {"S": "vc-one"},
        "transactionId": {"S": "tx-1"},
        "taskKind": {"S": "speaker_search"},
    }
    dynamodb.add_response("get_item", {"Item": {"pk": {"S": f"task#{TASK}"}, **entry}})


def test_a_claim_that_vanished_meanwhile_is_retried_later(chime: Stubs, handler: ModuleType) -> None:
    with Stubber(clients.dynamodb()) as dynamodb:
        unclaimed_and_indexed(dynamodb)
        dynamodb.add_client_error(
            "update_item", service_error_code="ConditionalCheckFailedException", http_status_code=400
        )
        dynamodb.add_response("get_item", {})
        with pytest.raises(handler.NotificationFailedError) as raised:
            handler.handler(request(), None)
    assert str(raised.value) == "enrollment claim changed meanwhile; retried later"


def test_a_claim_released_between_the_write_and_the_read_is_retried_later(
    chime: Stubs, handler: ModuleType
) -> None:
    """Another request held the claim when this one tried, and released it before this one read it."""
    released = {"pk": {"S": f"enroll#{TASK}"}, "s": {"S": "released"}, "expiresAt": {"N": "1900090000"}}
    with Stubber(clients.dynamodb()) as dynamodb:
        unclaimed_and_indexed(dynamodb)
        dynamodb.add_client_error(
            "update_item", service_error_code="ConditionalCheckFailedException", http_status_code=400
        )
        dynamodb.add_response("get_item", {"Item": released})
        with pytest.raises(handler.NotificationFailedError) as raised:
            handler.handler(request(), None)
    assert str(raised.value) == "enrollment claim changed meanwhile; retried later"
    assert events_of(chime) == []


@pytest.mark.parametrize(
    ("code", "status"),
    [("ServiceFailureException", 500), ("ConflictException", 409)],
    ids=["5xx", "conflict"],
)
def test_an_unanswered_create_keeps_the_claim_for_the_check_on_redelivery(
    chime: Stubs,
    handler: ModuleType,
    state_aws: StateAws,
    caplog: pytest.LogCaptureFixture,
    code: str,
    status: int,
) -> None:
    chime.chime.add_client_error("create_voice_profile", service_error_code=code, http_status_code=status)
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(request(), None)
    assert str(raised.value) == f"CreateVoiceProfile: {code}; outcome checked on redelivery"
    [line] = logged(caplog, "voice_profile_create_unanswered")
    assert (line.levelno, line.errorCode, line.speakerSearchTaskId) == (logging.WARNING, code, TASK)
    assert state_item(state_aws.table_name, f"enroll#{TASK}")["s"] == {"S": "creating"}  # type: ignore[index]


def test_a_create_answered_without_a_profile_keeps_the_claim_and_its_entry_for_the_redelivery(
    chime: Stubs,
    handler: ModuleType,
    state_aws: StateAws,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(state, "_now", lambda: ATTEMPTED)
    chime.chime.add_response("create_voice_profile", {}, {"SpeakerSearchTaskId": TASK})
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(request(), None)
    assert str(raised.value) == (
        "CreateVoiceProfile answered without a profile; outcome checked on redelivery"
    )
    [line] = logged(caplog, "voice_profile_create_unanswered")
    assert (line.levelno, line.errorCode, line.speakerSearchTaskId) == (
        logging.WARNING,
        "NoVoiceProfile",
        TASK,
    )
    assert events_of(chime) == []
    assert state_item(state_aws.table_name, f"enroll#{TASK}")["s"] == {"S": "creating"}  # type: ignore[index]
    [attempt] = enrollment_state.create_attempts(state_aws.table_name, DOMAIN, deadline())
    assert attempt.task_id == TASK  # a profile may exist: the create stays unsettled


@pytest.mark.parametrize(
    ("remaining_ms", "claim_s"),
    [(60_000, 20.0), (15_000, 12.0)],
    ids=["create-budget", "invocation-deadline"],
)
def test_a_claim_ends_at_the_create_budget_or_the_invocations_deadline_if_sooner(
    chime: Stubs,
    handler: ModuleType,
    state_aws: StateAws,
    monkeypatch: pytest.MonkeyPatch,
    remaining_ms: int,
    claim_s: float,
) -> None:
    monkeypatch.setattr(state, "_now", lambda: ATTEMPTED)
    chime.chime.add_client_error(
        "create_voice_profile", service_error_code="ServiceFailureException", http_status_code=500
    )
    handler.handler(n.sqs_event(request()), FakeContext(remaining_ms))
    claim = state_item(state_aws.table_name, f"enroll#{TASK}") or {}
    # FakeContext counts down in real time: the invocation's end is a few ms short of 15 - 3 s.
    assert float(claim["endsBy"]["N"]) == pytest.approx(ATTEMPTED + claim_s, abs=0.5)
    assert float(claim["attemptedAt"]["N"]) == ATTEMPTED


def test_creates_stop_at_the_claims_end(
    chime: Stubs, handler: ModuleType, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each throttled attempt takes 2 s; with a 10 s budget and 7 s per attempt, the third cannot start."""
    import enrollment

    clock = [0.0]
    monkeypatch.setattr(aws_calls, "_clock", lambda: clock[0])
    monkeypatch.setattr(enrollment, "CREATE_BUDGET_S", 10.0)
    monkeypatch.setattr(state, "_now", lambda: ATTEMPTED)

    def slow_throttle(**_: Any) -> None:
        clock[0] += 2.0

    chime.chime.client.meta.events.register(
        "before-parameter-build.chime-sdk-voice.CreateVoiceProfile", slow_throttle
    )
    for _ in range(2):
        chime.chime.add_client_error(
            "create_voice_profile", service_error_code="ThrottlingException", http_status_code=400
        )
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(request(), None)
    assert str(raised.value) == (
        "CreateVoiceProfile: ThrottlingException: retry budget exhausted (deadline) after 2 attempts"
    )
    # Only throttled: nothing was made, so the claim is released for the redelivery.
    assert state_item(state_aws.table_name, f"enroll#{TASK}")["s"] == {"S": "released"}  # type: ignore[index]


def test_a_create_throttled_to_the_end_releases_the_claim_and_is_redelivered(
    chime: Stubs, handler: ModuleType, state_aws: StateAws, sleeps: Any
) -> None:
    for _ in range(clients.MAX_ATTEMPTS):
        chime.chime.add_client_error(
            "create_voice_profile", service_error_code="ThrottlingException", http_status_code=400
        )
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(request(), None)
    assert str(raised.value) == (
        f"CreateVoiceProfile: ThrottlingException: still failing after {clients.MAX_ATTEMPTS} attempts"
    )
    assert len(sleeps.delays) == clients.MAX_ATTEMPTS - 1  # throttling is retried in process
    assert state_item(state_aws.table_name, f"enroll#{TASK}")["s"] == {"S": "released"}  # type: ignore[index]
    assert events_of(chime) == []
    # Throttling is no verdict: the redelivery creates.
    chime.chime.add_response("create_voice_profile", {"VoiceProfile": profile()})
    put_ok(chime)
    assert handler.handler(request(), None)["outcome"] == "published"
    assert events_of(chime) == [("Voice Profile Enrolled", published_profile())]


def test_a_profile_whose_event_was_not_published_is_not_counted(
    chime: Stubs, handler: ModuleType, emf: io.StringIO
) -> None:
    chime.chime.add_response("create_voice_profile", {"VoiceProfile": profile()})
    chime.events.add_client_error(
        "put_events", service_error_code="AccessDeniedException", http_status_code=400
    )
    with pytest.raises(handler.NotificationFailedError):
        handler.handler(request(), None)
    assert total(emf, "VoiceProfilesEnrolled") == 0


def test_the_external_id_is_published_but_never_logged_even_when_it_looks_like_an_id(
    chime: Stubs, handler: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    chime.chime.add_response("create_voice_profile", {"VoiceProfile": profile()})
    put_ok(chime)
    handler.handler(n.sqs_event(request(externalId="crm-7")), None)
    assert events_of(chime) == [("Voice Profile Enrolled", published_profile(externalId="crm-7"))]
    assert caplog.records
    assert all("crm-7" not in str(r.__dict__) for r in caplog.records)


def test_a_listed_profile_without_an_id_is_not_adopted(lost_create: Stubs, handler: ModuleType) -> None:
    """The model makes no summary field required; adopting it would publish Enrolled with a null ID."""
    nameless = {k: v for k, v in profile("vp-x").items() if k != "VoiceProfileId"}
    listing(lost_create, nameless)
    lost_create.chime.add_response(
        "create_voice_profile", {"VoiceProfile": profile()}, {"SpeakerSearchTaskId": TASK}
    )
    put_ok(lost_create)
    assert handler.handler(request(), None)["outcome"] == "published"
    assert events_of(lost_create) == [("Voice Profile Enrolled", published_profile())]
