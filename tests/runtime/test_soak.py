"""Small, seeded runs of bench/soak.py: nothing lost, started twice or enrolled twice; faults really hit."""

from __future__ import annotations

import importlib.util
import random
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any
from unittest import mock

import pytest

from tests.runtime import fake_aws as f
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


#: Every answer the fake can give where AWS does not settle it, each in at least one run:
#: (repeated start, CreateVoiceProfile/UpdateVoiceProfile for an expired task, a second
#: CreateVoiceProfile for a task, ListVoiceProfiles lag in seconds; below the soak's clock skew).
FAKE_ANSWERS = [
    ("same_task", "gone", "new_profile", 0.0),
    ("conflict", "not_found", "conflict", 0.1),
    ("limit_exceeded", "bad_request", "same_profile", 0.0),
]


@pytest.mark.slow
@pytest.mark.parametrize(("answer", "expired", "repeat_create", "list_lag"), FAKE_ANSWERS)
def test_soak_with_consent_and_enrollment_keeps_every_invariant(
    answer: str, expired: str, repeat_create: str, list_lag: float
) -> None:
    """REQUIRE_CONSENT and ENABLE_ENROLLMENT on, consent and voice profile requests, faults injected.

    Decisions before and after AnalyticsReady, declined after the start, overridden both ways, out
    of order and tied; enroll (twice per task, and the same request delivered twice), enroll
    without consentReference, for an expired and an unknown task; updates; deletes of deleted
    and never existing profiles. Checked from the fake's own records, not the handler's answers.
    200 notifications keep it within the 20 s limit on a loaded machine; lost creates are rare at
    that size, so the lossy runs below exercise them.
    """
    report = load_soak().run(
        notifications=200,
        seed=7,
        fault_rate=0.2,
        duplicate_answer=answer,
        consent=True,
        expired_task_answer=expired,
        repeat_create_answer=repeat_create,
        list_lag_s=list_lag,
    )

    assert report.sent >= 200
    assert report.lost == []
    assert report.unexpected == []
    assert report.in_flight == 0
    assert report.duplicate_starts == 0
    assert report.started_without_consent == []
    assert report.granted_not_started == []
    assert report.profile_violations == []
    assert report.max_profiles_per_task == 1
    assert report.ok
    # the latest decision won where decisions overrode each other, and declines stopped tasks
    assert set(report.consent_calls) == {"granted", "declined", "none"}
    assert report.decisions_overridden > 0
    assert report.tasks_stopped > 0
    # every kind of voice profile request was sent
    kinds = set(report.profile_requests)
    assert {"enroll enrolled", "enroll failed:expired", "update updated", "delete deleted"} <= kinds
    assert "enroll failed:detail.consentReference is required" in kinds
    assert report.profiles_created > 0
    assert sum(report.faults.values()) > 0
    # results of calls not granted were withheld, and accounted for
    assert report.withheld == sum(report.withheld_by.values()) > 0
    assert report.unready_creates == 0
    total = report.sent + report.status_notifications
    accounted = report.started + report.published + report.withheld + report.skipped
    assert accounted + sum(report.dlq.values()) == total


@pytest.mark.slow
def test_soak_scopes_every_voice_profile_request() -> None:
    """The trust-boundary requests of the consent soak, all served as the attacker must not wish:
    another team's or a made-up task, a declined call's task, another domain's profile (updated or
    deleted: it must stay untouched), an update without consentReference, and an early enroll
    (its voiceprint made a moment after the first look: the handler waits, never creates early)."""
    report = load_soak().run(
        notifications=400, seed=14, fault_rate=0.1, duplicate_answer="same_task", consent=True
    )

    assert report.ok, report.render()
    kinds = set(report.profile_requests)
    assert {
        "enroll failed:UnknownSpeakerSearchTask",
        "enroll failed:ConsentDeclined",
        "update failed:VoiceProfileInAnotherDomain",
        "delete failed:VoiceProfileInAnotherDomain",
        "update failed:detail.consentReference is required",
    } <= kinds
    assert report.early_enrolls > 0
    assert report.unready_creates == 0
    assert report.profile_violations == []


def _lossy_policy(rate: float, rng: random.Random) -> Callable[[str], Any]:
    """A fifth of the chime-sdk-voice answers are lost after the service acted."""
    del rate
    return lambda service: f.lost_response() if service == f.CHIME and rng.random() < 0.2 else None


