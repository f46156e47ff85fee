"""Fault injection over real HTTP: the real boto3 clients against tests/runtime/fake_aws.py."""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

import aws_calls
import clients
import pytest
import task_kinds

from tests.runtime import fake_aws as f
from tests.runtime import notifications as n
from tests.runtime.conftest import SLOWER_THAN_ROOMY_READ_TIMEOUT_S as SLOW_S
from tests.runtime.fake_aws import FakeAws
from tests.runtime.helpers import FakeContext, logged

READY = n.sqs_event(n.analytics_ready())
RESULT = n.sqs_event(n.search_status(results=[{"voiceProfileId": "vp-1", "confidenceScore": "0.9"}]))


def tokens(fake: FakeAws) -> list[str]:
    return [r.json["ClientRequestToken"] for r in fake.requests_for(f.CHIME)]


def test_wire_format_of_start_request(handler: ModuleType, fake_aws: FakeAws) -> None:
    assert handler.handler(READY, FakeContext(60_000)) == {"batchItemFailures": []}
    [request] = fake_aws.requests_for(f.CHIME)
    assert request.path == "/voice-connectors/vc-one/speaker-search-tasks"
    assert request.json == {
        "TransactionId": "tx-1",
        "VoiceProfileDomainId": "vpd-0123456789",
        "CallLeg": "Caller",
        "ClientRequestToken": task_kinds.client_request_token("vc-one", "tx-1", "Caller"),
    }
    assert "chime-speaker-search/" in request.headers["user-agent"]
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256")


def test_wire_format_of_put_events(handler: ModuleType, fake_aws: FakeAws) -> None:
    assert handler.handler(RESULT, FakeContext(60_000)) == {"batchItemFailures": []}
    [request] = fake_aws.requests_for(f.EVENTS)
    assert request.headers["x-amz-target"] == "AWSEvents.PutEvents"
    assert request.headers["content-type"] == "application/x-amz-json-1.1"
    [published] = fake_aws.published
    assert (published["Source"], published["DetailType"], published["EventBusName"]) == (
        "chime-speaker-search",
        "Speaker Search Result",
        "speaker-bus",
    )
    assert published["Detail"]["bestMatch"] == {"voiceProfileId": "vp-1", "confidenceScore": 0.9}


@pytest.mark.parametrize(
    "faults",
    [
        [f.throttled()],
        [f.throttled(), f.throttled(), f.throttled()],
        [f.service_failure(), f.service_unavailable(), f.bad_gateway()],
        [f.connection_reset()],
        [f.slow(SLOW_S)],
        [
            f.throttled(),
            f.connection_reset(),
            f.slow(SLOW_S),
            f.service_unavailable(),
        ],
    ],
    ids=["429", "429x3", "500-503-502", "reset", "read-timeout", "mixed"],
)
@pytest.mark.usefixtures("roomy_timeouts")
def test_success_after_faults_with_the_same_token(
    handler: ModuleType,
    fake_aws: FakeAws,
    sleeps: Any,
    caplog: pytest.LogCaptureFixture,
    faults: list[f.Reply],
) -> None:
    fake_aws.script(f.CHIME, *faults)

    assert handler.handler(READY, FakeContext(60_000)) == {"batchItemFailures": []}

    sent = tokens(fake_aws)
    assert len(sent) == len(faults) + 1
    assert set(sent) == {task_kinds.client_request_token("vc-one", "tx-1", "Caller")}
    assert len(sleeps.delays) == len(faults)
    [record] = logged(caplog, "speaker_search_started")
    assert record.attempts == len(faults) + 1
    assert len(fake_aws.tasks) == 1
    assert fake_aws.duplicate_starts == 0


def test_retries_run_out_and_the_record_fails(
    handler: ModuleType, fake_aws: FakeAws, caplog: pytest.LogCaptureFixture
) -> None:
    fake_aws.fault_policy = lambda service: f.service_unavailable() if service == f.CHIME else None
    event = n.sqs_event(n.analytics_ready(), n.search_status())  # the result still gets published

    assert handler.handler(event, FakeContext(60_000)) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}

    assert len(fake_aws.requests_for(f.CHIME)) == clients.MAX_ATTEMPTS
    assert len(set(tokens(fake_aws))) == 1
    [record] = logged(caplog, "speaker_search_start_failed", messageId="m-0")
    assert (record.errorCode, record.attempts) == ("ServiceUnavailableException", clients.MAX_ATTEMPTS)
    assert "after 8 attempts" in record.reason
    # SpeakerSearch's metric filter counts these per construct by $.searchId.
    assert record.searchId == "search-abc"
    assert len(fake_aws.published) == 1


