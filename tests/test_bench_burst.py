"""bench/burst.py: the virtual clock, the fake quotas and small end-to-end runs through the handler."""

from __future__ import annotations

import inspect
import math
import sys
from types import ModuleType

import pytest

from chime_speaker_search import SpeakerSearch
from tests.support import REPO_ROOT, import_path


@pytest.fixture(scope="module")
def burst() -> ModuleType:
    sys.path.insert(0, str(REPO_ROOT / "bench"))  # bench/ is scripts, not a package
    return import_path("bench_burst", REPO_ROOT / "bench" / "burst.py")


def test_the_benchmark_default_is_the_constructs_default(burst: ModuleType) -> None:
    default = inspect.signature(SpeakerSearch.__init__).parameters["max_concurrency"].default
    assert default == burst.DEFAULT_MAX_CONCURRENCY


def test_virtual_workers_interleave_in_time_order(burst: ModuleType) -> None:
    from _virtual_time import VirtualTime, Worker

    clock = VirtualTime()
    seen: list[tuple[str, float]] = []

    def job(name: str, pauses: list[float]) -> None:
        for pause in pauses:
            clock.sleep(pause)
            seen.append((name, clock.now))

    workers = [Worker(clock, "a"), Worker(clock, "b")]
    clock.at(0.0, lambda: workers[0].start(lambda: job("a", [1.0, 1.0, 1.0])))
    clock.at(0.5, lambda: workers[1].start(lambda: job("b", [1.0, 0.25])))
    clock.run(until=100)
    for worker in workers:
        worker.stop()
    assert seen == [("a", 1.0), ("b", 1.5), ("b", 1.75), ("a", 2.0), ("a", 3.0)]


def test_the_fake_enforces_the_api_rate_and_the_task_limit(burst: ModuleType) -> None:
    from _runtime import ApiRequest
    from _virtual_time import VirtualTime

    clock = VirtualTime()
    case = burst.Case("t", calls=1, window_s=1, tps=2, task_limit=3, task_active_s=10, domain_hold_s=0)
    ended: list[str] = []
    fake = burst.FakeVoiceAnalytics(case, clock, lambda tx, _task: ended.append(tx))

    def start(tx: str) -> int:
        body = {"TransactionId": tx, "ClientRequestToken": f"token-{tx}", "CallLeg": "Caller"}
        request = ApiRequest(burst.START, "/voice-connectors/vc/speaker-search-tasks", body)
        return int(fake.answer(request).status)

    assert [start("a"), start("b"), start("c")] == [201, 201, 429]  # a bucket of 2 tokens at 2 TPS
    clock.run(until=0.5)
    clock.now = 0.5  # one token back after half a second
    assert start("c") == 201
    clock.now = 2.0
    assert start("d") == 400  # 3 tasks active: the Region's limit
    assert fake.counts["400 task limit"] == 1
    clock.run(until=11)  # the tasks end and their results are queued
    assert sorted(ended) == ["a", "b", "c"]


def test_the_fake_answers_a_second_concurrent_start_on_one_domain_409(burst: ModuleType) -> None:
    from _runtime import ApiRequest
    from _virtual_time import VirtualTime

    clock = VirtualTime()
    case = burst.Case("t", calls=1, window_s=1, tps=100, task_limit=100, domain_hold_s=0.1)
    fake = burst.FakeVoiceAnalytics(case, clock, lambda *_: None)

    def start(tx: str, domain: str = "vpd-1") -> int:
        body = {"TransactionId": tx, "ClientRequestToken": f"token-{tx}", "VoiceProfileDomainId": domain}
        return int(
            fake.answer(ApiRequest(burst.START, "/voice-connectors/vc/speaker-search-tasks", body)).status
        )

    assert start("a") == 201
    assert start("b") == 409  # the domain is still held by a's call
    assert start("c", domain="vpd-2") == 201  # another domain is not
    clock.now = 0.0999
    assert start("b") == 409  # the edge: held until 0.1 s
    clock.now = 0.1
    assert start("b") == 201
    assert fake.counts["409 domain busy"] == 2
    assert case.domain_utilisation == pytest.approx(0.1)  # 1 call a second x 0.1 s


def test_contention_on_one_domain_delays_starts_but_loses_none(burst: ModuleType) -> None:
    case = burst.Case("busy", calls=120, window_s=20, tps=40, task_limit=500, domain_hold_s=0.1)
    result = burst.Simulation(case).run()
    assert case.sustainable  # 6 calls a second hold the domain 60 % of the time
    assert result.api_counts["409 domain busy"] > 0
    assert result.started == 120
    assert result.dlq_ready == result.lost == result.unfinished == 0
    assert result.api_counts["duplicate starts"] == 0


def test_a_sustainable_burst_starts_every_call_quickly(burst: ModuleType) -> None:
    case = burst.Case("small", calls=60, window_s=20, tps=5, task_limit=40, task_active_s=10)
    result = burst.Simulation(case).run()
    assert case.sustainable
    assert result.started == 60
    assert result.dlq_ready == result.lost == result.unfinished == 0
    assert result.api_counts["duplicate starts"] == 0
    assert result.api_counts["PutEvents"] >= 60  # every task's result was published
    assert burst.percentile(result.latencies, 0.99) <= 30
    assert result.meets_target


def test_a_burst_beyond_the_quota_is_throttled_and_queued(burst: ModuleType) -> None:
    case = burst.Case("over", calls=60, window_s=5, tps=2, task_limit=100, max_concurrency=20)
    first, second = burst.Simulation(case).run(), burst.Simulation(case).run()
    assert not case.sustainable
    assert first.api_counts["429 throttled"] > 0
    assert first.calls_per_start > 1
    assert max(v for v in first.latencies if math.isfinite(v)) > 10  # 60 calls at 2 TPS take 30 s
    assert first.latencies == second.latencies  # virtual time: the same seed gives the same run
