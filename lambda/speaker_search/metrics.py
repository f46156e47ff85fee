"""CloudWatch metrics in the Embedded Metric Format (EMF): no log filters, no PutMetricData calls.

Handlers record values with :func:`count` while they work; the entry point calls :func:`flush` once
per invocation, which writes one EMF JSON line per dimension set to standard output (Lambda sends
stdout to the function's log group, where CloudWatch Logs extracts the metrics). Values of one metric
in one invocation are written as an array, which EMF allows, so nothing is pre-aggregated away:
a latency p99 on the dashboard is computed from every start.

Dimension sets: ``[SearchId]``, and ``[SearchId, Status]`` for values recorded with a status.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from typing import TextIO

NAMESPACE = "ChimeSpeakerSearch"
MAX_VALUES_PER_METRIC = 100  # EMF's limit on an array of values

SPEAKER_SEARCH_STARTED = "SpeakerSearchStarted"
SPEAKER_SEARCH_DUPLICATE_STARTS = "SpeakerSearchDuplicateStarts"
SPEAKER_SEARCH_FAILED_STARTS = "SpeakerSearchFailedStarts"
SPEAKER_SEARCH_START_LATENCY = "SpeakerSearchStartLatency"
SPEAKER_SEARCH_RESULTS = "SpeakerSearchResults"
VOICE_TONE_STARTED = "VoiceToneStarted"
VOICE_TONE_DUPLICATE_STARTS = "VoiceToneDuplicateStarts"
VOICE_TONE_FAILED_STARTS = "VoiceToneFailedStarts"
VOICE_TONE_START_LATENCY = "VoiceToneStartLatency"
VOICE_TONE_RESULTS = "VoiceToneResults"
VOICE_PROFILES_ENROLLED = "VoiceProfilesEnrolled"
VOICE_PROFILES_UPDATED = "VoiceProfilesUpdated"
VOICE_PROFILES_DELETED = "VoiceProfilesDeleted"
VOICE_PROFILE_REQUESTS_FAILED = "VoiceProfileRequestsFailed"
CONSENT_GRANTED = "ConsentGranted"
CONSENT_DECLINED = "ConsentDeclined"
CALLS_NOT_SEARCHED = "CallsNotSearched"
#: Results of calls that are not granted, withheld under the consent gate (Status: why).
RESULTS_WITHHELD = "ResultsWithheld"
#: Input that did not come from the construct's own queue or rules (Status: how it was told apart).
INPUTS_REFUSED = "InputsRefused"

COUNT = "Count"
MILLISECONDS = "Milliseconds"

# (status or None) -> metric name -> (unit, values), for the current invocation.
_pending: dict[str | None, dict[str, tuple[str, list[float]]]] = defaultdict(dict)
#: Where EMF lines go (None: the current sys.stdout); tests may replace it.
_out: TextIO | None = None


def count(name: str, value: float = 1.0, *, unit: str = COUNT, status: str | None = None) -> None:
    """Record one value of ``name`` (a Count of 1 by default) for this invocation."""
    metrics = _pending[status]
    if name not in metrics:
        metrics[name] = (unit, [])
    metrics[name][1].append(float(value))


def flush(search_id: str | None) -> None:
    """Write what was recorded since the last flush as EMF lines, then forget it."""
    timestamp_ms = int(time.time() * 1000)
    out = _out or sys.stdout
    for status, metrics in _pending.items():
        # count() never leaves a status without a value, so there is always a longest one.
        longest = max(len(values) for _, values in metrics.values())
        # EMF allows at most MAX_VALUES_PER_METRIC values per metric in one line: write more lines.
        for start in range(0, longest, MAX_VALUES_PER_METRIC):
            chunk = {
                name: (unit, values[start : start + MAX_VALUES_PER_METRIC])
                for name, (unit, values) in metrics.items()
                if values[start : start + MAX_VALUES_PER_METRIC]
            }
            out.write(_emf_line(search_id, status, chunk, timestamp_ms) + "\n")
    out.flush()
    _pending.clear()


def _emf_line(
    search_id: str | None, status: str | None, metrics: dict[str, tuple[str, list[float]]], timestamp_ms: int
) -> str:
    dimensions = ["SearchId"] if status is None else ["SearchId", "Status"]
    line: dict[str, object] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimensions],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (unit, _) in metrics.items()],
                }
            ],
        },
        "SearchId": search_id or "unknown",
    }
    if status is not None:
        line["Status"] = status
    for name, (_, values) in metrics.items():
        line[name] = values[0] if len(values) == 1 else values
    return json.dumps(line, separators=(",", ":"))


def discard() -> None:
    """Forget recorded values without writing them (tests)."""
    _pending.clear()
