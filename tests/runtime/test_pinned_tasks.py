"""AnalyticsReady -> task starts (tasks.py), pinned field by field (issue 14, found by `make mutation`).

Log lines are part of the behaviour (operators query them, the audit trail relies on them), so each
test compares a record's whole set of ``extra`` fields, and the outcome's reason as the raw (Lambda
sink) shape returns or raises it. AWS is a botocore Stubber (requests validated against the model);
the state table is a small in-memory stand-in for ``state``'s start/call functions, so a test can
make it fail on purpose (moto-backed tests of the table itself live in test_start_rules.py).
"""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import aws_calls
import calls
import clients
import consent_state
import metrics
import pytest
import settings
import state
import task_index
import task_kinds
import tasks

from tests.runtime import notifications as n
from tests.runtime.helpers import Stubs, logged, reconfigure

#: LogRecord attributes that every record has; everything else came in through ``extra``.
STANDARD_ATTRIBUTES = set(vars(logging.LogRecord("n", 0, "p", 0, "m", None, None))) | {"message", "asctime"}

#: The ID fields of every log line about the AnalyticsReady of n.analytics_ready() (raw shape).
READY_IDS = {
    "searchId": "search-abc",
    "notificationId": "n-ready",
    "detailType": "VoiceAnalyticsStatus",
    "detailStatus": "AnalyticsReady",
    "voiceConnectorId": n.SERVED_CONNECTOR,
    "transactionId": "tx-1",
}
SEARCH_TOKEN = task_kinds.client_request_token(n.SERVED_CONNECTOR, "tx-1", "Caller")
TONE_TOKEN = task_kinds.client_request_token(
    n.SERVED_CONNECTOR, "tx-1", task_kinds.NO_CALL_LEG, task_kinds.VOICE_TONE
)


def extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in STANDARD_ATTRIBUTES}


def only(caplog: pytest.LogCaptureFixture, message: str) -> logging.LogRecord:
    [record] = logged(caplog, message)
    return record


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(metrics, "_out", buffer)
    return buffer


def emf_values(out: io.StringIO) -> dict[tuple[str, str | None], tuple[str, list[float]]]:
    """(metric, Status) -> (unit, values) over every EMF line written."""
    found: dict[tuple[str, str | None], tuple[str, list[float]]] = {}
    for line in out.getvalue().splitlines():
        record = json.loads(line)
        for metric in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = record[metric["Name"]]
            unit, values = found.setdefault((metric["Name"], record.get("Status")), (metric["Unit"], []))
            assert unit == metric["Unit"]
            values.extend(value if isinstance(value, list) else [value])
    return found


def error(stubs: Stubs, operation: str, code: str, status: int) -> None:
    stubs.chime.add_client_error(operation, service_error_code=code, http_status_code=status)


class FakeState:
    """The start and call records of ``state``, in memory; ``failing`` names functions that raise."""

    def __init__(self) -> None:
        self.starts: dict[str, state.StartRecord] = {}
        self.calls: dict[tuple[str, str], consent_state.CallRecord] = {}
        self.failing: set[str] = set()
        self.marked: list[tuple[str, str | None]] = []
        self.reads: list[str] = []  # get_start calls, by token
        self.indexed: dict[str, tuple[str, str]] = {}  # task ID -> (connector, transaction)
        self.released: list[str] = []  # release_start calls, by token

    def _check(self, name: str) -> None:
        if name in self.failing:
            raise state.StateError("ProvisionedThroughputExceededException", "still failing")

    def begin_start(
        self, table: str | None, token: str, deadline: Any, *, attempt_id: str = ""
    ) -> state.StartRecord | None:
        self._check("begin_start")
        prior = self.starts.get(token)
        if prior is None or prior.status != state.STARTED:
            released = prior.released_id if prior is not None else None
            self.starts[token] = state.StartRecord(state.ATTEMPTED, None, attempt_id, released)
        return prior

    def release_start(self, table: str | None, token: str, attempt_id: str, deadline: Any) -> bool:
        self._check("release_start")
        self.released.append(token)
        record = self.starts.get(token)
        if record is None or record.status != state.ATTEMPTED or record.attempt_id != attempt_id:
            return False
        self.starts[token] = record._replace(released_id=attempt_id)
        return True

    def get_start(self, table: str | None, token: str, deadline: Any) -> state.StartRecord | None:
        self.reads.append(token)
        self._check("get_start")
        return self.starts.get(token)

    def mark_started(self, table: str | None, token: str, task_id: str | None, deadline: Any) -> None:
        self._check("mark_started")
        self.marked.append((token, task_id))
        self.starts[token] = state.StartRecord(state.STARTED, task_id)

    def note_analytics_ready(self, table: str, vc: str, tx: str, deadline: Any) -> consent_state.CallRecord:
        self._check("note_analytics_ready")
        return self.calls.get((vc, tx), consent_state.CallRecord(None, None, None, ready=True))

    def record(
        self, table: str, task_id: str, *, voice_connector_id: str, transaction_id: str, **_: Any
    ) -> None:
        self._check("record")
        self.indexed.setdefault(task_id, (voice_connector_id, transaction_id))

    def get_call(self, table: str, vc: str, tx: str, deadline: Any) -> consent_state.CallRecord:
        self._check("get_call")
        return self.calls.get((vc, tx), consent_state.CallRecord(None, None, None, ready=True))


@pytest.fixture
def table(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> FakeState:
    fake = FakeState()
    for name in ("begin_start", "get_start", "mark_started", "release_start"):
        monkeypatch.setattr(state, name, getattr(fake, name))
    for name in ("note_analytics_ready", "get_call"):
        monkeypatch.setattr(consent_state, name, getattr(fake, name))
    monkeypatch.setattr(task_index, "record", fake.record)
    reconfigure(handler, monkeypatch, STATE_TABLE_NAME="speaker-search-state")
    return fake


def deadline() -> aws_calls.Deadline:
    return aws_calls.Deadline.after(30.0)


def assert_nothing_stopped(caplog: pytest.LogCaptureFixture) -> None:
    """No stop was attempted (a stop logs ..._stopped, or ..._stop_failed on the Stubber's refusal)."""
    assert not [r for r in caplog.records if r.getMessage().endswith(("_stopped", "_stop_failed"))]


# -- a start and its answers -------------------------------------------------------------------


def test_a_started_task_is_logged_with_every_field_and_counted_with_its_latency(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, emf: io.StringIO
) -> None:
    stubs.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": "t-7"}}
    )
    sent = datetime.now(UTC) - timedelta(seconds=5)

    note = n.analytics_ready()
    note["time"] = sent.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    outcome = handler.handler(note, None)

    assert outcome == {"outcome": "started", "reason": "speaker_search: task started"}
    assert extras(only(caplog, "speaker_search_started")) == {
        **READY_IDS,
        "callLeg": "Caller",
        "taskId": "t-7",
        "duplicate": False,
        "attempts": 1,
    }
    values = emf_values(emf)
    assert values[("SpeakerSearchStarted", None)] == ("Count", [1.0])
    unit, [latency] = values[("SpeakerSearchStartLatency", None)]
    assert unit == "Milliseconds"
    assert 5_000 <= latency < 65_000


