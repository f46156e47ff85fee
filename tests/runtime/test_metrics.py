"""Embedded Metric Format output: what CloudWatch Logs needs to extract each metric."""

from __future__ import annotations

import io
import json
from typing import Any

import metrics
import pytest


@pytest.fixture
def out(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(metrics, "_out", buffer)
    metrics.discard()
    return buffer


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_flush_writes_one_emf_line_per_dimension_set(out: io.StringIO) -> None:
    metrics.count(metrics.SPEAKER_SEARCH_STARTED)
    metrics.count(metrics.SPEAKER_SEARCH_STARTED)
    metrics.count(metrics.SPEAKER_SEARCH_START_LATENCY, 1234.5, unit=metrics.MILLISECONDS)
    metrics.count(metrics.SPEAKER_SEARCH_RESULTS, status="IdentificationSuccessful")
    metrics.flush("search-1")

    plain, by_status = lines(out)
    directive = plain["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ChimeSpeakerSearch"
    assert directive["Dimensions"] == [["SearchId"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "SpeakerSearchStarted": "Count",
        "SpeakerSearchStartLatency": "Milliseconds",
    }
    assert plain["SearchId"] == "search-1"
    assert plain["SpeakerSearchStarted"] == [1.0, 1.0]
    assert plain["SpeakerSearchStartLatency"] == 1234.5
    assert isinstance(plain["_aws"]["Timestamp"], int)
    assert by_status["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["SearchId", "Status"]]
    assert (by_status["Status"], by_status["SpeakerSearchResults"]) == ("IdentificationSuccessful", 1.0)


def test_flush_forgets_what_it_wrote_and_writes_nothing_when_empty(out: io.StringIO) -> None:
    metrics.count(metrics.SPEAKER_SEARCH_FAILED_STARTS)
    metrics.flush("s")
    metrics.flush("s")
    assert len(lines(out)) == 1


def test_more_values_than_emf_allows_in_one_line_are_split_not_dropped(out: io.StringIO) -> None:
    for i in range(metrics.MAX_VALUES_PER_METRIC + 5):
        metrics.count(metrics.SPEAKER_SEARCH_START_LATENCY, float(i), unit=metrics.MILLISECONDS)
    metrics.flush("s")
    written = [line[metrics.SPEAKER_SEARCH_START_LATENCY] for line in lines(out)]
    assert [len(v) for v in written] == [metrics.MAX_VALUES_PER_METRIC, 5]
    assert [v for values in written for v in values] == [
        float(i) for i in range(metrics.MAX_VALUES_PER_METRIC + 5)
    ]
