"""Element failures and the kinds of pipeline failure, end to end: AWS's documented events, through the
synthesized health rule (its pattern, emulated in tests/event_patterns.py, and its input transformer),
into the handler, out as one log line and EMF metrics by kind.

For a pipeline of several elements AWS reports an element that failed while the others go on as
``eventType: chime:MediaInsightsInProgress`` with that element's ``status: Failed`` in
``mediaInsightsPipelineElementStatuses`` (Chime SDK developer guide, "Using Amazon EventBridge
notifications", section "AmazonTranscribeProcessor has failed and S3RecordingSink is in progress").
``chime:MediaInsightsTemporaryFailure`` ("no action is required") is counted but never alarmed on.
"""

from __future__ import annotations

import io
import json
import logging
from types import ModuleType
from typing import Any

import metrics
import pytest

from tests.conftest import IMPORTED_IDS, Synthesized
from tests.event_patterns import matches
from tests.runtime import notifications as n
from tests.runtime.helpers import Stubs, logged
from tests.runtime.test_pipeline_health import PHONE_FROM, PHONE_TO, aws_example, transform

UPDATED_ON = 1686184070655


def elements(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"type": kind, "status": status, "updatedOn": UPDATED_ON} for kind, status in pairs]


#: The guide's example (Transcribe and an S3 recording sink), and the same shape for this library's
#: pipeline (the voice analytics processor, its Kinesis and SQS sinks).
GUIDE_ELEMENT_FAILURE = aws_example(
    "chime:MediaInsightsInProgress",
    mediaInsightsPipelineElementStatuses=elements(
        ("AmazonTranscribeProcessor", "Failed"), ("S3RecordingSink", "InProgress")
    ),
)
VOICE_ANALYTICS_FAILED = aws_example(
    "chime:MediaInsightsInProgress",
    mediaInsightsPipelineElementStatuses=elements(
        ("VoiceAnalyticsProcessor", "Failed"),
        ("KinesisDataStreamSink", "InProgress"),
        ("SqsQueueSink", "InProgress"),
    ),
)
ALL_IN_PROGRESS = aws_example(
    "chime:MediaInsightsInProgress",
    mediaInsightsPipelineElementStatuses=elements(
        ("VoiceAnalyticsProcessor", "InProgress"), ("SqsQueueSink", "NotStarted")
    ),
)


@pytest.fixture(params=["null", '""'], ids=["missing-as-null", "missing-as-empty"])
def missing(request: pytest.FixtureRequest) -> str:
    """How the input transformer renders a path the event lacks [U]: null or an empty string."""
    return str(request.param)


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    out = io.StringIO()
    monkeypatch.setattr(metrics, "_out", out)
    return out


def counted(out: io.StringIO) -> dict[tuple[str, str | None], float]:
    """(metric, Status or None) -> value, from the EMF lines written."""
    found: dict[tuple[str, str | None], float] = {}
    for line in map(json.loads, out.getvalue().splitlines()):
        for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            found[(metric["Name"], line.get("Status"))] = line[metric["Name"]]
    return found


@pytest.mark.parametrize("event", [GUIDE_ELEMENT_FAILURE, VOICE_ANALYTICS_FAILED], ids=["guide", "ours"])
def test_an_element_failure_is_matched_logged_with_type_and_status_only_and_counted(
    handler: ModuleType,
    stubs: Stubs,
    single: Synthesized,
    missing: str,
    emf: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    event: dict[str, Any],
) -> None:
    assert matches(_pattern(single), event)
    body = transform(single, event, missing)
    for personal in (PHONE_FROM, PHONE_TO, n.CALL_ID):
        assert personal not in body

    assert handler.handler(n.sqs_event(body), None) == {"batchItemFailures": []}

    [record] = logged(caplog, "pipeline_failure", messageId="m-0")
    assert record.levelno == logging.WARNING
    assert (record.eventType, record.kind) == ("chime:MediaInsightsInProgress", "ElementFailure")
    failed = [e for e in event["detail"]["mediaInsightsPipelineElementStatuses"] if e["status"] == "Failed"]
    assert record.failedElements == [{"type": e["type"], "status": "Failed"} for e in failed]
    assert counted(emf) == {
        ("PipelineFailures", "ElementFailure"): 1.0,
        ("PipelineFailuresNeedingAction", None): 1.0,
    }
    logs = caplog.text + json.dumps([vars(r) for r in caplog.records], default=str) + capsys.readouterr().out
    for personal in (PHONE_FROM, PHONE_TO.removeprefix("+"), n.CALL_ID, str(UPDATED_ON)):
        assert personal not in logs


