"""A small, seeded run of bench/soak.py: nothing lost, nothing started twice, faults really hit."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from tests.support import REPO_ROOT


def load_soak() -> ModuleType:
    """bench/ is not a package; load the script by path (cached like an import)."""
    name = "bench_soak"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "bench" / "soak.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.mark.slow
@pytest.mark.parametrize("answer", ["same_task", "conflict", "limit_exceeded"])
def test_soak_loses_nothing_and_starts_nothing_twice(answer: str) -> None:
    """Whatever AWS answers a repeated start, nothing is lost, started twice or dead-lettered once started.

    The handler runs with its state table and dead-letter queue (moto), as deployed.
    """
    report = load_soak().run(notifications=300, seed=7, fault_rate=0.2, duplicate_answer=answer)

    assert report.sent == 300
    assert report.duplicate_answer == answer
    assert report.duplicate_starts == 0
    assert report.lost == []
    assert report.unexpected == []
    assert report.started_in_dlq == 0
    assert report.in_flight == 0
    assert report.ok
    assert sum(report.faults.values()) > 0
    assert report.retries > 0
    # responses were lost after a task started, so the duplicate rules were really exercised
    assert report.faults["chime:lost-response"] > 0
    if answer == "limit_exceeded":
        assert report.unconfirmed > 0  # ... and settled by the task's status notification
    # every kind of outcome occurred, so the accounting above was not vacuous
    assert report.started > 0
    assert report.published > 0
    assert report.skipped > 0
    assert report.status_notifications == report.tasks_started > 0
    # malformed bodies went straight to the DLQ through the handler's own send
    assert report.dead_lettered_directly == sum(report.dlq.values()) > 0
    total = report.sent + report.status_notifications
    assert report.started + report.published + report.skipped + sum(report.dlq.values()) == total


@pytest.mark.slow
def test_soak_without_status_evidence_dead_letters_started_calls() -> None:
    """The soak's status evidence is load-bearing: without it, RLE after a lost answer is not settled.

    This is the runtime's documented conservative choice (tasks.py), and the reason the soak
    models the SpeakerSearchStatus AWS sends for a started task (an assumption, docs/reliability.md).
    """
    report = load_soak().run(
        notifications=300, seed=7, fault_rate=0.2, duplicate_answer="limit_exceeded", status_evidence=False
    )

    assert report.status_notifications == 0
    assert report.started_in_dlq > 0
    assert not report.ok
    assert report.lost == []
    assert report.duplicate_starts == 0


def test_soak_report_fails_on_a_duplicate_start() -> None:
    report = load_soak().SoakReport(sent=1, duplicate_starts=1)
    assert not report.ok
    assert "duplicate starts:       1" in report.render()


def test_soak_report_fails_on_a_started_call_in_the_dlq() -> None:
    report = load_soak().SoakReport(sent=1, started_in_dlq=1)
    assert not report.ok
    assert "started calls in DLQ:   1" in report.render()


@pytest.mark.slow
def test_soak_with_the_consent_gate_starts_only_granted_calls_once() -> None:
    """REQUIRE_CONSENT=true, consent requests before and after AnalyticsReady, faults injected.

    Voice profile requests are not in the workload: the fake has no CreateVoiceProfile.
    """
    report = load_soak().run(
        notifications=300, seed=7, fault_rate=0.2, duplicate_answer="conflict", consent=True
    )

    assert report.sent == 300
    assert report.lost == []
    assert report.unexpected == []
    assert report.in_flight == 0
    assert report.duplicate_starts == 0
    assert report.started_without_consent == []
    assert report.granted_not_started == []
    assert report.ok
    # all three decisions occurred, and only the granted calls got tasks (each exactly once)
    assert set(report.consent_calls) == {"granted", "declined", "none"}
    assert report.tasks_started == report.consent_calls["granted"]
    assert sum(report.faults.values()) > 0
    total = report.sent + report.status_notifications
    assert report.started + report.published + report.skipped + sum(report.dlq.values()) == total


def test_soak_report_fails_on_a_call_started_without_consent() -> None:
    soak = load_soak()
    assert not soak.SoakReport(sent=1, started_without_consent=["tx: declined, has a task"]).ok
    assert not soak.SoakReport(sent=1, granted_not_started=["tx: granted, no task"]).ok
