"""Duplicate and limit rules of a task start, and permanent errors straight to the DLQ (issue 9.1, 9.2).

AWS does not document what a second start for a call that already has a task returns, so every
test of a repeated start runs under each plausible answer of the fake (``same_task``,
``conflict``, ``limit_exceeded``). The state table and the dead-letter queue are moto's.
"""

from __future__ import annotations

import io
import json
from types import ModuleType
from typing import Any

import aws_calls
import clients
import metrics
import pytest
import settings
import state
import task_kinds

from tests.runtime import fake_aws as f
from tests.runtime import notifications as n
from tests.runtime.conftest import StateAws
from tests.runtime.helpers import FakeContext, Stubs, logged

ANSWERS = f.DUPLICATE_START_ANSWERS


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(metrics, "_out", buffer)
    return buffer


def metric_total(out: io.StringIO, name: str) -> float:
    total = 0.0
    for line in out.getvalue().splitlines():
        value = json.loads(line).get(name)
        if value is not None:
            total += sum(value) if isinstance(value, list) else value
    return total


@pytest.fixture(params=ANSWERS)
def answer(request: pytest.FixtureRequest, fake_aws: f.FakeAws) -> str:
    fake_aws.duplicate_start_answer = request.param
    return str(request.param)


def starts(fake: f.FakeAws) -> list[f.Request]:
    return [r for r in fake.requests_for(f.CHIME) if r.path.endswith("/speaker-search-tasks")]


def start_records(aws: StateAws) -> list[dict[str, Any]]:
    return [i for i in aws.items() if i["pk"]["S"].startswith("start#")]


# -- 9.1: a call that already has a task never ends in the dead-letter queue ----------------------


def test_redelivery_of_a_started_call_is_a_duplicate_without_an_api_call(
    handler: ModuleType, fake_aws: f.FakeAws, state_aws: StateAws, answer: str, emf: io.StringIO
) -> None:
    assert handler.handler(n.sqs_event(n.analytics_ready()), None) == {"batchItemFailures": []}
    assert handler.handler(n.sqs_event(n.analytics_ready()), None) == {"batchItemFailures": []}
    assert len(starts(fake_aws)) == 1
    assert fake_aws.repeat_starts == 0
    assert metric_total(emf, "SpeakerSearchStarted") == 1
    assert metric_total(emf, "SpeakerSearchDuplicateStarts") == 1
    assert metric_total(emf, "SpeakerSearchFailedStarts") == 0
    [record] = start_records(state_aws)
    assert (record["s"]["S"], record["taskId"]["S"]) == ("started", "task-000001")
    assert state_aws.dead_letters() == []


def test_the_state_table_holds_ids_only_and_expires_within_about_a_day(
    handler: ModuleType, fake_aws: f.FakeAws, state_aws: StateAws
) -> None:
    handler.handler(n.sqs_event(n.analytics_ready()), None)
    [record] = start_records(state_aws)
    assert set(record) == {"pk", "s", "attemptedAt", "attemptId", "expiresAt", "taskId"}
    token = task_kinds.client_request_token(n.SERVED_CONNECTOR, "tx-1", "Caller")
    assert record["pk"]["S"] == f"start#{token}"
    assert n.CALL_ID not in json.dumps(record)
    lifetime = float(record["expiresAt"]["N"]) - float(record["attemptedAt"]["N"])
    assert 23 * 3600 <= lifetime <= 25 * 3600