def test_throttling_that_never_ends_fails_the_record(
    handler: ModuleType, fake_aws: FakeAws, caplog: pytest.LogCaptureFixture
) -> None:
    fake_aws.fault_policy = lambda service: f.throttled()
    assert handler.handler(READY, None) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert len(fake_aws.requests_for(f.CHIME)) == clients.MAX_ATTEMPTS
    assert logged(caplog, "speaker_search_start_failed", errorCode="ThrottledClientException")


def test_bad_request_is_not_retried(
    handler: ModuleType, fake_aws: FakeAws, caplog: pytest.LogCaptureFixture
) -> None:
    fake_aws.script(f.CHIME, f.bad_request())
    assert handler.handler(READY, FakeContext(60_000)) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert len(fake_aws.requests_for(f.CHIME)) == 1
    [record] = logged(caplog, "speaker_search_start_failed")
    assert (record.errorCode, record.attempts) == ("BadRequestException", 1)


def test_a_first_conflict_is_contention_retried_with_the_same_token(
    handler: ModuleType, fake_aws: FakeAws, caplog: pytest.LogCaptureFixture
) -> None:
    fake_aws.script(f.CHIME, f.conflict())
    assert handler.handler(READY, FakeContext(60_000)) == {"batchItemFailures": []}
    assert len(set(tokens(fake_aws))) == 1
    assert len(fake_aws.requests_for(f.CHIME)) == 2
    assert len(fake_aws.tasks) == 1
    assert logged(caplog, "speaker_search_started", duplicate=False)


def test_a_conflict_after_our_own_lost_start_counts_as_started(
    handler: ModuleType, fake_aws: FakeAws, caplog: pytest.LogCaptureFixture
) -> None:
    fake_aws.duplicate_start_answer = "conflict"
    fake_aws.script(f.CHIME, f.lost_response())
    assert handler.handler(READY, FakeContext(60_000)) == {"batchItemFailures": []}
    assert len(fake_aws.requests_for(f.CHIME)) == 2
    assert logged(caplog, "speaker_search_started", duplicate=True)


def test_redelivery_reuses_the_token_and_starts_nothing_new(handler: ModuleType, fake_aws: FakeAws) -> None:
    fake_aws.conflict_on_repeat = True
    for _ in range(3):
        assert handler.handler(READY, FakeContext(60_000)) == {"batchItemFailures": []}
    assert len(set(tokens(fake_aws))) == 1
    assert len(fake_aws.tasks) == 1
    assert fake_aws.duplicate_starts == 0