@pytest.mark.slow
@pytest.mark.parametrize("adoption", ["kept", "broken"])
def test_the_soak_catches_a_second_profile_for_one_enroll(
    adoption: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checker is not vacuous: a handler that never adopts a lost create's profile makes two.

    Same workload and faults both times; only the broken variant (``find_lost_profile`` always
    says "nothing was created", so the create is retried) fails the soak.
    """
    soak = load_soak()
    monkeypatch.setattr(soak, "_fault_policy", _lossy_policy)
    if adoption == "broken":
        original = soak._soak_handler

        @contextmanager
        def never_adopting(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with original(*args, **kwargs) as loaded:
                enrollment = sys.modules["enrollment"]
                with mock.patch.object(enrollment, "find_lost_profile", return_value=None):
                    yield loaded

        monkeypatch.setattr(soak, "_soak_handler", never_adopting)

    report = soak.run(notifications=100, seed=7, fault_rate=0.0, duplicate_answer="same_task", consent=True)

    assert report.lost_creates > 0
    if adoption == "kept":
        assert report.max_profiles_per_task == 1
        # each lost create was adopted or, where another unsettled create overlapped, refused
        assert report.adopted + report.ambiguous > 0
        assert report.ok
    else:
        assert report.max_profiles_per_task > 1
        assert report.adopted == 0
        assert not report.ok
        assert "max per enroll task: " in report.render()
        # each duplicate is explained: the lost creates' profiles were made at once (no slow
        # replies here), inside the window a redelivery searches, so the (broken) handler is to blame
        explanations = [v for v in report.profile_violations if " profiles from " in v]
        assert len(explanations) == sum(1 for v in explanations if "(a handler bug)" in v) > 0


def test_soak_report_fails_on_a_profile_violation() -> None:
    soak = load_soak()
    assert not soak.SoakReport(sent=1, max_profiles_per_task=2).ok
    assert not soak.SoakReport(sent=1, profile_violations=["vpr-1: 2 different outcomes"]).ok
    assert soak.SoakReport(sent=1, max_profiles_per_task=1).ok


def test_the_latest_decision_wins_by_time_and_declined_wins_a_tie() -> None:
    final = load_soak().final_decision
    assert final([("granted", 1), ("declined", 2)]) == "declined"
    assert final([("granted", 2), ("declined", 1)]) == "granted"
    assert final([("declined", 1), ("granted", 1)]) == "declined"
    assert final([("granted", 1), ("declined", 1)]) == "declined"
    assert final([]) == "none"


def test_soak_report_fails_on_a_call_started_without_consent() -> None:
    soak = load_soak()
    assert not soak.SoakReport(sent=1, started_without_consent=["tx: declined, has a task"]).ok
    assert not soak.SoakReport(sent=1, granted_not_started=["tx: granted, no task"]).ok


@pytest.mark.parametrize(
    ("made_after_s", "verdict"),
    [
        (1.0, "inside the 1.1 s window a redelivery searches (a handler bug)"),
        (1.5, "the documented assumption did not hold"),
    ],
)
def test_a_second_profile_is_explained_against_the_search_window(
    made_after_s: float, verdict: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A duplicate names when its task's first profile was made after the claim it belongs to."""
    soak = load_soak()
    # the soak's scaled times: a 0.6 s create budget + 0.5 s clock skew = a 1.1 s window
    monkeypatch.setitem(sys.modules, "enrollment", mock.Mock(CREATE_BUDGET_S=0.6))
    fake = f.FakeAws()
    body = b'{"SpeakerSearchTaskId": "task-1"}'
    for _ in range(2):
        fake.requests.append(f.Request(f.CHIME, "POST", "/voice-profiles", {}, body))
    for n, at in enumerate((100.0 + made_after_s, 103.2)):
        fake.profiles[f"vp-{n}"] = f.VoiceProfile(f"vp-{n}", "vpd-1", "task-1", at, at)

    # claims at 100.0 and (the retaken one) 103.0: the first profile belongs to the first claim
    explanation = soak._explain_second_profile(fake, "task-1", [100.0, 103.0])

    assert explanation.startswith("task task-1: 2 profiles from 2 CreateVoiceProfile requests;")
    assert f"made {made_after_s:.2f} s after its claim" in explanation
    assert verdict in explanation


def test_a_second_profile_without_a_claim_is_a_handler_bug() -> None:
    soak = load_soak()
    fake = f.FakeAws()
    fake.profiles["vp-0"] = f.VoiceProfile("vp-0", "vpd-1", "task-1", 100.0, 100.0)
    fake.profiles["vp-1"] = f.VoiceProfile("vp-1", "vpd-1", "task-1", 101.0, 101.0)

    assert "no enrollment claim before the first profile (a handler bug)" in soak._explain_second_profile(
        fake, "task-1", [100.5]
    )
