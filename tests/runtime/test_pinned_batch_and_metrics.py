"""Batch summary: dead-letter count; EMF line: SearchId and encoding (found by `make mutation`)."""

from __future__ import annotations

import io
import json
from types import ModuleType

import metrics
import pytest

from tests.runtime import notifications as n
from tests.runtime.conftest import StateAws
from tests.runtime.helpers import Stubs, logged


def test_batch_summary_counts_the_records_sent_to_the_dead_letter_queue(
    handler: ModuleType, stubs: Stubs, state_aws: StateAws, caplog: pytest.LogCaptureFixture
) -> None:
    stubs.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": "t-1"}}
    )
    event = n.sqs_event("not json", n.analytics_ready(), "[1]")

    assert handler.handler(event, None) == {"batchItemFailures": []}

    assert len(state_aws.dead_letters()) == 2
    [summary] = logged(caplog, "batch_processed")
    assert (summary.records, summary.deadLettered, summary.failed, summary.started) == (3, 2, 2, 1)


@pytest.fixture
def out(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(metrics, "_out", buffer)
    metrics.discard()
    return buffer


def test_without_a_search_id_metrics_carry_search_id_unknown(out: io.StringIO) -> None:
    metrics.count(metrics.SPEAKER_SEARCH_STARTED)
    metrics.flush(None)
    [line] = [json.loads(text) for text in out.getvalue().splitlines()]
    assert line["SearchId"] == "unknown"


def test_each_emf_line_is_compact_json(out: io.StringIO) -> None:
    # CloudWatch Logs bills and limits by size; one metric line stays as short as JSON allows.
    metrics.count(metrics.SPEAKER_SEARCH_STARTED)
    metrics.flush("s-1")
    [text] = out.getvalue().splitlines()
    assert text == json.dumps(json.loads(text), separators=(",", ":"))
    assert ", " not in text