@pytest.mark.parametrize(
    ("event_type", "kind", "needs_action"),
    [
        ("chime:MediaInsightsCreateFailed", "CreateFailed", True),
        ("chime:MediaInsightsPermanentFailure", "PermanentFailure", True),
        ("chime:MediaInsightsTemporaryFailure", "TemporaryFailure", False),
    ],
)
def test_each_failure_event_type_is_counted_by_kind_and_only_actionable_ones_need_action(
    handler: ModuleType,
    stubs: Stubs,
    single: Synthesized,
    emf: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    event_type: str,
    kind: str,
    needs_action: bool,
) -> None:
    event = aws_example(event_type)
    assert matches(_pattern(single), event)
    handler.handler(n.sqs_event(transform(single, event, "null")), None)
    [record] = logged(caplog, "pipeline_failure")
    assert (record.kind, record.failedElements) == (kind, [])
    expected = {("PipelineFailures", kind): 1.0}
    if needs_action:
        expected[("PipelineFailuresNeedingAction", None)] = 1.0
    assert counted(emf) == expected


def test_a_temporary_element_failure_is_a_temporary_failure(
    handler: ModuleType, stubs: Stubs, single: Synthesized, emf: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    """The guide's multi-element temporary failure: the element is ``TemporarilyFailed``."""
    event = aws_example(
        "chime:MediaInsightsTemporaryFailure",
        mediaInsightsPipelineElementStatuses=elements(
            ("AmazonTranscribeProcessor", "TemporarilyFailed"), ("S3RecordingSink", "NotStarted")
        ),
    )
    assert matches(_pattern(single), event)
    handler.handler(n.sqs_event(transform(single, event, "null")), None)
    [record] = logged(caplog, "pipeline_failure")
    assert record.kind == "TemporaryFailure"
    assert record.failedElements == [{"type": "AmazonTranscribeProcessor", "status": "TemporarilyFailed"}]
    assert counted(emf) == {("PipelineFailures", "TemporaryFailure"): 1.0}


def test_a_permanent_failure_names_its_failed_element(
    handler: ModuleType, stubs: Stubs, single: Synthesized, emf: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    """The guide's "has failed and S3RecordingSink has succeeded": PermanentFailure, one element Failed."""
    event = aws_example(
        "chime:MediaInsightsPermanentFailure",
        failureReason="Insufficient permissions",
        mediaInsightsPipelineElementStatuses=elements(
            ("AmazonTranscribeProcessor", "Failed"), ("S3RecordingSink", "Stopped")
        ),
    )
    handler.handler(n.sqs_event(transform(single, event, "null")), None)
    [record] = logged(caplog, "pipeline_failure")
    assert (record.kind, record.failedElements) == (
        "PermanentFailure",
        [{"type": "AmazonTranscribeProcessor", "status": "Failed"}],
    )
    assert counted(emf)[("PipelineFailuresNeedingAction", None)] == 1.0


@pytest.mark.parametrize(
    "event",
    [
        ALL_IN_PROGRESS,
        aws_example("chime:MediaInsightsInProgress"),
        aws_example(
            "chime:MediaInsightsStopped",
            mediaInsightsPipelineElementStatuses=elements(("VoiceAnalyticsProcessor", "Stopped")),
        ),
        aws_example(
            "chime:MediaInsightsPaused",
            mediaInsightsPipelineElementStatuses=elements(("AmazonTranscribeProcessor", "Paused")),
        ),
        aws_example("chime:MediaInsightsCreated"),
    ],
    ids=["elements-in-progress", "single-element-in-progress", "stopped", "paused", "created"],
)
def test_state_changes_that_are_not_failures_are_neither_matched_nor_counted(
    handler: ModuleType,
    stubs: Stubs,
    single: Synthesized,
    emf: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    event: dict[str, Any],
) -> None:
    assert not matches(_pattern(single), event)
    # Were one delivered anyway (a redrive, a hand-made message), the handler agrees with the rule.
    handler.handler(n.sqs_event(transform(single, event, "null")), None)
    assert logged(caplog, "pipeline_failure") == []
    assert counted(emf) == {}


def test_an_element_failure_on_another_connector_is_not_matched_nor_handled(
    handler: ModuleType, stubs: Stubs, single: Synthesized, emf: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    event = json.loads(json.dumps(VOICE_ANALYTICS_FAILED))
    event["detail"]["voiceConnectorId"] = "vc-foreign"
    assert not matches(_pattern(single), event)
    handler.handler(n.sqs_event(transform(single, event, "null")), None)
    assert logged(caplog, "pipeline_failure") == []
    assert counted(emf) == {}


@pytest.mark.parametrize(
    ("statuses", "logged_as"),
    [
        ([{"type": "VoiceAnalyticsProcessor", "status": "Failed", "statusDetail": "+12065550100"}], True),
        ([{"type": "+1 206 555 0100", "status": "Failed"}], False),
        ([{"type": "VoiceAnalyticsProcessor", "status": "Failed; 2065550100"}], False),
        (["Failed"], False),
        ([{"type": "VoiceAnalyticsProcessor"}], False),
    ],
    ids=["extra-field-dropped", "type-not-a-word", "status-not-a-word", "not-an-object", "no-status"],
)
def test_only_an_elements_type_and_status_are_logged_and_only_when_they_are_words(
    handler: ModuleType,
    stubs: Stubs,
    caplog: pytest.LogCaptureFixture,
    statuses: list[Any],
    logged_as: bool,
) -> None:
    note = n.envelope(
        "Media Insights State Change",
        {
            "eventType": "chime:MediaInsightsPermanentFailure",
            "voiceConnectorId": n.SERVED_CONNECTOR,
            "mediaInsightsPipelineElementStatuses": statuses,
        },
        "n-pipe",
    )
    handler.handler(note, None)
    [record] = logged(caplog, "pipeline_failure")
    assert record.failedElements == (
        [{"type": "VoiceAnalyticsProcessor", "status": "Failed"}] if logged_as else []
    )
    assert "2065550100" not in caplog.text.replace(" ", "") and "206 555" not in caplog.text


@pytest.mark.parametrize("rendered", ["array", "json-string"])
def test_the_element_statuses_are_read_as_an_array_or_a_json_string(
    handler: ModuleType, stubs: Stubs, emf: io.StringIO, caplog: pytest.LogCaptureFixture, rendered: str
) -> None:
    """[U] An input transformer inserts an array as JSON; were it quoted, the element failure still counts."""
    statuses = VOICE_ANALYTICS_FAILED["detail"]["mediaInsightsPipelineElementStatuses"]
    note = n.envelope(
        "Media Insights State Change",
        {
            "eventType": "chime:MediaInsightsInProgress",
            "voiceConnectorId": n.SERVED_CONNECTOR,
            "mediaInsightsPipelineElementStatuses": statuses if rendered == "array" else json.dumps(statuses),
        },
        "n-pipe",
    )
    handler.handler(note, None)
    [record] = logged(caplog, "pipeline_failure")
    assert record.failedElements == [{"type": "VoiceAnalyticsProcessor", "status": "Failed"}]
    assert counted(emf)[("PipelineFailuresNeedingAction", None)] == 1.0


@pytest.mark.parametrize("text", ["[not json", "[]", "Failed"])
def test_a_string_that_is_no_list_of_elements_is_no_element_failure(
    handler: ModuleType, stubs: Stubs, emf: io.StringIO, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    note = n.envelope(
        "Media Insights State Change",
        {
            "eventType": "chime:MediaInsightsInProgress",
            "voiceConnectorId": n.SERVED_CONNECTOR,
            "mediaInsightsPipelineElementStatuses": text,
        },
        "n-pipe",
    )
    handler.handler(note, None)
    assert logged(caplog, "pipeline_failure") == [] and counted(emf) == {}


def test_at_most_nine_failed_elements_are_logged(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture
) -> None:
    statuses = [{"type": f"Element{chr(65 + i)}", "status": "Failed"} for i in range(12)]
    note = n.envelope(
        "Media Insights State Change",
        {
            "eventType": "chime:MediaInsightsInProgress",
            "voiceConnectorId": n.SERVED_CONNECTOR,
            "mediaInsightsPipelineElementStatuses": statuses,
        },
        "n-pipe",
    )
    handler.handler(note, None)
    [record] = logged(caplog, "pipeline_failure")
    assert len(record.failedElements) == 9


def _pattern(synth: Synthesized) -> dict[str, Any]:
    """The health rule's pattern, with the handler tests' served connector in place of the stack's one."""
    (rule,) = [v for k, v in synth.resources("AWS::Events::Rule").items() if "PipelineHealthRule" in k]
    pattern: dict[str, Any] = json.loads(json.dumps(rule["Properties"]["EventPattern"]))
    assert pattern["detail"]["voiceConnectorId"] == [IMPORTED_IDS[0]]  # the `single` stack's connector
    pattern["detail"]["voiceConnectorId"] = [n.SERVED_CONNECTOR]
    return pattern