def test_a_start_answer_without_a_task_still_counts_as_started_with_task_id_unknown(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both outputs' task objects are optional in the service model.
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    stubs.chime.add_response("start_speaker_search_task", {})
    stubs.chime.add_response("start_voice_tone_analysis_task", {})

    assert handler.handler(n.analytics_ready(), None)["outcome"] == "started"

    assert only(caplog, "speaker_search_started").taskId is None
    assert only(caplog, "voice_tone_started").taskId is None


def test_the_voice_tone_task_id_is_taken_from_its_start_answer(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    stubs.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": "t-1"}}
    )
    stubs.chime.add_response(
        "start_voice_tone_analysis_task", {"VoiceToneAnalysisTask": {"VoiceToneAnalysisTaskId": "tone-1"}}
    )

    outcome = handler.handler(n.analytics_ready(), None)

    assert outcome == {
        "outcome": "started",
        "reason": "speaker_search: task started; voice_tone: task started",
    }
    # Voice tone takes no call leg, so its log line has none.
    assert extras(only(caplog, "voice_tone_started")) == {
        **READY_IDS,
        "taskId": "tone-1",
        "duplicate": False,
        "attempts": 1,
    }


def test_a_conflict_after_an_earlier_attempt_of_ours_is_a_logged_and_counted_duplicate(
    handler: ModuleType, stubs: Stubs, table: FakeState, caplog: pytest.LogCaptureFixture, emf: io.StringIO
) -> None:
    table.starts[SEARCH_TOKEN] = state.StartRecord(state.ATTEMPTED, None, "earlier-delivery", None)
    error(stubs, "start_speaker_search_task", "ConflictException", 409)

    outcome = handler.handler(n.analytics_ready(), None)

    assert outcome == {
        "outcome": "duplicate",
        "reason": "speaker_search: task already running (ConflictException)",
    }
    assert extras(only(caplog, "speaker_search_started")) == {
        **READY_IDS,
        "callLeg": "Caller",
        "taskId": None,
        "duplicate": True,
        "attempts": 1,
        "reason": "task already running (ConflictException)",
    }
    assert emf_values(emf) == {("SpeakerSearchDuplicateStarts", None): ("Count", [1.0])}


@pytest.mark.parametrize(
    ("code", "status", "permanent"),
    [("BadRequestException", 400, True), ("NotFoundException", 404, False)],
)
def test_a_failed_start_is_logged_with_its_code_and_whether_it_is_permanent(
    handler: ModuleType,
    stubs: Stubs,
    caplog: pytest.LogCaptureFixture,
    emf: io.StringIO,
    code: str,
    status: int,
    permanent: bool,
) -> None:
    error(stubs, "start_speaker_search_task", code, status)

    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(n.analytics_ready(), None)

    assert str(raised.value) == f"speaker_search: {code}: not retryable"
    assert extras(only(caplog, "speaker_search_start_failed")) == {
        **READY_IDS,
        "callLeg": "Caller",
        "errorCode": code,
        "reason": "not retryable",
        "attempts": 1,
        "permanent": permanent,
    }
    assert emf_values(emf) == {("SpeakerSearchFailedStarts", None): ("Count", [1.0])}


def test_only_permanent_start_errors_send_the_record_to_the_dead_letter_queue(
    handler: ModuleType, stubs: Stubs, table: FakeState
) -> None:
    error(stubs, "start_speaker_search_task", "BadRequestException", 400)
    permanent = calls.start_call(
        n.SERVED_CONNECTOR,
        "tx-1",
        notification_time=None,
        settings=settings.get(),
        deadline=deadline(),
        fields={},
    )
    error(stubs, "start_speaker_search_task", "NotFoundException", 404)
    not_found = calls.start_call(
        n.SERVED_CONNECTOR,
        "tx-2",
        notification_time=None,
        settings=settings.get(),
        deadline=deadline(),
        fields={},
    )
    assert (permanent.kind, permanent.dead_letter) == ("failed", True)
    assert (not_found.kind, not_found.dead_letter) == ("failed", False)


def test_a_limit_answer_after_an_unanswered_start_is_unconfirmed_not_a_failed_start(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, emf: io.StringIO
) -> None:
    error(stubs, "start_speaker_search_task", "ServiceUnavailableException", 503)  # maybe started
    for _ in range(clients.MAX_ATTEMPTS - 1):
        error(stubs, "start_speaker_search_task", "ResourceLimitExceededException", 400)

    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(n.analytics_ready(), None)

    reason = f"still failing after {clients.MAX_ATTEMPTS} attempts"
    assert str(raised.value) == (
        f"speaker_search: ResourceLimitExceededException after an unanswered start: {reason}"
    )
    assert extras(only(caplog, "speaker_search_start_unconfirmed")) == {
        **READY_IDS,
        "callLeg": "Caller",
        "errorCode": "ResourceLimitExceededException",
        "reason": reason,
        "attempts": clients.MAX_ATTEMPTS,
    }
    assert not logged(caplog, "speaker_search_start_failed")
    assert emf_values(emf) == {}


def test_a_limit_answer_after_an_earlier_deliverys_attempt_is_unconfirmed(
    handler: ModuleType, stubs: Stubs, table: FakeState, caplog: pytest.LogCaptureFixture
) -> None:
    # An earlier delivery attempted this start and its outcome is unknown (state: attempted).
    table.starts[SEARCH_TOKEN] = state.StartRecord(state.ATTEMPTED, None)
    for _ in range(clients.MAX_ATTEMPTS):
        error(stubs, "start_speaker_search_task", "ResourceLimitExceededException", 400)
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(n.analytics_ready(), None)
    assert "after an unanswered start" in str(raised.value)
    assert only(caplog, "speaker_search_start_unconfirmed").attempts == clients.MAX_ATTEMPTS
    assert not logged(caplog, "speaker_search_start_failed")


def test_a_limit_answer_with_no_earlier_attempt_is_a_failed_start_for_redelivery(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(clients.MAX_ATTEMPTS):
        error(stubs, "start_speaker_search_task", "ResourceLimitExceededException", 400)
    outcome = calls.start_call(
        n.SERVED_CONNECTOR,
        "tx-1",
        notification_time=None,
        settings=settings.get(),
        deadline=deadline(),
        fields={},
    )
    assert (outcome.kind, outcome.dead_letter) == ("failed", False)
    assert only(caplog, "speaker_search_start_failed").permanent is False
    assert not logged(caplog, "speaker_search_start_unconfirmed")


def test_an_invalid_call_leg_fails_the_start_without_a_call(
    handler: ModuleType,
    stubs: Stubs,
    caplog: pytest.LogCaptureFixture,
    emf: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reconfigure(handler, monkeypatch, CALL_LEG="Nobody")
    why = settings.get().start_error
    assert why

    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(n.analytics_ready(), None)

    assert str(raised.value) == f"invalid configuration: {why}"
    assert extras(only(caplog, "speaker_search_start_failed")) == {
        **READY_IDS,
        "reason": f"invalid configuration: {why}",
        "attempts": 0,
    }
    assert emf_values(emf) == {("SpeakerSearchFailedStarts", None): ("Count", [1.0])}


def test_consent_required_without_a_state_table_is_an_invalid_configuration(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconfigure(handler, monkeypatch, REQUIRE_CONSENT="true")

    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(n.analytics_ready(), None)

    assert str(raised.value) == "invalid configuration: REQUIRE_CONSENT needs STATE_TABLE_NAME"
    assert extras(only(caplog, "invalid_configuration")) == {
        **READY_IDS,
        "reason": "REQUIRE_CONSENT needs STATE_TABLE_NAME",
    }


# -- the state table's part ----------------------------------------------------------------------


def test_a_started_record_makes_the_start_a_duplicate_without_a_call(
    handler: ModuleType, stubs: Stubs, table: FakeState, caplog: pytest.LogCaptureFixture, emf: io.StringIO
) -> None:
    table.starts[SEARCH_TOKEN] = state.StartRecord(state.STARTED, "t-old")

    outcome = handler.handler(n.analytics_ready(), None)

    assert outcome == {"outcome": "duplicate", "reason": "speaker_search: already started (state table)"}
    assert extras(only(caplog, "speaker_search_started")) == {
        **READY_IDS,
        "callLeg": "Caller",
        "taskId": "t-old",
        "duplicate": True,
        "attempts": 0,
        "reason": "already started (state table)",
    }
    assert emf_values(emf) == {("SpeakerSearchDuplicateStarts", None): ("Count", [1.0])}


def test_a_task_recorded_between_retries_ends_the_start_as_a_duplicate(
    handler: ModuleType, stubs: Stubs, table: FakeState, caplog: pytest.LogCaptureFixture
) -> None:
    def limit_then_seen(**_: Any) -> None:
        table.starts[SEARCH_TOKEN] = state.StartRecord(state.STARTED, "t-seen")

    stubs.chime.add_client_error(
        "start_speaker_search_task", service_error_code="ResourceLimitExceededException", http_status_code=400
    )
    clients.chime().meta.events.register(
        "before-parameter-build.chime-sdk-voice.StartSpeakerSearchTask", limit_then_seen
    )

    outcome = handler.handler(n.analytics_ready(), None)

    assert outcome == {"outcome": "duplicate", "reason": "speaker_search: started meanwhile"}
    record = only(caplog, "speaker_search_started")
    # The second attempt found the record before calling AWS; it still counts as an attempt.
    assert (record.taskId, record.duplicate, record.attempts) == ("t-seen", True, 2)


def test_a_state_table_that_cannot_be_read_between_retries_leaves_the_decision_to_aws(
    handler: ModuleType, stubs: Stubs, table: FakeState
) -> None:
    table.failing.add("get_start")
    error(stubs, "start_speaker_search_task", "ThrottledClientException", 429)
    stubs.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": "t-2"}}
    )

    assert handler.handler(n.analytics_ready(), None)["outcome"] == "started"
    assert table.marked == [(SEARCH_TOKEN, "t-2")]


@pytest.mark.parametrize("failing", ["begin_start", "mark_started"])
def test_a_state_table_outage_around_a_start_is_logged_and_the_start_still_counts(
    handler: ModuleType, stubs: Stubs, table: FakeState, caplog: pytest.LogCaptureFixture, failing: str
) -> None:
    table.failing.add(failing)
    stubs.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": "t-3"}}
    )

    assert handler.handler(n.analytics_ready(), None) == {
        "outcome": "started",
        "reason": "speaker_search: task started",
    }
    assert extras(only(caplog, "start_state_unavailable")) == {
        **READY_IDS,
        "callLeg": "Caller",
        "errorCode": "ProvisionedThroughputExceededException",
    }


def test_a_conflict_after_an_earlier_attempt_records_the_task_as_started_without_an_id(
    handler: ModuleType, stubs: Stubs, table: FakeState
) -> None:
    table.starts[SEARCH_TOKEN] = state.StartRecord(state.ATTEMPTED, None, "earlier-delivery", None)
    error(stubs, "start_speaker_search_task", "ConflictException", 409)
    handler.handler(n.analytics_ready(), None)
    assert table.marked == [(SEARCH_TOKEN, None)]
    assert table.released == []


def test_a_first_conflict_is_contention_retried_with_the_same_token(
    handler: ModuleType, stubs: Stubs, table: FakeState, caplog: pytest.LogCaptureFixture, sleeps: Any
) -> None:
    """One concurrent call per voice profile domain: a 409 on our first start is someone else's call."""
    token = {"ClientRequestToken": SEARCH_TOKEN}
    stubs.chime.add_client_error(
        "start_speaker_search_task", "ConflictException", http_status_code=409, expected_params=None
    )
    stubs.chime.add_response(
        "start_speaker_search_task",
        {"SpeakerSearchTask": {"SpeakerSearchTaskId": "t-1"}},
        {
            "VoiceConnectorId": n.SERVED_CONNECTOR,
            "TransactionId": "tx-1",
            "VoiceProfileDomainId": "vpd-0123456789",
            "CallLeg": "Caller",
            **token,
        },
    )
    assert handler.handler(n.analytics_ready(), None) == {
        "outcome": "started",
        "reason": "speaker_search: task started",
    }
    assert extras(only(caplog, "speaker_search_started"))["attempts"] == 2
    assert len(sleeps.delays) == 1
    assert table.marked == [(SEARCH_TOKEN, "t-1")]


@pytest.mark.parametrize("prior", ["none", "released"])
def test_a_conflict_that_lasts_fails_the_record_for_redelivery_and_releases_the_attempt(
    handler: ModuleType, stubs: Stubs, table: FakeState, caplog: pytest.LogCaptureFixture, prior: str
) -> None:
    if prior == "released":  # an earlier delivery's attempt ended without a task: not ours to wait for
        table.starts[SEARCH_TOKEN] = state.StartRecord(state.ATTEMPTED, None, "earlier", "earlier")
    for _ in range(clients.MAX_ATTEMPTS):
        error(stubs, "start_speaker_search_task", "ConflictException", 409)
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(n.analytics_ready(), None)
    assert str(raised.value) == "speaker_search: ConflictException: still failing after 8 attempts"
    failed = only(caplog, "speaker_search_start_failed")
    assert (failed.errorCode, failed.permanent) == ("ConflictException", False)  # redelivered, not the DLQ
    assert table.released == [SEARCH_TOKEN]
    assert table.starts[SEARCH_TOKEN].outstanding is False  # so the redelivery's 409 is contention again


def test_a_conflict_after_an_unanswered_attempt_in_this_invocation_is_a_duplicate(
    handler: ModuleType, stubs: Stubs, table: FakeState
) -> None:
    error(stubs, "start_speaker_search_task", "ServiceFailureException", 500)  # maybe it started
    error(stubs, "start_speaker_search_task", "ConflictException", 409)  # then: our own first attempt
    assert handler.handler(n.analytics_ready(), None)["outcome"] == "duplicate"
    assert table.released == []  # not released: that attempt may hold the task


def test_a_status_notification_records_its_task_as_started(handler: ModuleType, table: FakeState) -> None:
    calls.note_task_seen(
        task_kinds.VOICE_TONE,
        n.SERVED_CONNECTOR,
        "tx-1",
        None,
        "tone-9",
        settings=settings.get(),
        deadline=deadline(),
    )
    assert table.marked == [(TONE_TOKEN, "tone-9")]


@pytest.mark.parametrize(
    ("connector", "transaction", "leg", "task"),
    [
        (None, "tx-1", "Caller", "t-1"),
        (n.SERVED_CONNECTOR, None, "Caller", "t-1"),
        (n.SERVED_CONNECTOR, "tx-1", "Caller", None),
        (n.SERVED_CONNECTOR, "tx-1", None, "t-1"),  # no call leg: the search's token is unknown
    ],
    ids=["no-connector", "no-transaction", "no-task", "no-leg"],
)
def test_a_status_notification_without_what_makes_the_token_records_nothing(
    handler: ModuleType,
    table: FakeState,
    connector: str | None,
    transaction: str | None,
    leg: str | None,
    task: str | None,
) -> None:
    calls.note_task_seen(
        task_kinds.SPEAKER_SEARCH,
        connector,
        transaction,
        leg,
        task,
        settings=settings.get(),
        deadline=deadline(),
    )
    assert table.marked == []


def test_a_status_notification_without_a_state_table_records_nothing(
    handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(state, "mark_started", lambda *args: seen.append(args))
    calls.note_task_seen(
        task_kinds.SPEAKER_SEARCH,
        n.SERVED_CONNECTOR,
        "tx-1",
        "Caller",
        "t-1",
        settings=settings.get(),
        deadline=deadline(),
    )
    assert seen == []


def test_a_status_notification_that_cannot_be_recorded_is_published_and_logged(
    handler: ModuleType, stubs: Stubs, table: FakeState, caplog: pytest.LogCaptureFixture
) -> None:
    """Without consent or enrollment nothing reads the index: the evidence is best effort."""
    table.failing.add("mark_started")
    stubs.events.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e"}]})
    assert handler.handler(n.search_status(task_id="t-1"), None)["outcome"] == "published"
    assert (
        extras(only(caplog, "start_state_unavailable"))["errorCode"]
        == "ProvisionedThroughputExceededException"
    )
    assert table.indexed == {}  # not indexed either: nothing would read it


@pytest.mark.parametrize("feature", ["REQUIRE_CONSENT", "ENABLE_ENROLLMENT"])
def test_a_status_that_cannot_be_indexed_fails_when_consent_or_enrollment_reads_the_index(
    handler: ModuleType,
    stubs: Stubs,
    table: FakeState,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    feature: str,
) -> None:
    reconfigure(handler, monkeypatch, **{feature: "true"})
    table.failing.add("record")
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(n.search_status(task_id="t-1"), None)
    assert str(raised.value) == "state table: ProvisionedThroughputExceededException"
    assert only(caplog, "result_state_failed").errorCode == "ProvisionedThroughputExceededException"
    assert stubs.published_details() == []


# -- consent gate: what AnalyticsReady does with the call's consent ------------------------------


@pytest.fixture
def gate(table: FakeState, monkeypatch: pytest.MonkeyPatch, handler: ModuleType) -> FakeState:
    reconfigure(handler, monkeypatch, REQUIRE_CONSENT="true")
    return table


def test_without_a_decision_the_call_waits_for_consent(
    handler: ModuleType, stubs: Stubs, gate: FakeState, caplog: pytest.LogCaptureFixture
) -> None:
    reason = "waiting for consent (the call starts when it is granted)"
    assert handler.handler(n.analytics_ready(), None) == {"outcome": "skipped", "reason": reason}
    record = only(caplog, "notification_skipped")
    assert (record.levelno, extras(record)) == (logging.INFO, {**READY_IDS, "reason": reason})


def test_a_declined_call_is_skipped_with_its_consent_reference_and_counted(
    handler: ModuleType, stubs: Stubs, gate: FakeState, caplog: pytest.LogCaptureFixture, emf: io.StringIO
) -> None:
    gate.calls[(n.SERVED_CONNECTOR, "tx-1")] = consent_state.CallRecord(
        state.DECLINED, "ivr-7", None, ready=True
    )

    assert handler.handler(n.analytics_ready(), None) == {"outcome": "skipped", "reason": "consent declined"}

    record = only(caplog, "notification_skipped")
    assert (record.levelno, extras(record)) == (
        logging.INFO,
        {**READY_IDS, "consentReference": "ivr-7", "reason": "consent declined"},
    )
    assert emf_values(emf) == {("CallsNotSearched", "declined"): ("Count", [1.0])}


def test_a_consent_state_that_cannot_be_read_fails_the_record(
    handler: ModuleType, stubs: Stubs, gate: FakeState, caplog: pytest.LogCaptureFixture
) -> None:
    gate.failing.add("note_analytics_ready")
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(n.analytics_ready(), None)
    assert str(raised.value) == "state table: ProvisionedThroughputExceededException"
    assert extras(only(caplog, "consent_state_failed")) == {
        **READY_IDS,
        "errorCode": "ProvisionedThroughputExceededException",
    }


def _decline_during_the_start(gate: FakeState, stubs: Stubs) -> None:
    """Consent is granted when the notification is read and declined while task t-5 starts."""
    gate.calls[(n.SERVED_CONNECTOR, "tx-1")] = consent_state.CallRecord(
        state.GRANTED, "ivr-1", None, ready=True
    )

    def decline_meanwhile(**_: Any) -> None:
        gate.calls[(n.SERVED_CONNECTOR, "tx-1")] = consent_state.CallRecord(
            state.DECLINED, "ivr-1", None, ready=True
        )

    clients.chime().meta.events.register(
        "before-parameter-build.chime-sdk-voice.StartSpeakerSearchTask", decline_meanwhile
    )
    stubs.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": "t-5"}}
    )


def _expect_stop(stubs: Stubs, task_id: str) -> None:
    """The next StopSpeakerSearchTask must name ``task_id`` on the served connector, and succeeds."""
    stubs.chime.add_response(
        "stop_speaker_search_task",
        {},
        expected_params={"VoiceConnectorId": n.SERVED_CONNECTOR, "SpeakerSearchTaskId": task_id},
    )


def test_a_decline_read_after_the_start_stops_the_new_task(
    handler: ModuleType, stubs: Stubs, gate: FakeState
) -> None:
    _decline_during_the_start(gate, stubs)
    _expect_stop(stubs, "t-5")
    assert handler.handler(n.analytics_ready(), None)["outcome"] == "started"


def test_a_failed_stop_after_a_racing_decline_fails_the_record_and_the_redelivery_stops_the_task(
    handler: ModuleType, stubs: Stubs, gate: FakeState, caplog: pytest.LogCaptureFixture
) -> None:
    """A declined caller's search must not keep running because one stop was throttled."""
    _decline_during_the_start(gate, stubs)
    error(stubs, "stop_speaker_search_task", "AccessDeniedException", 403)
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(n.analytics_ready(), None)
    assert str(raised.value) == (
        "consent declined during the start; speaker_search: AccessDeniedException: not retryable"
    )
    # The redelivery finds the gate declined and stops the task before it skips the call.
    _expect_stop(stubs, "t-5")
    assert handler.handler(n.analytics_ready(), None) == {"outcome": "skipped", "reason": "consent declined"}
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("speaker_search_stop")] == [
        "speaker_search_stop_failed",
        "speaker_search_stopped",
    ]


def test_a_declined_call_whose_stop_fails_again_is_redelivered_again(
    handler: ModuleType, stubs: Stubs, gate: FakeState, emf: io.StringIO
) -> None:
    gate.calls[(n.SERVED_CONNECTOR, "tx-1")] = consent_state.CallRecord(
        state.DECLINED, "ivr-1", None, ready=True
    )
    gate.starts[SEARCH_TOKEN] = state.StartRecord(state.STARTED, "t-5")
    error(stubs, "stop_speaker_search_task", "AccessDeniedException", 403)
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(n.analytics_ready(), None)
    assert str(raised.value) == "speaker_search: AccessDeniedException: not retryable"
    assert emf_values(emf) == {}  # counted as not searched only once its tasks are stopped


def test_a_status_naming_a_task_already_known_stops_nothing(
    handler: ModuleType,
    stubs: Stubs,
    gate: FakeState,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The start recorded t-5 and the decline handler stopped what it knew: the status naming t-5
    # again (not its first sight) must not stop anything a second time.
    gate.calls[(n.SERVED_CONNECTOR, "tx-1")] = consent_state.CallRecord(
        state.DECLINED, "ivr-1", None, ready=True
    )
    gate.starts[SEARCH_TOKEN] = state.StartRecord(state.STARTED, "t-5")
    monkeypatch.setattr(state, "mark_started", lambda *_: False)  # the task ID was recorded before
    calls.note_task_seen(
        task_kinds.SPEAKER_SEARCH,
        n.SERVED_CONNECTOR,
        "tx-1",
        "Caller",
        "t-5",
        settings=settings.get(),
        deadline=deadline(),
    )
    assert_nothing_stopped(caplog)


@pytest.mark.parametrize("later", ["granted", "unreadable"])
def test_after_the_start_only_a_readable_decline_stops_the_task(
    handler: ModuleType, stubs: Stubs, gate: FakeState, later: str, caplog: pytest.LogCaptureFixture
) -> None:
    gate.calls[(n.SERVED_CONNECTOR, "tx-1")] = consent_state.CallRecord(
        state.GRANTED, "ivr-1", None, ready=True
    )
    if later == "unreadable":
        gate.failing.add("get_call")
    stubs.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": "t-5"}}
    )
    assert handler.handler(n.analytics_ready(), None)["outcome"] == "started"
    assert_nothing_stopped(caplog)


# -- stopping a call's tasks (consent declined) ----------------------------------------------------


def stop(fields: dict[str, Any] | None = None) -> Any:
    return calls.stop_call(
        n.SERVED_CONNECTOR, "tx-1", settings=settings.get(), deadline=deadline(), fields=fields or {}
    )


def test_without_a_state_table_there_is_nothing_to_stop(handler: ModuleType, stubs: Stubs) -> None:
    assert stop() == tasks.Outcome("skipped", "nothing to stop")


def test_every_started_task_of_the_call_is_stopped_by_its_id(
    handler: ModuleType,
    stubs: Stubs,
    table: FakeState,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    table.starts[SEARCH_TOKEN] = state.StartRecord(state.STARTED, "t-1")
    table.starts[TONE_TOKEN] = state.StartRecord(state.STARTED, "tone-1")
    _expect_stop(stubs, "t-1")
    stubs.chime.add_response(
        "stop_voice_tone_analysis_task",
        {},
        expected_params={"VoiceConnectorId": n.SERVED_CONNECTOR, "VoiceToneAnalysisTaskId": "tone-1"},
    )

    assert stop({"messageId": "m-1"}) == tasks.Outcome("skipped", "tasks stopped")

    assert extras(only(caplog, "speaker_search_stopped")) == {
        "messageId": "m-1",
        "taskId": "t-1",
        "alreadyEnded": False,
    }
    assert extras(only(caplog, "voice_tone_stopped")) == {
        "messageId": "m-1",
        "taskId": "tone-1",
        "alreadyEnded": False,
    }


def test_with_an_invalid_call_leg_the_voice_tone_task_is_still_stopped(
    handler: ModuleType, stubs: Stubs, table: FakeState, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true", CALL_LEG="Nobody")
    table.starts[TONE_TOKEN] = state.StartRecord(state.STARTED, "tone-1")
    stubs.chime.add_response(
        "stop_voice_tone_analysis_task",
        {},
        expected_params={"VoiceConnectorId": n.SERVED_CONNECTOR, "VoiceToneAnalysisTaskId": "tone-1"},
    )
    assert stop() == tasks.Outcome("skipped", "tasks stopped")


def test_tasks_never_started_or_started_without_an_id_are_not_stopped(
    handler: ModuleType,
    stubs: Stubs,
    table: FakeState,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    table.starts[TONE_TOKEN] = state.StartRecord(state.STARTED, None)  # the start answered Conflict
    # The speaker search has no record at; no stop call is queued, so the Stubber fails any.

    assert stop({"messageId": "m-1"}) == tasks.Outcome("skipped", "tasks stopped")

    assert extras(only(caplog, "voice_tone_task_not_stoppable")) == {
        "messageId": "m-1",
        "reason": "task ID unknown",
    }
    assert not logged(caplog, "speaker_search_task_not_stoppable")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("NotFoundException", 404),
        ("ConflictException", 409),
        ("BadRequestException", 400),
        ("GoneException", 410),
    ],
)
def test_a_task_that_already_ended_counts_as_stopped(
    handler: ModuleType,
    stubs: Stubs,
    table: FakeState,
    caplog: pytest.LogCaptureFixture,
    code: str,
    status: int,
) -> None:
    table.starts[SEARCH_TOKEN] = state.StartRecord(state.STARTED, "t-1")
    error(stubs, "stop_speaker_search_task", code, status)

    assert stop({"messageId": "m-1"}) == tasks.Outcome("skipped", "tasks stopped")

    assert extras(only(caplog, "speaker_search_stopped")) == {
        "messageId": "m-1",
        "taskId": "t-1",
        "alreadyEnded": True,
    }


def test_a_stop_that_fails_fails_the_decline_and_the_next_kind_is_still_stopped(
    handler: ModuleType,
    stubs: Stubs,
    table: FakeState,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    table.starts[SEARCH_TOKEN] = state.StartRecord(state.STARTED, "t-1")
    table.starts[TONE_TOKEN] = state.StartRecord(state.STARTED, "tone-1")
    error(stubs, "stop_speaker_search_task", "AccessDeniedException", 403)
    stubs.chime.add_response("stop_voice_tone_analysis_task", {})

    assert stop({"messageId": "m-1"}) == tasks.Outcome(
        "failed", "speaker_search: AccessDeniedException: not retryable"
    )

    assert extras(only(caplog, "speaker_search_stop_failed")) == {
        "messageId": "m-1",
        "taskId": "t-1",
        "errorCode": "AccessDeniedException",
    }
    assert only(caplog, "voice_tone_stopped").taskId == "tone-1"


def test_a_start_record_that_cannot_be_read_fails_the_decline_and_the_next_kind_is_still_stopped(
    handler: ModuleType, stubs: Stubs, table: FakeState, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    table.starts[TONE_TOKEN] = state.StartRecord(state.STARTED, "tone-1")
    real_get_start = table.get_start

    def get_start(table_name: str | None, token: str, deadline: Any) -> state.StartRecord | None:
        if token == SEARCH_TOKEN:
            raise state.StateError("InternalServerError", "down")
        return real_get_start(table_name, token, deadline)

    monkeypatch.setattr(state, "get_start", get_start)
    stubs.chime.add_response("stop_voice_tone_analysis_task", {})

    assert stop() == tasks.Outcome("failed", "speaker_search: state table: InternalServerError")


# -- start_call: shares of the deadline and the combined outcome ---------------------------------


class Recorder:
    """Stands in for tasks.start_task: records each kind's deadline, answers what it is told."""

    def __init__(self, answers: dict[str, tasks.Outcome]) -> None:
        self.answers = answers
        self.deadlines: dict[str, float] = {}

    def __call__(self, kind: task_kinds.TaskKind, **kwargs: Any) -> tasks.Outcome:
        self.deadlines[kind.name] = kwargs["deadline"].at
        return self.answers[kind.name]


def start_call_with(
    monkeypatch: pytest.MonkeyPatch, handler: ModuleType, search: tasks.Outcome, tone: tasks.Outcome
) -> tasks.Outcome:
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    monkeypatch.setattr(tasks, "start_task", Recorder({"speaker_search": search, "voice_tone": tone}))
    return calls.start_call(
        n.SERVED_CONNECTOR,
        "tx-1",
        notification_time=None,
        settings=settings.get(),
        deadline=deadline(),
        fields={},
    )


def test_each_kind_gets_an_equal_share_of_the_time_left_and_the_last_one_all_of_it(
    handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aws_calls, "_clock", lambda: 100.0)
    recorder = Recorder(
        {"speaker_search": tasks.Outcome("started", "a"), "voice_tone": tasks.Outcome("started", "b")}
    )
    monkeypatch.setattr(tasks, "start_task", recorder)
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")

    calls.start_call(
        n.SERVED_CONNECTOR,
        "tx-1",
        notification_time=None,
        settings=settings.get(),
        deadline=aws_calls.Deadline(130.0),
        fields={},
    )

    assert recorder.deadlines == {"speaker_search": 115.0, "voice_tone": 130.0}


S, D, K = (
    tasks.Outcome("started", "s: ok"),
    tasks.Outcome("duplicate", "s: dup"),
    tasks.Outcome("skipped", "s: skip"),
)


@pytest.mark.parametrize(
    ("search", "tone", "expected"),
    [
        (S, D, tasks.Outcome("started", "s: ok; s: dup")),
        (D, D, tasks.Outcome("duplicate", "s: dup; s: dup")),
        (D, K, tasks.Outcome("duplicate", "s: dup; s: skip")),
        (K, K, tasks.Outcome("skipped", "s: skip; s: skip")),
        (K, S, tasks.Outcome("started", "s: skip; s: ok")),
        (
            tasks.Outcome("failed", "a", dead_letter=True),
            tasks.Outcome("failed", "b", dead_letter=True),
            tasks.Outcome("failed", "a; b", dead_letter=True),
        ),
        (
            tasks.Outcome("failed", "a", dead_letter=True),
            tasks.Outcome("failed", "b"),
            tasks.Outcome("failed", "a; b"),
        ),
        (S, tasks.Outcome("failed", "b", dead_letter=True), tasks.Outcome("failed", "b", dead_letter=True)),
    ],
)
def test_the_call_outcome_combines_the_kinds_outcomes(
    handler: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    search: tasks.Outcome,
    tone: tasks.Outcome,
    expected: tasks.Outcome,
) -> None:
    assert start_call_with(monkeypatch, handler, search, tone) == expected


# -- small pure pieces ---------------------------------------------------------------------------


def test_start_latency_is_measured_from_an_iso_notification_time() -> None:
    now = datetime.now(UTC)
    for text in (
        (now - timedelta(seconds=100)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        (now - timedelta(seconds=100)).isoformat(),
    ):
        latency = tasks._milliseconds_since(text)
        assert latency is not None
        assert 99_000 <= latency < 160_000
    assert tasks._milliseconds_since((now + timedelta(seconds=100)).isoformat()) == 0.0  # clock skew


@pytest.mark.parametrize("value", [None, 1714564800, "yesterday", "2024-05-01T12:00:00"])
def test_start_latency_is_unknown_without_a_zoned_iso_time(value: Any) -> None:
    assert tasks._milliseconds_since(value) is None


def test_the_task_kinds_follow_the_voice_tone_setting(
    handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert task_kinds.task_kinds(settings.get()) == (task_kinds.SPEAKER_SEARCH,)
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    assert task_kinds.task_kinds(settings.get()) == (task_kinds.SPEAKER_SEARCH, task_kinds.VOICE_TONE)


def test_kind_tokens_use_the_call_leg_only_where_the_kind_takes_one() -> None:
    assert task_kinds.kind_token(
        task_kinds.SPEAKER_SEARCH, "vc-one", "tx-1", "Callee"
    ) == task_kinds.client_request_token("vc-one", "tx-1", "Callee")
    assert task_kinds.kind_token(task_kinds.SPEAKER_SEARCH, "vc-one", "tx-1", None) is None
    assert task_kinds.kind_token(task_kinds.VOICE_TONE, "vc-one", "tx-1", None) == TONE_TOKEN
    assert task_kinds.kind_token(task_kinds.VOICE_TONE, "vc-one", "tx-1", "Callee") == TONE_TOKEN


def test_with_the_gate_off_a_recorded_decline_stops_nothing(
    handler: ModuleType, stubs: Stubs, table: FakeState, caplog: pytest.LogCaptureFixture
) -> None:
    # REQUIRE_CONSENT is off: consent records (say from before it was turned off) are not read.
    table.calls[(n.SERVED_CONNECTOR, "tx-1")] = consent_state.CallRecord(
        state.DECLINED, "ivr-1", None, ready=True
    )
    stubs.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": "t-5"}}
    )
    assert handler.handler(n.analytics_ready(), None)["outcome"] == "started"
    assert_nothing_stopped(caplog)


def test_a_decline_after_starts_that_were_all_duplicates_stops_nothing(
    handler: ModuleType,
    stubs: Stubs,
    gate: FakeState,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The decline handler stops what the table knows; this delivery started nothing new.
    gate.calls[(n.SERVED_CONNECTOR, "tx-1")] = consent_state.CallRecord(
        state.GRANTED, "ivr-1", None, ready=True
    )
    gate.starts[SEARCH_TOKEN] = state.StartRecord(state.STARTED, "t-old")
    monkeypatch.setattr(
        consent_state,
        "get_call",
        lambda *_: consent_state.CallRecord(state.DECLINED, "ivr-1", None, ready=True),
    )
    assert handler.handler(n.analytics_ready(), None)["outcome"] == "duplicate"
    assert_nothing_stopped(caplog)


def test_a_decline_after_one_of_two_starts_stops_the_started_one(
    handler: ModuleType, stubs: Stubs, gate: FakeState, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    gate.calls[(n.SERVED_CONNECTOR, "tx-1")] = consent_state.CallRecord(
        state.GRANTED, "ivr-1", None, ready=True
    )
    gate.starts[SEARCH_TOKEN] = state.StartRecord(state.STARTED, "t-old")  # a duplicate this time
    stubs.chime.add_response(
        "start_voice_tone_analysis_task", {"VoiceToneAnalysisTask": {"VoiceToneAnalysisTaskId": "tone-1"}}
    )
    monkeypatch.setattr(
        consent_state,
        "get_call",
        lambda *_: consent_state.CallRecord(state.DECLINED, "ivr-1", None, ready=True),
    )
    _expect_stop(stubs, "t-old")
    stubs.chime.add_response(
        "stop_voice_tone_analysis_task",
        {},
        expected_params={"VoiceConnectorId": n.SERVED_CONNECTOR, "VoiceToneAnalysisTaskId": "tone-1"},
    )
    assert handler.handler(n.analytics_ready(), None)["outcome"] == "started"


def test_a_kind_never_started_does_not_keep_the_next_from_being_stopped(
    handler: ModuleType, stubs: Stubs, table: FakeState, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    table.starts[TONE_TOKEN] = state.StartRecord(state.STARTED, "tone-1")  # no search record
    stubs.chime.add_response(
        "stop_voice_tone_analysis_task",
        {},
        expected_params={"VoiceConnectorId": n.SERVED_CONNECTOR, "VoiceToneAnalysisTaskId": "tone-1"},
    )
    assert stop() == tasks.Outcome("skipped", "tasks stopped")


def test_a_task_without_a_known_id_does_not_keep_the_next_from_being_stopped(
    handler: ModuleType,
    stubs: Stubs,
    table: FakeState,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    table.starts[SEARCH_TOKEN] = state.StartRecord(state.STARTED, None)  # started, answered 409
    table.starts[TONE_TOKEN] = state.StartRecord(state.STARTED, "tone-1")
    stubs.chime.add_response(
        "stop_voice_tone_analysis_task",
        {},
        expected_params={"VoiceConnectorId": n.SERVED_CONNECTOR, "VoiceToneAnalysisTaskId": "tone-1"},
    )
    assert stop() == tasks.Outcome("skipped", "tasks stopped")
    assert only(caplog, "speaker_search_task_not_stoppable").reason == "task ID unknown"


def test_a_task_that_already_ended_does_not_keep_the_next_from_being_stopped(
    handler: ModuleType, stubs: Stubs, table: FakeState, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    table.starts[SEARCH_TOKEN] = state.StartRecord(state.STARTED, "t-1")
    table.starts[TONE_TOKEN] = state.StartRecord(state.STARTED, "tone-1")
    error(stubs, "stop_speaker_search_task", "NotFoundException", 404)
    stubs.chime.add_response(
        "stop_voice_tone_analysis_task",
        {},
        expected_params={"VoiceConnectorId": n.SERVED_CONNECTOR, "VoiceToneAnalysisTaskId": "tone-1"},
    )
    assert stop() == tasks.Outcome("skipped", "tasks stopped")


def test_every_failed_stop_is_named_in_the_reason(
    handler: ModuleType, stubs: Stubs, table: FakeState, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    table.starts[SEARCH_TOKEN] = state.StartRecord(state.STARTED, "t-1")
    table.starts[TONE_TOKEN] = state.StartRecord(state.STARTED, "tone-1")
    error(stubs, "stop_speaker_search_task", "AccessDeniedException", 403)
    error(stubs, "stop_voice_tone_analysis_task", "ForbiddenException", 403)
    assert stop() == tasks.Outcome(
        "failed",
        "speaker_search: AccessDeniedException: not retryable; voice_tone: ForbiddenException: not retryable",
    )


def test_a_throttled_stop_is_retried_under_its_operation_name(
    handler: ModuleType, stubs: Stubs, table: FakeState, caplog: pytest.LogCaptureFixture
) -> None:
    table.starts[SEARCH_TOKEN] = state.StartRecord(state.STARTED, "t-1")
    error(stubs, "stop_speaker_search_task", "ThrottledClientException", 429)
    stubs.chime.add_response("stop_speaker_search_task", {})
    assert stop() == tasks.Outcome("skipped", "tasks stopped")
    [retry] = logged(caplog, "aws_call_retrying")
    assert retry.operation == "StopSpeakerSearchTask"


def test_a_conflict_that_cannot_be_recorded_is_logged_and_still_a_duplicate(
    handler: ModuleType, stubs: Stubs, table: FakeState, caplog: pytest.LogCaptureFixture
) -> None:
    table.failing.add("mark_started")
    table.starts[SEARCH_TOKEN] = state.StartRecord(state.ATTEMPTED, None, "earlier-delivery", None)
    error(stubs, "start_speaker_search_task", "ConflictException", 409)
    assert handler.handler(n.analytics_ready(), None)["outcome"] == "duplicate"
    assert extras(only(caplog, "start_state_unavailable")) == {
        **READY_IDS,
        "callLeg": "Caller",
        "errorCode": "ProvisionedThroughputExceededException",
    }


def test_the_start_record_is_read_again_only_before_a_retry(
    handler: ModuleType, stubs: Stubs, table: FakeState
) -> None:
    stubs.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": "t-1"}}
    )
    assert handler.handler(n.analytics_ready(), None)["outcome"] == "started"
    assert table.reads == []

    error(stubs, "start_speaker_search_task", "ThrottledClientException", 429)
    stubs.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": "t-2"}}
    )
    assert handler.handler(n.analytics_ready("tx-2"), None)["outcome"] == "started"
    assert table.reads == [task_kinds.client_request_token(n.SERVED_CONNECTOR, "tx-2", "Caller")]


def test_a_state_table_that_failed_before_the_start_is_not_read_between_retries(
    handler: ModuleType, stubs: Stubs, table: FakeState
) -> None:
    table.failing.add("begin_start")
    error(stubs, "start_speaker_search_task", "ThrottledClientException", 429)
    stubs.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": "t-1"}}
    )
    assert handler.handler(n.analytics_ready(), None)["outcome"] == "started"
    assert table.reads == []


@pytest.mark.parametrize("code", sorted(tasks.CALL_ENDED_CODES))
def test_a_start_after_a_late_consent_that_finds_the_call_over_is_a_counted_skip(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, emf: io.StringIO, code: str
) -> None:
    status = {
        "NotFoundException": 404,
        "GoneException": 410,
        "BadRequestException": 400,
        "UnprocessableEntityException": 422,
    }[code]
    error(stubs, "start_speaker_search_task", code, status)

    outcome = calls.start_call(
        n.SERVED_CONNECTOR,
        "tx-1",
        notification_time=None,
        settings=settings.get(),
        deadline=deadline(),
        fields={"messageId": "m-1"},
        after_consent=True,
    )

    reason = "consent arrived after the call ended"
    assert outcome == tasks.Outcome("skipped", reason)
    record = only(caplog, "notification_skipped")
    assert (record.levelno, extras(record)) == (
        logging.INFO,
        {"messageId": "m-1", "callLeg": "Caller", "errorCode": code, "reason": reason},
    )
    metrics.flush("search-abc")
    assert emf_values(emf) == {("CallsNotSearched", "ended"): ("Count", [1.0])}


@pytest.mark.parametrize("tone", [False, True], ids=["speaker-search", "voice-tone"])
def test_a_throttled_start_is_retried_under_its_operation_name(
    handler: ModuleType,
    stubs: Stubs,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tone: bool,
) -> None:
    if tone:
        reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    error(stubs, "start_speaker_search_task", "ThrottledClientException", 429)
    stubs.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": "t-1"}}
    )
    if tone:
        error(stubs, "start_voice_tone_analysis_task", "ThrottledClientException", 429)
        stubs.chime.add_response("start_voice_tone_analysis_task", {})
    assert handler.handler(n.analytics_ready(), None)["outcome"] == "started"
    operations = [r.operation for r in logged(caplog, "aws_call_retrying")]
    expected = (
        ["StartSpeakerSearchTask", "StartVoiceToneAnalysisTask"] if tone else ["StartSpeakerSearchTask"]
    )
    assert operations == expected


def test_analytics_ready_of_a_connector_not_served_is_skipped_at_debug(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture
) -> None:
    reason = "voice connector not served by this deployment"
    note = n.analytics_ready(voice_connector_id=n.FOREIGN_CONNECTOR)
    assert handler.handler(note, None) == {"outcome": "skipped", "reason": reason}
    record = only(caplog, "notification_skipped")
    assert (record.levelno, record.reason) == (logging.DEBUG, reason)