def test_a_lost_start_response_ends_started_or_duplicate_under_every_answer(
    handler: ModuleType,
    fake_aws: f.FakeAws,
    state_aws: StateAws,
    answer: str,
    emf: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The task is created, its answer lost; the retry gets the repeat answer."""
    created: list[str] = []
    fake_aws.on_task_started = lambda key, task_id: created.append(task_id)
    fake_aws.script(f.CHIME, f.lost_response())
    first = handler.handler(n.sqs_event(n.analytics_ready()), FakeContext(20_000))
    assert len(fake_aws.tasks) == 1
    assert created == ["task-000001"]
    assert fake_aws.duplicate_starts == 0
    if answer == "limit_exceeded":
        # RLE is also "Region full": not taken as proof. The record is redelivered, and no
        # failed start is counted, because our own unanswered start may hold the task.
        assert first == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
        assert logged(caplog, "speaker_search_start_unconfirmed", messageId="m-0")
        # The task's first status notification is the evidence ...
        handler.handler(n.sqs_event(n.search_status(task_id=created[0])), None)
        # ... so the redelivery ends as a duplicate without calling AWS again.
        calls_before = len(starts(fake_aws))
        assert handler.handler(n.sqs_event(n.analytics_ready()), None) == {"batchItemFailures": []}
        assert len(starts(fake_aws)) == calls_before
    else:
        assert first == {"batchItemFailures": []}
    assert metric_total(emf, "SpeakerSearchFailedStarts") == 0
    assert metric_total(emf, "SpeakerSearchStarted") + metric_total(emf, "SpeakerSearchDuplicateStarts") >= 1
    assert state_aws.dead_letters() == []
    [record] = start_records(state_aws)
    assert record["s"]["S"] == "started"


def test_a_concurrent_delivery_that_started_the_task_turns_rle_into_a_duplicate(
    handler: ModuleType, fake_aws: f.FakeAws, state_aws: StateAws, emf: io.StringIO
) -> None:
    """Delivery B gets RLE because delivery A holds the task; A records it before B's retry."""
    token = task_kinds.client_request_token(n.SERVED_CONNECTOR, "tx-1", "Caller")
    answered = []

    def concurrent_start_elsewhere(service: str) -> f.Reply | None:
        if service != f.CHIME or answered:
            return None
        answered.append(True)
        state.mark_started(state_aws.table_name, token, "task-from-a", state_deadline())
        return f.resource_limit_exceeded()

    fake_aws.fault_policy = concurrent_start_elsewhere
    assert handler.handler(n.sqs_event(n.analytics_ready()), None) == {"batchItemFailures": []}
    assert len(starts(fake_aws)) == 1  # the retry found the task in the state table instead
    assert metric_total(emf, "SpeakerSearchDuplicateStarts") == 1
    assert metric_total(emf, "SpeakerSearchFailedStarts") == 0


def state_deadline() -> aws_calls.Deadline:
    return aws_calls.Deadline.after(30)


def test_the_regions_task_limit_is_retried_with_backoff_and_never_reported_as_started(
    handler: ModuleType, fake_aws: f.FakeAws, state_aws: StateAws, sleeps: Any, emf: io.StringIO
) -> None:
    fake_aws.region_task_limit = 1
    assert handler.handler(n.sqs_event(n.analytics_ready("tx-a")), None) == {"batchItemFailures": []}
    result = handler.handler(n.sqs_event(n.analytics_ready("tx-b")), FakeContext(20_000))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}  # redelivered, not dead-lettered
    assert fake_aws.region_limit_refusals == clients.MAX_ATTEMPTS
    assert len(sleeps.delays) == clients.MAX_ATTEMPTS - 1
    assert metric_total(emf, "SpeakerSearchStarted") == 1
    assert metric_total(emf, "SpeakerSearchFailedStarts") == 1
    assert state_aws.dead_letters() == []
    # Capacity frees up: the redelivery starts the call.
    fake_aws.finish_tasks()
    assert handler.handler(n.sqs_event(n.analytics_ready("tx-b")), None) == {"batchItemFailures": []}
    assert len(fake_aws.tasks) == 2
    assert metric_total(emf, "SpeakerSearchStarted") == 2