def test_short_deadline_means_fewer_attempts_and_no_overrun(
    handler: ModuleType, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    slept: list[float] = []
    backed_off = 0.0

    # The requests take real time; a backoff moves the deadline's clock by exactly its delay. A real
    # sleep on a loaded machine overshoots, which would let the loop stop at its next attempt's
    # time check instead of before the backoff, and make this test depend on the machine's load.
    def backoff(seconds: float) -> None:
        nonlocal backed_off
        slept.append(seconds)
        backed_off += seconds

    def clock() -> float:
        return time.monotonic() + backed_off

    monkeypatch.setattr(aws_calls, "_sleep", backoff)
    monkeypatch.setattr(aws_calls, "_clock", clock)
    monkeypatch.setattr(clients, "BACKOFF_BASE_S", 0.1)
    monkeypatch.setattr(clients, "BACKOFF_CAP_S", 0.3)
    fake_aws.fault_policy = lambda service: f.service_unavailable()
    remaining_ms = 1_500

    started = clock()
    result = handler.handler(READY, FakeContext(remaining_ms))
    elapsed = clock() - started

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    attempts = len(fake_aws.requests_for(f.CHIME))
    assert 1 <= attempts < clients.MAX_ATTEMPTS
    assert elapsed < remaining_ms / 1000
    [record] = logged(caplog, "speaker_search_start_failed")
    assert "deadline" in record.reason
    assert record.attempts == attempts
    assert len(slept) == attempts - 1  # it gives up before a backoff that no attempt could follow


def test_slow_service_cannot_push_past_the_deadline(
    handler: ModuleType, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aws_calls, "_sleep", time.sleep)
    fake_aws.fault_policy = lambda service: f.slow(1.0)  # every attempt ends in a read timeout
    remaining_ms = 2_000

    started = time.monotonic()
    result = handler.handler(READY, FakeContext(remaining_ms))
    elapsed = time.monotonic() - started

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert 1 <= len(fake_aws.requests_for(f.CHIME)) < clients.MAX_ATTEMPTS
    assert elapsed < remaining_ms / 1000


def test_no_time_left_means_no_call_at_all(
    handler: ModuleType, fake_aws: FakeAws, caplog: pytest.LogCaptureFixture
) -> None:
    assert handler.handler(READY, FakeContext(500)) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert fake_aws.requests_for(f.CHIME) == []
    assert logged(caplog, "speaker_search_start_failed", errorCode="DeadlineExceeded", attempts=0)


def test_deadline_is_shared_by_the_batch(
    handler: ModuleType, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the budget is spent, later records fail fast (redelivered) instead of timing out the Lambda."""
    monkeypatch.setattr(aws_calls, "_sleep", time.sleep)
    fake_aws.fault_policy = lambda service: f.slow(1.0)
    event = n.sqs_event(*(n.analytics_ready(f"tx-{i}") for i in range(5)))
    started = time.monotonic()
    result = handler.handler(event, FakeContext(2_000))
    assert len(result["batchItemFailures"]) == 5
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    "fault",
    [f.events_internal_error, f.failed_entry, f.connection_reset],
    ids=["http-500", "failed-entry", "reset"],
)
def test_put_events_failures_are_retried_then_fail_the_record(
    handler: ModuleType, fake_aws: FakeAws, caplog: pytest.LogCaptureFixture, fault: Any
) -> None:
    fake_aws.fault_policy = lambda service: fault() if service == f.EVENTS else None
    event = n.sqs_event(n.search_status(), n.analytics_ready())

    assert handler.handler(event, FakeContext(60_000)) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}

    assert len(fake_aws.requests_for(f.EVENTS)) == clients.MAX_ATTEMPTS
    assert fake_aws.published == []
    [record] = logged(caplog, "speaker_search_result_publish_failed", messageId="m-0")
    assert record.attempts == clients.MAX_ATTEMPTS
    assert logged(caplog, "speaker_search_started", messageId="m-1")


def test_put_events_succeeds_after_failed_entry_and_500(handler: ModuleType, fake_aws: FakeAws) -> None:
    fake_aws.script(f.EVENTS, f.failed_entry(), f.events_internal_error())
    assert handler.handler(RESULT, FakeContext(60_000)) == {"batchItemFailures": []}
    assert len(fake_aws.requests_for(f.EVENTS)) == 3
    assert len(fake_aws.published) == 1


def test_error_codes_survive_botocore_parsing(handler: ModuleType, fake_aws: FakeAws) -> None:
    """Guards the fake itself: botocore must read our error codes the way it reads AWS's."""
    chime = clients.chime()
    fake_aws.script(f.CHIME, f.throttled())
    with pytest.raises(chime.exceptions.ThrottledClientException):
        chime.start_speaker_search_task(VoiceConnectorId="vc", TransactionId="t", VoiceProfileDomainId="d")
    events = clients.events()
    fake_aws.script(f.EVENTS, f.events_internal_error())
    with pytest.raises(events.exceptions.InternalException):
        events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])


def test_fake_counts_a_different_token_as_a_duplicate_start(handler: ModuleType, fake_aws: FakeAws) -> None:
    """Guards the soak's duplicate check: a second token for one transaction is noticed."""
    chime = clients.chime()
    args = {"VoiceConnectorId": "vc", "TransactionId": "t", "VoiceProfileDomainId": "d", "CallLeg": "Caller"}
    chime.start_speaker_search_task(**args, ClientRequestToken="token-one")
    chime.start_speaker_search_task(**args, ClientRequestToken="token-one")
    assert fake_aws.duplicate_starts == 0
    with pytest.raises(chime.exceptions.ResourceLimitExceededException):
        chime.start_speaker_search_task(**args, ClientRequestToken="token-two")
    assert fake_aws.duplicate_starts == 1
