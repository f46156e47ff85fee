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
    """Whatever AWS answers a repeated start, nothing is lost and nothing is started twice."""
    report = load_soak().run(notifications=300, seed=7, fault_rate=0.2, duplicate_answer=answer)

    assert report.sent == 300
    assert report.duplicate_answer == answer
    assert report.duplicate_starts == 0
    assert report.lost == []
    if answer == "limit_exceeded":
        # The runtime cannot tell this answer from the Region's task limit without its state
        # table, so a repeated delivery may end in the DLQ with the reason logged: never lost.
        assert all("(start) ended in the DLQ" in item for item in report.unexpected)
    else:
        assert report.unexpected == []
    assert report.in_flight == 0
    assert sum(report.faults.values()) > 0
    assert report.retries > 0
    # every kind of outcome occurred, so the accounting above was not vacuous
    assert report.started > 0
    assert report.published > 0
    assert report.skipped > 0
    assert sum(report.dlq.values()) > 0
    assert report.started + report.published + report.skipped + sum(report.dlq.values()) == report.sent


def test_soak_report_fails_on_a_duplicate_start() -> None:
    report = load_soak().SoakReport(sent=1, duplicate_starts=1)
    assert not report.ok
    assert "duplicate starts:       1" in report.render()