def test_the_region_limit_retries_stop_before_the_deadline(
    handler: ModuleType, fake_aws: f.FakeAws, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(aws_calls, "_clock", lambda: clock[0])
    monkeypatch.setattr(aws_calls, "_sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    fake_aws.region_task_limit = 0
    remaining_ms = 5_000

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return remaining_ms

    result = handler.handler(n.sqs_event(n.analytics_ready()), Context())
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert 1 <= fake_aws.region_limit_refusals < clients.MAX_ATTEMPTS


@pytest.mark.parametrize("answer", ANSWERS)
def test_without_a_state_table_a_repeat_is_a_duplicate_or_redelivered_never_started_twice(
    handler: ModuleType, fake_aws: f.FakeAws, answer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Degraded mode (no STATE_TABLE_NAME): same_task ends at once; 409 and RLE, which nothing here
    can tell from contention and a full Region, are redelivered (visible, never a second task)."""
    fake_aws.duplicate_start_answer = answer
    handler.handler(n.sqs_event(n.analytics_ready()), None)
    second = handler.handler(n.sqs_event(n.analytics_ready()), FakeContext(20_000))
    expected = [] if answer == "same_task" else [{"itemIdentifier": "m-0"}]
    assert second == {"batchItemFailures": expected}
    assert fake_aws.duplicate_starts == 0


# -- 9.2: permanent errors go straight to the dead-letter queue ----------------------------------


PERMANENT_START_ERRORS = [
    ("GoneException", 410),
    ("UnprocessableEntityException", 422),
    ("BadRequestException", 400),
    ("ForbiddenException", 403),
    ("AccessDeniedException", 403),
]


@pytest.mark.parametrize(("code", "status"), PERMANENT_START_ERRORS)
def test_a_permanent_start_error_goes_straight_to_the_dead_letter_queue(
    handler: ModuleType,
    stubs: Stubs,
    state_aws: StateAws,
    sleeps: Any,
    caplog: pytest.LogCaptureFixture,
    code: str,
    status: int,
) -> None:
    stubs.chime.add_client_error(
        "start_speaker_search_task", service_error_code=code, http_status_code=status
    )
    event = n.sqs_event(n.analytics_ready())
    assert handler.handler(event, None) == {"batchItemFailures": []}  # done: not redelivered
    assert sleeps.delays == []  # not retried in-process
    [message] = state_aws.dead_letters()
    assert message["Body"] == event["Records"][0]["body"]  # unchanged, so a redrive works
    reason = message["MessageAttributes"]["failureReason"]["StringValue"]
    assert code in reason
    assert message["MessageAttributes"]["sourceMessageId"]["StringValue"] == "m-0"
    [line] = logged(caplog, "sent_to_dead_letter_queue", messageId="m-0")
    assert code in line.reason


@pytest.mark.parametrize(
    "code", ["AccessDeniedException", "MalformedDetail", "NotAuthorizedForSourceException"]
)
def test_a_put_events_entry_that_can_never_succeed_goes_straight_to_the_dead_letter_queue(
    handler: ModuleType, stubs: Stubs, state_aws: StateAws, sleeps: Any, code: str
) -> None:
    stubs.events.add_response(
        "put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": code, "ErrorMessage": "no"}]}
    )
    assert handler.handler(n.sqs_event(n.search_status()), None) == {"batchItemFailures": []}
    assert sleeps.delays == []
    [message] = state_aws.dead_letters()
    assert code in message["MessageAttributes"]["failureReason"]["StringValue"]


def test_transient_errors_keep_the_redelivery(
    handler: ModuleType, stubs: Stubs, state_aws: StateAws, sleeps: Any
) -> None:
    for _ in range(clients.MAX_ATTEMPTS):
        stubs.chime.add_client_error(
            "start_speaker_search_task", service_error_code="ServiceFailureException", http_status_code=500
        )
    assert handler.handler(n.sqs_event(n.analytics_ready()), None) == {
        "batchItemFailures": [{"itemIdentifier": "m-0"}]
    }
    assert len(sleeps.delays) == clients.MAX_ATTEMPTS - 1
    assert state_aws.dead_letters() == []


def test_not_found_is_redelivered_not_dead_lettered(
    handler: ModuleType, stubs: Stubs, state_aws: StateAws
) -> None:
    """A NotFound right after AnalyticsReady may be eventual consistency: SQS tries again."""
    stubs.chime.add_client_error(
        "start_speaker_search_task", service_error_code="NotFoundException", http_status_code=404
    )
    assert handler.handler(n.sqs_event(n.analytics_ready()), None) == {
        "batchItemFailures": [{"itemIdentifier": "m-0"}]
    }
    assert state_aws.dead_letters() == []


def test_malformed_bodies_go_straight_to_the_dead_letter_queue_beside_good_records(
    handler: ModuleType, stubs: Stubs, state_aws: StateAws
) -> None:
    stubs.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": "t-1"}}
    )
    event = n.sqs_event("not json", n.analytics_ready())
    assert handler.handler(event, None) == {"batchItemFailures": []}
    [message] = state_aws.dead_letters()
    assert message["Body"] == "not json"


def test_when_the_dead_letter_queue_refuses_the_record_is_redelivered_instead(
    handler: ModuleType, stubs: Stubs, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", state_aws.dead_letter_queue_url + "-missing")
    settings.reset()
    stubs.chime.add_client_error(
        "start_speaker_search_task", service_error_code="GoneException", http_status_code=410
    )
    assert handler.handler(n.sqs_event(n.analytics_ready()), None) == {
        "batchItemFailures": [{"itemIdentifier": "m-0"}]
    }


def test_the_raw_shape_still_raises_on_a_permanent_error(
    handler: ModuleType, stubs: Stubs, state_aws: StateAws
) -> None:
    stubs.chime.add_client_error(
        "start_speaker_search_task", service_error_code="GoneException", http_status_code=410
    )
    with pytest.raises(handler.NotificationFailedError):
        handler.handler(n.analytics_ready(), None)
    assert state_aws.dead_letters() == []  # Lambda's own async retry / DLQ handles the raw shape


def test_contention_until_the_deadline_still_leaves_time_to_release_the_attempt(
    handler: ModuleType, stubs: Stubs, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by bench/burst.py: 409s used up the deadline, the release could not be written, and
    the redelivery took the contention for our own task (a call ended unsearched). The starts now
    stop one write's time before the deadline."""
    clock = [0.0]
    monkeypatch.setattr(aws_calls, "_clock", lambda: clock[0])

    def two_seconds_each(**_: Any) -> None:
        clock[0] += 2.0

    clients.chime().meta.events.register(
        "before-parameter-build.chime-sdk-voice.StartSpeakerSearchTask", two_seconds_each
    )
    # 20 s left, 3 s margin: the deadline is at 17 s; an attempt costs 7 s (connect + read), so the
    # starts stop at 10 s: attempts at 0 s and 2 s fit, one at 4 s would not.
    for _ in range(2):
        stubs.chime.add_client_error("start_speaker_search_task", "ConflictException", http_status_code=409)
    context = FakeContext(20_000)
    assert handler.handler(n.sqs_event(n.analytics_ready()), context) == {
        "batchItemFailures": [{"itemIdentifier": "m-0"}]
    }
    [record] = start_records(state_aws)
    assert record["releasedId"] == record["attemptId"]  # released: no start of ours is in flight
    # The redelivery meets contention again: retried, not taken for our task.
    stubs.chime.add_client_error("start_speaker_search_task", "ConflictException", http_status_code=409)
    stubs.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": "t-1"}}
    )
    clock[0] = 100.0
    assert handler.handler(n.sqs_event(n.analytics_ready()), FakeContext(20_000)) == {"batchItemFailures": []}
    [record] = start_records(state_aws)
    assert (record["s"], record["taskId"]) == ({"S": "started"}, {"S": "t-1"})
