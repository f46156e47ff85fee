#!/usr/bin/env python3
"""Bounded soak of the speaker-search handler: does anything get lost or started twice?

Drives ``lambda/speaker_search/index.py`` in-process with a seeded random mix of AnalyticsReady
notifications, duplicates, results (shuffled so some arrive before their call's AnalyticsReady),
other-connector, no-action and malformed notifications, in plain, SNS-wrapped and double-encoded
bodies. The real boto3 clients talk to the local fake AWS from ``tests/runtime/fake_aws.py``,
which injects 429 / 500 / 502 / 503 / connection resets / read timeouts / failed PutEvents entries.

SQS is simulated: batches of ``BATCH_SIZE``; records reported in ``batchItemFailures`` are
redelivered (at the back of the queue) until ``MAX_RECEIVE_COUNT`` receives, then moved to a DLQ.

The handler runs as deployed: with its state table (``STATE_TABLE_NAME``: moto's in-process
DynamoDB, same key schema as ``_state_table.py``) and with ``DEAD_LETTER_QUEUE_URL`` (a moto SQS
queue). Records the handler sends straight to the dead-letter queue (permanent failures, with a
``failureReason`` attribute) are drained from that queue after every batch into the simulated DLQ.

Status evidence (an assumption, docs/reliability.md): every task AWS starts sends at least one
``SpeakerSearchStatus`` naming its task ID to the same queue, sooner than the queue's visibility
timeout lets a failed delivery come back. The fake's ``on_task_started`` hook queues one such
notification per new task, after the batch during which the task started (so ahead of that
batch's redeliveries). The runtime relies on it: it is what settles a
``ResourceLimitExceededException`` after a start whose response was lost (``tasks.py``). The
workload's other results name calls that this soak never starts (tasks started before the soak),
since a status for a call that has no task cannot exist. ``--no-status-evidence`` leaves the
evidence out, to show what the runtime does without it.

At the end every notification must be accounted for by evidence independent of the handler's
return value: its call has a task in the fake (started/running), its notification ID was
published, the handler logged a documented skip for it, or it is in the DLQ with a reason (the
``failureReason`` attribute of a direct send, else a logged reason). Anything else is "lost".
Exit code 1 if a duplicate start, a lost notification, a started call in the DLQ, an outcome that
contradicts the notification's kind, or a message still in flight (time guard hit) is found.

A repeated start of a call that already has a task is answered the way ``--duplicate-answer``
says (AWS does not document it): ``same_task``, ``conflict`` (409) or ``limit_exceeded`` (400
ResourceLimitExceeded); by default the soak runs once with each and prints one summary row each.

Usage: .venv/bin/python bench/soak.py [--notifications 2000] [--seed 1] [--fault-rate 0.15]
       [--duplicate-answer same_task|conflict|limit_exceeded|all] [--no-status-evidence] [--consent]
       [--expired-answer gone|not_found|bad_request] [--list-lag 0.0]
       [--repeat-create-answer new_profile|conflict|same_profile]

``--consent`` runs the handler with REQUIRE_CONSENT=true and ENABLE_ENROLLMENT=true and adds:

* ``Speaker Search Consent`` requests for four calls in five: granted, declined, or two decisions
  (``OVERRIDES``: declined after the start, granted after a decline, out-of-order ingestion times
  both ways, equal ingestion times), the second 20 to 60 messages after the first. Each comes in
  the request envelope with its EventBridge ingestion time, which orders the decisions; the
  event's own ``time`` claims the opposite order, and must be ignored;
* ``Enroll`` / ``Update`` / ``Delete Voice Profile`` requests (one message in five): enrolls, some
  with a second request for the same task, some without ``consentReference``, for an expired
  (25 h) or unknown task; updates, also of unknown profiles and with expired tasks; deletes, each
  followed by a delete of the already deleted profile, and deletes of never existing profiles.
  A fifth of them are delivered twice. The tasks and profiles they name are seeded into the fake.

With ``--consent`` redelivered records wait ``VISIBILITY_TIMEOUT_S`` first, as SQS makes them
(longer than a claim's ``CREATE_BUDGET_S`` plus ``CLOCK_SKEW_S``, so a redelivery can settle
it); without it they go to the back of the queue at once.

Checked from the fake's own records, not the handler's answers (exit 1 on any violation): the
latest decision wins (a granted call has a task running, a declined call none left running, an
undecided call never had one); at most one profile per enroll task (the fake records each
profile's task); every request ends in exactly one outcome event, the right one (``Enrolled``
with the profile made from its own task, ``Updated`` / ``Deleted`` with its profile, ``Request
Failed`` with the reason: the validation message, ``NotFoundException``, the expired task's code),
or in the DLQ with a reason. ``AmbiguousLostResponse`` (an enroll whose lost create cannot be told
apart from another's) is a documented outcome, counted. Where AWS does not settle an answer the
fake takes an option: ``--expired-answer gone|not_found|bad_request``, ``--repeat-create-answer
new_profile|conflict|same_profile`` (a second CreateVoiceProfile for a task) and ``--list-lag S``
(ListVoiceProfiles shows a profile S seconds after it was made; keep it under ``CLOCK_SKEW_S``).

Examples:
       .venv/bin/python bench/soak.py --notifications 10000 --fault-rate 0.2
       .venv/bin/python bench/soak.py --notifications 2000 --fault-rate 0.2 --consent
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import boto3
from moto import mock_aws

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table  # noqa: E402

from tests.runtime import fake_aws as f  # noqa: E402
from tests.runtime import notifications as n  # noqa: E402
from tests.support import apply_env, load_handler, offline_aws_env  # noqa: E402

SERVED = (n.SERVED_CONNECTOR, n.OTHER_SERVED_CONNECTOR)
CALL_LEG = "Caller"
MAX_RECEIVE_COUNT = 5
BATCH_SIZE = 10
LAMBDA_TIMEOUT_MS = 30_000
SHUFFLE_WINDOW = 25
STATE_TABLE = "soak-state"
#: The state table's partition key (constructs/chime_speaker_search/_state_table.py PARTITION_KEY).
PARTITION_KEY = "pk"
DLQ_NAME = "soak-dlq"
#: ``source`` of consent requests (lambda/speaker_search/settings.py default REQUEST_SOURCE).
REQUEST_SOURCE = "chime-speaker-search.requests"
SEARCH_ID = "soak"
VOICE_PROFILE_DOMAIN = "vpd-soak"
#: SQS hides a failed record this long before redelivering it. Scaled down like the client
#: timeouts below (the construct's queue: 6 x the function timeout, 180 s by default), and, as
#: there, longer than a lost CreateVoiceProfile's attempt window plus the clock skew
#: (user_requests.py), so a redelivery can settle the attempt.
VISIBILITY_TIMEOUT_S = 1.2
#: user_requests.CLOCK_SKEW_S in the soak (60 s deployed), scaled like the timeouts.
CLOCK_SKEW_S = 0.5
#: user_requests.CREATE_BUDGET_S in the soak (20 s deployed, about three attempts of 7 s): two
#: attempts of 0.3 s. A claim's window is this plus ``CLOCK_SKEW_S``, under the visibility timeout.
CREATE_BUDGET_S = 0.6
#: Another team's voice profile domain: its profiles must never be touched.
OTHER_DOMAIN = "vpd-another-team"
#: Failure reasons the handler publishes (lambda/speaker_search/task_scope.py, voice_profiles.py).
UNKNOWN_TASK = "UnknownSpeakerSearchTask"
IN_ANOTHER_DOMAIN = "VoiceProfileInAnotherDomain"
NO_REFERENCE = "detail.consentReference is required"
#: Age of the speaker search tasks enroll and update requests name: within the 24-hour window,
#: and past it (the fake answers per ``expired_task_answer``).
FRESH_TASK_AGE_S = 3600.0
EXPIRED_TASK_AGE_S = 25 * 3600.0

ENV = offline_aws_env(
    {
        "VOICE_PROFILE_DOMAIN_ID": VOICE_PROFILE_DOMAIN,
        "CALL_LEG": CALL_LEG,
        "VOICE_CONNECTOR_IDS": ",".join(SERVED),
        "EVENT_BUS_NAME": "soak-bus",
        "SEARCH_ID": SEARCH_ID,
        "LOG_LEVEL": "DEBUG",
    }
)


@dataclass
class Message:
    message_id: str
    body: str
    #: What should happen: "start", "result", "skip", "malformed", "consent", "gated" (an
    #: AnalyticsReady whose call had several decisions: started or skipped, by the order they
    #: arrive in) or "profile" (a voice profile request: its outcome event).
    kind: str
    key: tuple[str, str, str] | None = None  # (connector, transaction, leg): start, gated, consent
    notification_id: str | None = None  # for "result"
    receives: int = 0
    #: ``failureReason`` of the handler's own send to the dead-letter queue (None: not sent).
    dead_letter_reason: str | None = None
    #: ``--consent``: the call's final decision ("granted", "declined" or "none") on its AnalyticsReady.
    consent: str | None = None
    #: ``--consent``: the call had several decisions (on its AnalyticsReady).
    overridden: bool = False
    #: Voice profile requests: the request event's ``id`` and what must come of it.
    request: VoiceProfileCase | None = None


@dataclass(frozen=True)
class VoiceProfileCase:
    """One Enroll / Update / Delete Voice Profile request and the outcome it must end in."""

    request_id: str
    detail_type: str
    #: "enrolled", "updated", "deleted", "failed:<reason>" or "failed:expired" (the reason is the
    #: error code the fake gives an expired task, an option of the fake).
    expect: str
    task_id: str | None = None
    #: Seconds since the named task ran (seeded into the fake); None: no such task.
    task_age_s: float | None = None
    profile_id: str | None = None
    #: The named profile exists (seeded into the fake, made a year ago).
    profile_exists: bool = False
    #: The task is this construct's (seeded into the task index); False: another team's task.
    task_indexed: bool = True
    #: The decision recorded for the task's call (REQUIRE_CONSENT is on in this soak).
    call_consent: str = "granted"
    #: The voice profile domain the named profile is in (another: it must never be touched).
    profile_domain: str = VOICE_PROFILE_DOMAIN
    #: An early request: the task's voiceprint is made this long after its first
    #: GetSpeakerSearchTask (None: made long ago).
    voiceprint_delay_s: float | None = None

    @property
    def call(self) -> tuple[str, str]:
        """The call the named task ran in (each task its own)."""
        return (SERVED[0], f"tx-{self.task_id}")


@dataclass
class SoakReport:
    sent: int = 0
    duplicate_answer: str = "conflict"
    #: SpeakerSearchStatus notifications queued for started tasks (the status evidence).
    status_notifications: int = 0
    status_evidence: bool = True
    invocations: int = 0
    tasks_started: int = 0
    duplicate_starts: int = 0
    results_published: int = 0
    duplicate_publishes: int = 0
    started: int = 0
    published: int = 0
    #: Results the consent gate withheld (``--consent``), and by why.
    withheld: int = 0
    withheld_by: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    dlq: Counter[str] = field(default_factory=Counter)
    #: Of the DLQ: sent there by the handler itself (permanent failures), not after max receives.
    dead_lettered_directly: int = 0
    #: "start" notifications in the DLQ although their call has a task (issue 9 item 1).
    started_in_dlq: int = 0
    lost: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    in_flight: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    #: Deliveries that got ResourceLimitExceeded after a start of their own went unanswered.
    unconfirmed: int = 0
    requests: int = 0
    elapsed: float = 0.0
    #: ``--consent``: calls by the caller's decision ("granted", "declined", "none").
    consent_calls: Counter[str] = field(default_factory=Counter)
    #: ``--consent``: calls declined or never consented to that have a task anyway (must be empty).
    started_without_consent: list[str] = field(default_factory=list)
    #: ``--consent``: granted calls without a task (must be empty).
    granted_not_started: list[str] = field(default_factory=list)
    #: ``--consent``: calls with several decisions (a later or earlier one overriding), and the
    #: tasks StopSpeakerSearchTask stopped (declined after the start).
    decisions_overridden: int = 0
    tasks_stopped: int = 0
    #: ``--consent``: voice profile requests by expected outcome, and what the fake answered
    #: where AWS does not say (an expired task; a repeated CreateVoiceProfile).
    profile_requests: Counter[str] = field(default_factory=Counter)
    expired_task_answer: str = ""
    repeat_create_answer: str = ""
    #: Most profiles the fake made from one speaker search task (every enroll request names one
    #: task; must be at most 1), and CreateVoiceProfile answers lost after the profile was made.
    max_profiles_per_task: int = 0
    profiles_created: int = 0
    lost_creates: int = 0
    #: Lost creates the handler settled by adopting the profile (ListVoiceProfiles).
    adopted: int = 0
    #: Enroll requests that ended as ``AmbiguousLostResponse`` (several candidates; documented).
    ambiguous: int = 0
    #: Creates or updates the fake refused because the task had no voiceprint yet (must be 0).
    unready_creates: int = 0
    #: Early enrolls (the voiceprint made after the first look) that ended enrolled, and the
    #: deliveries that found a voiceprint not ready yet and came back later.
    early_enrolls: int = 0
    voiceprint_waits: int = 0
    #: Voice profile requests that ended in the DLQ (with a reason) instead of an outcome event.
    profile_requests_in_dlq: int = 0
    #: Wrong, missing or conflicting outcome events, or a profile made where none may be.
    profile_violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.duplicate_starts
            or self.lost
            or self.unexpected
            or self.in_flight
            or self.started_in_dlq
            or self.started_without_consent
            or self.granted_not_started
            or self.max_profiles_per_task > 1
            or self.profile_violations
        )

    def render(self) -> str:
        lines = [
            f"notifications sent:     {self.sent} (a repeated start is answered: {self.duplicate_answer})",
            f"status evidence:        {self.status_notifications} SpeakerSearchStatus for started tasks"
            + ("" if self.status_evidence else " (off)"),
            f"handler invocations:    {self.invocations} (batches of up to {BATCH_SIZE})",
            f"tasks started:          {self.tasks_started}",
            f"duplicate starts:       {self.duplicate_starts}",
            f"results published:      {self.results_published}"
            f" (+{self.duplicate_publishes} re-published after a lost PutEvents response; consumers dedupe)",
            f"accounted: started {self.started}, published {self.published}, withheld {self.withheld},"
            f" skipped {self.skipped}, in DLQ {sum(self.dlq.values())}",
            *(
                [
                    "results withheld:       "
                    + ", ".join(f"{k} {v}" for k, v in sorted(self.withheld_by.items()))
                ]
                if self.withheld_by
                else []
            ),
            f"in DLQ:                 {sum(self.dlq.values())}"
            f" ({self.dead_lettered_directly} sent there directly by the handler)",
            *(f"    {count:5d}  {reason}" for reason, count in self.dlq.most_common()),
            f"started calls in DLQ:   {self.started_in_dlq}",
            f"lost:                   {len(self.lost)}",
            *(f"    {item}" for item in self.lost[:20]),
            f"unexpected outcomes:    {len(self.unexpected)}",
            *(f"    {item}" for item in self.unexpected[:20]),
            f"still in flight:        {self.in_flight}",
            f"faults injected:        {sum(self.faults.values())} "
            + ", ".join(f"{k}={v}" for k, v in sorted(self.faults.items())),
            f"retries (in-process):   {self.retries}",
            f"RLE after a lost start: {self.unconfirmed} deliveries (redelivered until the evidence came)",
            *(
                [
                    "consent gate:           "
                    + ", ".join(f"{k} {v}" for k, v in sorted(self.consent_calls.items()))
                    + " calls",
                    f"started w/o consent:    {len(self.started_without_consent)}",
                    *(f"    {item}" for item in self.started_without_consent[:20]),
                    f"granted, not started:   {len(self.granted_not_started)}",
                    *(f"    {item}" for item in self.granted_not_started[:20]),
                    f"decisions overridden:   {self.decisions_overridden} calls"
                    f" ({self.tasks_stopped} tasks stopped after a decline)",
                ]
                if self.consent_calls
                else []
            ),
            *(
                [
                    "voice profile requests: "
                    + ", ".join(f"{k} {v}" for k, v in sorted(self.profile_requests.items())),
                    f"fake answers:           expired task -> {self.expired_task_answer},"
                    f" repeated create -> {self.repeat_create_answer}",
                    f"profiles created:       {self.profiles_created}"
                    f" (max per enroll task: {self.max_profiles_per_task})",
                    f"lost create answers:    {self.lost_creates} ({self.adopted} adopted on redelivery,"
                    f" {self.ambiguous} AmbiguousLostResponse)",
                    f"early enrolls:          {self.early_enrolls} enrolled after {self.voiceprint_waits}"
                    f" deliveries found the voiceprint not ready; {self.unready_creates} creates too early",
                    f"requests in DLQ:        {self.profile_requests_in_dlq}",
                    f"profile violations:     {len(self.profile_violations)}",
                    *(f"    {item}" for item in self.profile_violations[:20]),
                ]
                if self.profile_requests
                else []
            ),
            f"HTTP requests:          {self.requests}",
            f"elapsed:                {self.elapsed:.1f} s",
            f"result:                 {'OK' if self.ok else 'FAILED'}",
        ]
        return "\n".join(lines)


# -- workload --------------------------------------------------------------------------------------


def _malformed(rng: random.Random) -> str:
    ready = n.analytics_ready(f"tx-bad-{rng.getrandbits(32):08x}")
    choices: list[Any] = [
        "not json at all",
        "[]",
        "42",
        n.sns_envelope("plain text"),
        n.records_wrapper(ready, ready),
        {**ready, "detail": None},
        {**ready, "detail": {**ready["detail"], "transactionId": None}},
        {**ready, "detail": {**ready["detail"], "transactionId": 12345}},
        {**ready, "detail": {**ready["detail"], "voiceConnectorId": ""}},
        {**ready, "detail": {**ready["detail"], "transactionId": "t" * 2000}},
        {**n.search_status(), "detail": {"detailStatus": "IdentificationSuccessful"}},
    ]
    body = rng.choice(choices)
    return body if isinstance(body, str) else json.dumps(body)


def _results(rng: random.Random) -> list[dict[str, Any]]:
    def score() -> Any:
        value = round(rng.random(), 8)
        return rng.choice([value, str(value), "n/a"])

    return [
        {"voiceProfileId": f"vp-{rng.getrandbits(32):08x}", "confidenceScore": score()}
        for _ in range(rng.randint(0, 4))
    ]


def _wrap(notification: dict[str, Any], rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.15:
        return n.sns_envelope(notification)
    if roll < 0.30:
        return n.double_encoded(notification)
    return json.dumps(notification)


def _consent_request(
    call: tuple[str, str], decision: str, rid: str, time: str = "2029-11-25T10:01:00Z"
) -> dict[str, Any]:
    """A ``Speaker Search Consent`` request as its rule delivers it (lambda/speaker_search/consent.py).

    ``time`` is EventBridge's ingestion time (the envelope's), which orders decisions. The event's
    own ``time`` is its producer's and says the opposite (the earliest decision claims the latest
    time), so a handler that ordered by it would fail the soak's consent checks.
    """
    detail = {"voiceConnectorId": call[0], "transactionId": call[1], "consent": decision}
    request = n.envelope("Speaker Search Consent", {**detail, "consentReference": f"ivr-{rid}"}, rid)
    minute = int(time[14:16])
    request.update(source=REQUEST_SOURCE, time=f"2029-11-25T11:{59 - minute:02d}:00Z")
    return n.request_envelope(request, time)


#: Decision histories of calls with several decisions: (decision, minute of its ingestion time) in
#: the order they are sent; the second is sent 20 to 60 messages after the first, so a granted call
#: has usually started by then. The latest ingestion time wins; on a tie ``declined`` does.
OVERRIDES = (
    (("granted", 1), ("declined", 2)),  # declined after the start: the task is stopped
    (("declined", 1), ("granted", 2)),  # granted later: the call starts then
    (("granted", 2), ("declined", 1)),  # out of order: the older decline is ignored
    (("declined", 2), ("granted", 1)),  # out of order: the older grant is ignored
    (("granted", 1), ("declined", 1)),  # equal time: declined wins (stops the task)
    (("declined", 1), ("granted", 1)),  # equal time: declined wins (the grant is ignored)
)


def final_decision(history: list[tuple[str, int]]) -> str:
    """The decision that must win: the latest ``time``; ``declined`` on a tie; "none" if none."""
    if not history:
        return "none"
    return max(history, key=lambda d: (d[1], d[0] == "declined"))[0]


def _voice_profile_request(case: VoiceProfileCase, with_reference: bool = True) -> dict[str, Any]:
    detail: dict[str, Any] = {"searchId": SEARCH_ID}
    if case.task_id is not None:
        detail["speakerSearchTaskId"] = case.task_id
    if case.profile_id is not None:
        detail["voiceProfileId"] = case.profile_id
    if with_reference:
        detail["consentReference"] = f"ivr-{case.request_id}"
    if case.detail_type != "Delete Voice Profile":
        detail["externalId"] = f"ext-{case.request_id}"
    request = n.envelope(case.detail_type, detail, case.request_id)
    request.update(source=REQUEST_SOURCE, time="2029-11-25T10:05:00Z")
    return n.request_envelope(request, "2029-11-25T10:05:00Z")


def _voice_profile_cases(i: int, rng: random.Random) -> list[tuple[int, VoiceProfileCase, bool]]:
    """A voice profile scenario: (delay in messages, request, has a consentReference) each."""
    rid = f"vpr-{i:05d}"
    task = f"sst-{i:05d}"
    enroll, update, delete = "Enroll Voice Profile", "Update Voice Profile", "Delete Voice Profile"
    fresh, past, gone = FRESH_TASK_AGE_S, f"vp-past-{i:05d}", f"vp-gone-{i:05d}"
    roll = rng.random()
    if roll < 0.34:  # enroll; sometimes a second request for the same task follows
        cases = [(0, VoiceProfileCase(rid, enroll, "enrolled", task, fresh), True)]
        if rng.random() < 0.3:
            again = VoiceProfileCase(f"{rid}-b", enroll, "enrolled", task, fresh)
            cases.append((rng.randint(1, 40), again, True))
        return cases
    if roll < 0.40:  # early: the voiceprint is made a moment after the first look
        delay = rng.uniform(0.3, 1.5)
        return [(0, VoiceProfileCase(rid, enroll, "enrolled", task, fresh, voiceprint_delay_s=delay), True)]
    if roll < 0.46:  # no consentReference: nothing is called, no profile may exist
        return [(0, VoiceProfileCase(rid, enroll, f"failed:{NO_REFERENCE}", task, fresh), False)]
    if roll < 0.52:
        return [(0, VoiceProfileCase(rid, enroll, "failed:expired", task, EXPIRED_TASK_AGE_S), True)]
    if roll < 0.55:  # a made-up task ID
        unknown = VoiceProfileCase(
            rid, enroll, f"failed:{UNKNOWN_TASK}", f"sst-unknown-{i:05d}", task_indexed=False
        )
        return [(0, unknown, True)]
    if roll < 0.58:  # another team's task: it exists, but this construct never started it
        foreign = VoiceProfileCase(rid, enroll, f"failed:{UNKNOWN_TASK}", task, fresh, task_indexed=False)
        return [(0, foreign, True)]
    if roll < 0.61:  # a task of a call whose caller declined
        declined = VoiceProfileCase(
            rid, enroll, "failed:ConsentDeclined", task, fresh, call_consent="declined"
        )
        return [(0, declined, True)]
    if roll < 0.70:
        return [(0, VoiceProfileCase(rid, update, "updated", task, fresh, past, True), True)]
    if roll < 0.73:
        return [(0, VoiceProfileCase(rid, update, "failed:NotFoundException", task, fresh, gone), True)]
    if roll < 0.76:
        return [
            (0, VoiceProfileCase(rid, update, "failed:expired", task, EXPIRED_TASK_AGE_S, past, True), True)
        ]
    if roll < 0.79:  # another domain's profile: never touched
        foreign = VoiceProfileCase(
            rid, update, f"failed:{IN_ANOTHER_DOMAIN}", task, fresh, past, True, profile_domain=OTHER_DOMAIN
        )
        return [(0, foreign, True)]
    if roll < 0.82:  # no consentReference on an update: nothing is called either
        return [(0, VoiceProfileCase(rid, update, f"failed:{NO_REFERENCE}", task, fresh, past, True), False)]
    if roll < 0.92:  # delete, then delete the already deleted profile again
        first = VoiceProfileCase(rid, delete, "deleted", profile_id=past, profile_exists=True)
        again = VoiceProfileCase(f"{rid}-b", delete, "deleted", profile_id=past, profile_exists=True)
        return [(0, first, True), (rng.randint(1, 40), again, True)]
    if roll < 0.95:
        foreign = VoiceProfileCase(
            rid,
            delete,
            f"failed:{IN_ANOTHER_DOMAIN}",
            profile_id=past,
            profile_exists=True,
            profile_domain=OTHER_DOMAIN,
        )
        return [(0, foreign, rng.random() < 0.5)]
    return [(0, VoiceProfileCase(rid, delete, "deleted", profile_id=f"vp-never-{i:05d}"), rng.random() < 0.5)]


def generate(count: int, rng: random.Random, consent: bool = False) -> list[Message]:
    """A seeded mix of notifications, locally shuffled (duplicates can precede their first delivery).

    With ``consent`` (the handler runs with REQUIRE_CONSENT=true and ENABLE_ENROLLMENT=true) each new
    call is granted (two in five), declined (one in five), never decided (one in five) or decided
    twice (one in five, one of ``OVERRIDES``). A call's first ``Speaker Search Consent`` request is
    queued just before or just after its first AnalyticsReady (the shuffle mixes them further); a
    second decision follows 20 to 60 messages later. Simply granted calls' AnalyticsReady are
    "start", never granted calls' "skip", overridden calls' "gated". One message in five is a voice
    profile scenario (``_voice_profile_cases``), some delivered twice (at-least-once delivery).
    The count may be exceeded by the second messages of the last scenarios.
    """
    messages: list[Message] = []
    calls: list[tuple[str, str]] = []
    history: dict[tuple[str, str], list[tuple[str, int]]] = {}
    later: list[tuple[int, Message]] = []  # (when len(messages) reaches this, the message)

    def ready_message(mid: str, nid: str, call: tuple[str, str]) -> Message:
        ready = n.analytics_ready(call[1], call[0], notification_id=nid)
        decisions = {d for d, _ in history[call]}
        kind = "start"
        if consent and decisions != {"granted"}:
            kind = "gated" if "granted" in decisions else "skip"
        final = final_decision(history[call]) if consent else None
        return Message(
            mid, _wrap(ready, rng), kind, key=(*call, CALL_LEG), consent=final,
            overridden=len(history[call]) > 1,
        )  # fmt: skip

    def consent_message(call: tuple[str, str], decision: str, minute: int, rid: str) -> Message:
        body = json.dumps(_consent_request(call, decision, rid, f"2029-11-25T10:{minute:02d}:00Z"))
        return Message(f"msg-{rid}", body, "consent", key=(*call, CALL_LEG))

    while len(messages) < count:
        due = [m for at, m in later if at <= len(messages)]
        later = [(at, m) for at, m in later if at > len(messages)]
        messages.extend(due)
        i = len(messages)
        mid, nid = f"msg-{i:05d}", f"n-{i:05d}"
        if consent and rng.random() < 0.2:
            for delay, case, with_reference in _voice_profile_cases(i, rng):
                body = json.dumps(_voice_profile_request(case, with_reference))
                copies = 2 if rng.random() < 0.2 else 1  # the same request delivered twice
                for copy in range(copies):
                    message = Message(f"msg-{case.request_id}-{copy}", body, "profile", request=case)
                    later.append((len(messages) + delay + copy * rng.randint(1, 30), message))
            continue
        roll = rng.random()
        if roll < 0.30 or not calls:
            call = (rng.choice(SERVED), f"tx-{rng.getrandbits(48):012x}")
            calls.append(call)
            history[call] = []
            if consent:
                plan = rng.choice(["granted", "granted", "declined", "none", "override"])
                if plan == "override":
                    history[call] = list(rng.choice(OVERRIDES))
                elif plan != "none":
                    history[call] = [(plan, 1)]
            messages.append(ready_message(mid, nid, call))
            for position, (decision, minute) in enumerate(history[call]):
                request = consent_message(call, decision, minute, f"r-{i:05d}-{position}")
                if position == 0:
                    messages.insert(len(messages) - rng.randint(0, 1), request)  # before or after
                else:
                    later.append((len(messages) + rng.randint(20, 60), request))
        elif roll < 0.42:  # the same AnalyticsReady again (at-least-once delivery)
            messages.append(ready_message(mid, nid, rng.choice(calls)))
        elif roll < 0.68:
            # A status for a call of this workload would be evidence that its task exists (the
            # runtime records it as started); statuses of started tasks come from the fake.
            call = (rng.choice(SERVED), f"tx-earlier-{rng.getrandbits(48):012x}")
            result = n.search_status(
                rng.choice(n.SEARCH_STATUSES),
                f"task-{rng.getrandbits(32):08x}",
                results=_results(rng),
                notification_id=nid,
                voice_connector_id=call[0],
                transaction_id=call[1],
                is_caller=rng.choice([True, False, None]),
            )
            messages.append(Message(mid, _wrap(result, rng), "result", notification_id=nid))
        elif roll < 0.76:
            foreign = n.analytics_ready(f"tx-{i}", n.FOREIGN_CONNECTOR, notification_id=nid)
            messages.append(Message(mid, _wrap(foreign, rng), "skip"))
        elif roll < 0.86:
            other = rng.choice(
                [
                    n.analytics_ready(status="PostCallVoiceAnalytics", notification_id=nid),
                    n.voice_tone(nid),
                    n.envelope("Chime VoiceConnector Streaming Status", {"streamingStatus": "STARTED"}, nid),
                ]
            )
            messages.append(Message(mid, _wrap(other, rng), "skip"))
        else:
            messages.append(Message(mid, _malformed(rng), "malformed"))
    messages.extend(m for _, m in sorted(later, key=lambda item: item[0]))
    for i in range(len(messages)):  # out of order, but only locally, as a real queue would be
        j = min(len(messages) - 1, i + rng.randrange(SHUFFLE_WINDOW))
        messages[i], messages[j] = messages[j], messages[i]
    return messages


# -- harness ---------------------------------------------------------------------------------------


class _LogCollector(logging.Handler):
    """Keeps what the handler logged per SQS messageId (message names and reasons only)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.by_message: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.retries = 0
        self.unconfirmed = 0
        self.adopted = 0
        #: Results the consent gate withheld, by why (``ResultsWithheld``'s Status).
        self.withheld: Counter[str] = Counter()
        self.voiceprint_waits = 0

    def emit(self, record: logging.LogRecord) -> None:
        name = record.getMessage()
        if name == "result_withheld":
            self.withheld[str(getattr(record, "withheld", ""))] += 1
        elif name == "voice_profile_waiting_for_voiceprint":
            self.voiceprint_waits += 1
        if name == "aws_call_retrying":
            self.retries += 1
        elif name.endswith("_start_unconfirmed"):
            self.unconfirmed += 1
        elif name == "voice_profile_lost_response_recovered":
            self.adopted += 1
        message_id = getattr(record, "messageId", None)
        if message_id is not None:
            self.by_message[message_id].append((name, str(getattr(record, "reason", ""))))


class _Context:
    def __init__(self, remaining_ms: int) -> None:
        self._deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _fault_policy(rate: float, rng: random.Random) -> Callable[[str], f.Reply | None]:
    chime_faults = [
        f.throttled,
        f.throttled,
        f.service_failure,
        f.service_unavailable,
        f.bad_gateway,
        f.connection_reset,
        f.lost_response,  # the task starts, the answer is lost: the case the state table settles
    ]
    events_faults = [f.events_internal_error, f.failed_entry, f.failed_entry, f.connection_reset]

    def policy(service: str) -> f.Reply | None:
        if rng.random() >= rate:
            return None
        if rng.random() < 0.04:
            return f.slow(0.25)  # > READ_TIMEOUT_S below: a read timeout after the work was done
        return rng.choice(chime_faults if service == f.CHIME else events_faults)()

    return policy


@dataclass
class _StateAws:
    """moto's in-process DynamoDB and SQS: the handler's state table and dead-letter queue."""

    dead_letter_queue_url: str

    def drain_dead_letters(self) -> list[tuple[str, str]]:
        """(sourceMessageId, failureReason) of every message the handler sent there; removes them."""
        sqs = boto3.client("sqs")
        drained = []
        while messages := sqs.receive_message(
            QueueUrl=self.dead_letter_queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages"):
            for message in messages:
                attributes = message.get("MessageAttributes", {})
                source = attributes.get("sourceMessageId", {}).get("StringValue", "")
                drained.append((source, attributes.get("failureReason", {}).get("StringValue", "")))
                sqs.delete_message(
                    QueueUrl=self.dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return drained


@contextmanager
def _state_aws() -> Iterator[_StateAws]:
    """The state table and dead-letter queue, in moto (only AWS endpoints; the fake is not touched)."""
    with mock.patch.dict(os.environ), mock_aws():
        apply_env(os.environ, ENV)  # offline credentials and Region for the clients made here
        boto3.client("dynamodb").create_table(
            TableName=STATE_TABLE,
            KeySchema=[{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": PARTITION_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield _StateAws(boto3.client("sqs").create_queue(QueueName=DLQ_NAME)["QueueUrl"])


class _StatusEvidence:
    """Queues the SpeakerSearchStatus AWS would send for each task the fake starts (see docstring)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._lock = threading.Lock()
        self._pending: list[tuple[tuple[str, ...], str]] = []
        self.messages: list[Message] = []

    def on_task_started(self, key: tuple[str, ...], task_id: str) -> None:
        """The fake's hook; runs on one of its server threads."""
        with self._lock:
            self._pending.append((key, task_id))

    def take(self) -> list[Message]:
        """The notifications for the tasks started since the last call."""
        with self._lock:
            pending, self._pending = self._pending, []
        taken = []
        for key, task_id in pending:
            nid = f"s-{len(self.messages):05d}"
            status = n.search_status(
                self._rng.choice(n.SEARCH_STATUSES),
                task_id,
                results=_results(self._rng),
                notification_id=nid,
                voice_connector_id=key[0],
                transaction_id=key[1],
                is_caller=self._rng.choice([key[2] == "Caller", None]),  # None: the configured leg
            )
            message = Message(f"msg-{nid}", _wrap(status, self._rng), "result", notification_id=nid)
            self.messages.append(message)
            taken.append(message)
        return taken


def _noting_claims(claim: Callable[..., Any], claims: dict[str, list[float]]) -> Callable[..., Any]:
    """``enrollment_state.begin_enroll`` / ``retake_enroll``, noting when a claim was taken (state clock)."""

    def noting(table: str, task_id: str, *args: Any, **kwargs: Any) -> Any:
        at = sys.modules["state"]._now()
        result = claim(table, task_id, *args, **kwargs)
        if result is True or (isinstance(result, tuple) and result[1]):
            claims.setdefault(task_id, []).append(at)
        return result

    return noting


@contextmanager
def _soak_handler(
    fake: f.FakeAws,
    seed: int,
    state_aws: _StateAws,
    consent: bool = False,
    claims: dict[str, list[float]] | None = None,
) -> Iterator[tuple[ModuleType, _LogCollector]]:
    """The handler pointed at the fake, with short timeouts and instant backoff; all restored after.

    ``claims`` collects, per task, when the handler claimed an enrollment (the time its lost-create
    window starts from), to explain a second profile.
    """
    mod = load_handler("speaker_search")
    collector = _LogCollector()
    logger = logging.getLogger(sys.modules["outcomes"].LOGGER_NAME)
    env = {
        **ENV,
        "AWS_ENDPOINT_URL_CHIME_SDK_VOICE": fake.url,
        "AWS_ENDPOINT_URL_EVENTBRIDGE": fake.url,
        "STATE_TABLE_NAME": STATE_TABLE,
        "DEAD_LETTER_QUEUE_URL": state_aws.dead_letter_queue_url,
        **({"REQUIRE_CONSENT": "true", "ENABLE_ENROLLMENT": "true"} if consent else {}),
    }
    with ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ))  # restores the whole environment after
        apply_env(os.environ, env)
        clients, aws_calls = sys.modules["clients"], sys.modules["aws_calls"]
        enrollment_state = sys.modules["enrollment_state"]
        if claims is not None:
            for claim in ("begin_enroll", "retake_enroll"):
                noting = _noting_claims(getattr(enrollment_state, claim), claims)
                stack.enter_context(mock.patch.object(enrollment_state, claim, noting))
        for module, attr, value in (
            (clients, "READ_TIMEOUT_S", 0.1),
            (clients, "CONNECT_TIMEOUT_S", 0.2),
            (clients, "SAFETY_MARGIN_S", 0.5),
            (sys.modules["enrollment"], "CLOCK_SKEW_S", CLOCK_SKEW_S),
            (sys.modules["enrollment"], "CREATE_BUDGET_S", CREATE_BUDGET_S),
            (aws_calls, "_sleep", lambda _seconds: None),  # backoff is exercised, not waited for
            (aws_calls, "_rng", random.Random(seed + 2)),
        ):
            stack.enter_context(mock.patch.object(module, attr, value))
        stack.enter_context(mock.patch.object(logger, "propagate", False))
        # The handler prints one EMF metrics line per invocation; the report is what this prints.
        stack.enter_context(redirect_stdout(stack.enter_context(open(os.devnull, "w"))))
        logger.addHandler(collector)
        stack.callback(logger.removeHandler, collector)
        stack.callback(mod.reset_for_tests)
        mod.reset_for_tests()
        yield mod, collector


#: What the fake answers a repeated start of a call that already has a task (AWS does not document
#: it; docs/aws-voice-analytics-facts-3.md): the same task, 409 Conflict or 400 ResourceLimitExceeded.
DUPLICATE_ANSWERS = ("same_task", "conflict", "limit_exceeded")


def time_guard(notifications: int) -> float:
    """Default wall-clock limit: generous for this machine (about 10 ms per notification under load)."""
    return 60.0 + 0.05 * notifications


def _fake_options(duplicate_answer: str) -> dict[str, Any]:
    if duplicate_answer not in DUPLICATE_ANSWERS:
        raise ValueError(f"duplicate_answer: {duplicate_answer!r} is not one of {DUPLICATE_ANSWERS}")
    if any(fld.name == "duplicate_start_answer" for fld in fields(f.FakeAws)):
        return {"duplicate_start_answer": duplicate_answer}
    if duplicate_answer == "limit_exceeded":  # an older fake without the knob
        raise ValueError("this fake_aws cannot answer a repeated start with ResourceLimitExceeded")
    return {"conflict_on_repeat": duplicate_answer == "conflict"}


def _seed_fake(fake: f.FakeAws, messages: list[Message]) -> None:
    """The tasks and profiles the voice profile requests name, made before the soak."""
    for case in {m.request for m in messages if m.request is not None}:
        if case.task_id is not None and case.task_age_s is not None:
            voiceprint = None
            if case.voiceprint_delay_s is not None:
                voiceprint = f.Voiceprint(ready_after_first_get_s=case.voiceprint_delay_s)
            fake.add_past_task(
                case.task_id, VOICE_PROFILE_DOMAIN, case.task_age_s, call=case.call, voiceprint=voiceprint
            )
        if case.profile_id is not None and case.profile_exists and case.profile_id not in fake.profiles:
            fake.add_past_profile(case.profile_id, case.profile_domain, 365 * 24 * 3600.0)


def _seed_state(messages: list[Message]) -> None:
    """The state the named tasks left when this construct started them: their index entries and
    their calls' consent (with the handler's own modules, so the items are exactly its own)."""
    aws_calls, notifications = sys.modules["aws_calls"], sys.modules["notifications"]
    task_index, consent_state = sys.modules["task_index"], sys.modules["consent_state"]
    decided_at = notifications.parse_instant("2029-11-25T09:00:00Z")
    for case in {m.request for m in messages if m.request is not None}:
        if case.task_id is None or case.task_age_s is None or not case.task_indexed:
            continue
        deadline = aws_calls.Deadline.after(30)
        task_index.record(
            STATE_TABLE,
            case.task_id,
            kind="speaker_search",
            voice_connector_id=case.call[0],
            transaction_id=case.call[1],
            call_leg=CALL_LEG,
            deadline=deadline,
        )
        consent_state.record_consent(
            STATE_TABLE,
            *case.call,
            consent=case.call_consent,
            consent_reference=None,
            decided_at=decided_at,
            deadline=deadline,
        )


def run(
    notifications: int = 2000,
    seed: int = 1,
    fault_rate: float = 0.15,
    max_seconds: float | None = None,
    duplicate_answer: str = "conflict",
    status_evidence: bool = True,
    consent: bool = False,
    expired_task_answer: str = "gone",
    repeat_create_answer: str = "new_profile",
    list_lag_s: float = 0.0,
    visibility_timeout_s: float | None = None,
) -> SoakReport:
    """Run the soak and return its report (nothing is printed).

    ``expired_task_answer``, ``repeat_create_answer`` and ``list_lag_s`` are the fake's answers
    where AWS does not settle them (tests/runtime/fake_aws.py); they matter with ``consent``.
    ``visibility_timeout_s``: how long a failed record stays hidden (default: ``VISIBILITY_TIMEOUT_S``
    with ``consent``, where a lost create's window must pass; else 0, redelivered at the back of
    the queue at once, as the figures in docs/reliability.md were measured).
    """
    if visibility_timeout_s is None:
        visibility_timeout_s = VISIBILITY_TIMEOUT_S if consent else 0.0
    rng = random.Random(seed)
    messages = generate(notifications, rng, consent)
    report = SoakReport(
        sent=len(messages),
        duplicate_answer=duplicate_answer,
        status_evidence=status_evidence,
        expired_task_answer=expired_task_answer,
        repeat_create_answer=repeat_create_answer,
    )
    by_id = {m.message_id: m for m in messages}
    queue: deque[Message] = deque(messages)
    invisible: list[tuple[float, Message]] = []  # failed records until their visibility timeout ends
    dlq: list[Message] = []
    evidence = _StatusEvidence(random.Random(seed + 3))
    limit = time_guard(notifications) if max_seconds is None else max_seconds
    started_at = time.monotonic()
    options = {
        **_fake_options(duplicate_answer),
        "expired_task_answer": expired_task_answer,
        "repeat_create_answer": repeat_create_answer,
        "list_lag_s": list_lag_s,
    }
    claims: dict[str, list[float]] = {}  # enrollment claims per task, to explain a second profile
    with f.running(**options) as fake, _state_aws() as state_aws:
        _seed_fake(fake, messages)
        fake.fault_policy = _fault_policy(fault_rate, random.Random(seed + 1))
        if status_evidence:
            fake.on_task_started = evidence.on_task_started
        with _soak_handler(fake, seed, state_aws, consent, claims) as (mod, logs):
            _seed_state(messages)
            while time.monotonic() - started_at < limit:
                now = time.monotonic()
                queue.extend(m for at, m in invisible if at <= now)
                invisible = [(at, m) for at, m in invisible if at > now]
                if not queue and invisible:
                    time.sleep(max(0.0, min(at for at, _ in invisible) - now))
                    continue
                if not queue:
                    # A reply delayed past the client's timeout may still start a task: its status follows.
                    time.sleep(0.3)
                    queue.extend(evidence.take())
                    if not queue:
                        break
                batch = [queue.popleft() for _ in range(min(BATCH_SIZE, len(queue)))]
                for message in batch:
                    message.receives += 1
                event = {"Records": [n.sqs_record(m.body, m.message_id) for m in batch]}
                result = mod.handler(event, _Context(LAMBDA_TIMEOUT_MS))
                report.invocations += 1
                for message in evidence.take():  # AWS's status arrives before SQS redelivers
                    by_id[message.message_id] = message
                    queue.append(message)
                for source, reason in state_aws.drain_dead_letters():
                    direct = by_id[source]  # KeyError: the handler dead-lettered a body it never got
                    direct.dead_letter_reason = reason
                    dlq.append(direct)
                failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
                for message in batch:
                    if message.message_id not in failed:
                        continue
                    if message.receives >= MAX_RECEIVE_COUNT:
                        dlq.append(message)
                    else:
                        invisible.append((time.monotonic() + visibility_timeout_s, message))
            queue.extend(m for _, m in invisible)  # still in flight when the time guard hit
            report.retries = logs.retries
            report.unconfirmed = logs.unconfirmed
            report.adopted = logs.adopted
            report.withheld_by = logs.withheld
            report.voiceprint_waits = logs.voiceprint_waits
            report.status_notifications = len(evidence.messages)
            _account(report, [*messages, *evidence.messages], queue, dlq, fake, logs, claims)
    report.elapsed = time.monotonic() - started_at
    return report


_CONSENT_EVIDENCE = frozenset({"consent_recorded", "notification_skipped"})


def _check_consent(report: SoakReport, messages: list[Message], fake: f.FakeAws) -> None:
    """The latest decision wins: a granted call has a task running, a declined one none running,
    an undecided one never had one."""
    finals = {m.key: m.consent for m in messages if m.consent is not None and m.key is not None}
    report.consent_calls = Counter(finals.values())
    report.decisions_overridden = len({m.key for m in messages if m.overridden})
    report.tasks_stopped = len(fake.stopped_tasks)
    tasks_of: dict[tuple[str, str], list[str]] = defaultdict(list)
    for task_key, (_, task_id) in fake.tasks.items():
        tasks_of[(task_key[0], task_key[1])].append(task_id)
    for key, decision in finals.items():
        tasks = tasks_of.get((key[0], key[1]), [])
        running = [task_id for task_id in tasks if task_id in fake.active_tasks]
        if decision == "granted" and not running:
            report.granted_not_started.append(f"{key[1]}: granted, no task running ({len(tasks)} stopped)")
        elif decision == "declined" and running:
            report.started_without_consent.append(f"{key[1]}: declined, task {running[0]} still running")
        elif decision == "none" and tasks:
            report.started_without_consent.append(f"{key[1]}: never decided, has a task")
    # A result leaves the handler only for a call granted when it is published: never for a call
    # that no decision ever granted (the workload's results of calls it never decided included).
    if not finals:  # the consent gate is off in this run
        return
    ever_granted = {m.key[:2] for m in messages if m.kind == "consent" and m.key and '"granted"' in m.body}
    for event in fake.published:
        if event.get("DetailType") in ("Speaker Search Result", "Voice Tone Analysis Result"):
            detail = event["Detail"]
            call = (detail.get("voiceConnectorId"), detail.get("transactionId"))
            if call not in ever_granted:
                report.started_without_consent.append(f"{call[1]}: a result published, never granted")


ENROLLED, UPDATED, DELETED = "Voice Profile Enrolled", "Voice Profile Updated", "Voice Profile Deleted"
REQUEST_FAILED = "Voice Profile Request Failed"
_PROFILE_OUTCOMES = frozenset({ENROLLED, UPDATED, DELETED, REQUEST_FAILED})


def _profile_outcomes(fake: f.FakeAws) -> dict[str, set[tuple[str, str | None]]]:
    """requestId -> the distinct outcomes published for it: (detail-type, reason or voiceProfileId)."""
    outcomes: dict[str, set[tuple[str, str | None]]] = defaultdict(set)
    for event in fake.published:
        detail_type, detail = event.get("DetailType"), event["Detail"]
        if detail_type in _PROFILE_OUTCOMES:
            value = detail.get("reason") if detail_type == REQUEST_FAILED else detail.get("voiceProfileId")
            outcomes[str(detail.get("requestId"))].add((detail_type, value))
    return outcomes


def _check_profiles(
    report: SoakReport, messages: list[Message], fake: f.FakeAws, claims: dict[str, list[float]]
) -> None:
    """One profile per enroll task at most; each request's one outcome event is the right one.

    Evidence: the profiles the fake made (each knows its task) and the events it received; a
    request without any outcome event is accounted (DLQ or lost) by :func:`_account`.
    """
    cases = {m.request.request_id: m.request for m in messages if m.request is not None}
    if not cases:
        return
    outcomes = _profile_outcomes(fake)
    per_task = fake.profiles_per_task()
    expired_code = f._ERRORS[fake.expired_task_answer][1]
    report.profile_requests = Counter(
        f"{c.detail_type.split()[0].lower()} {c.expect}" for c in cases.values()
    )
    enroll_tasks = {
        c.task_id for c in cases.values() if c.detail_type == "Enroll Voice Profile" and c.task_id
    }
    report.max_profiles_per_task = max((per_task[task] for task in enroll_tasks), default=0)
    report.profile_violations.extend(
        _explain_second_profile(fake, task, claims.get(task, []))
        for task in sorted(enroll_tasks)
        if per_task[task] > 1
    )
    report.profiles_created = sum(per_task.values())
    report.lost_creates = sum(
        count
        for (operation, label), count in fake.operation_faults.items()
        if operation == "CreateVoiceProfile" and label in ("lost-response", "slow")
    )
    violations = report.profile_violations
    report.unready_creates = fake.unready_creates
    if fake.unready_creates:  # a create or update before the task's voiceprint was made
        violations.append(f"{fake.unready_creates} creates or updates from a task without a voiceprint")
    for rid, case in sorted(cases.items()):
        got = outcomes.get(rid, set())
        if case.expect != "enrolled" and case.task_id in enroll_tasks and per_task[case.task_id]:
            violations.append(f"{rid}: {case.expect}, yet task {case.task_id} has a profile")
        if case.profile_domain != VOICE_PROFILE_DOMAIN and case.profile_id in fake.profiles:
            other = fake.profiles[case.profile_id]
            if other.deleted or other.updated_at != other.created_at:
                violations.append(f"{rid}: another domain's profile {case.profile_id} was touched")
        if not got:
            continue  # _account: in the DLQ with a reason, or lost
        if len(got) > 1:
            violations.append(f"{rid}: {len(got)} different outcomes {sorted(got, key=str)}")
            continue
        detail_type, value = next(iter(got))
        creates = case.detail_type == "Enroll Voice Profile" and "consentReference" not in case.expect
        if creates and (detail_type, value) == (REQUEST_FAILED, "AmbiguousLostResponse"):
            report.ambiguous += 1  # documented: a lost create that cannot be told apart safely
            continue
        if case.expect == "enrolled":
            made_from = fake.profiles[value].task_id if value in fake.profiles else None
            if case.voiceprint_delay_s is not None and detail_type == ENROLLED:
                report.early_enrolls += 1
            if detail_type != ENROLLED or made_from != case.task_id:
                violations.append(
                    f"{rid}: enroll {case.task_id} -> {detail_type} {value} (of task {made_from})"
                )
            continue
        expected: tuple[str, str | None]
        if case.expect.startswith("failed:"):
            reason = case.expect.removeprefix("failed:")
            expected = (REQUEST_FAILED, expired_code if reason == "expired" else reason)
        else:
            expected = ({"updated": UPDATED, "deleted": DELETED}[case.expect], case.profile_id)
        if (detail_type, value) != expected:
            violations.append(f"{rid}: expected {expected}, got {(detail_type, value)}")


def _explain_second_profile(fake: f.FakeAws, task_id: str, claims: list[float]) -> str:
    """Say when a task's first profile was made, against the window in which a redelivery looks for it.

    The handler adopts a lost create's profile only if it was made within ``CREATE_BUDGET_S`` plus
    ``CLOCK_SKEW_S`` (both scaled down in this soak) of its claim; a profile made later
    is the documented assumption failing (AWS acting on a request long after the client sent it);
    a duplicate of a profile made inside that window is a handler bug.
    """
    creates = sum(
        1
        for r in fake.requests
        if r.operation == "CreateVoiceProfile" and r.json.get("SpeakerSearchTaskId") == task_id
    )
    made = sorted(p.created_at for p in fake.profiles.values() if p.task_id == task_id)
    window_s = sys.modules["enrollment"].CREATE_BUDGET_S + CLOCK_SKEW_S
    claim = max((at for at in claims if at <= made[0]), default=None)
    head = f"task {task_id}: {len(made)} profiles from {creates} CreateVoiceProfile requests;"
    if claim is None:
        return f"{head} no enrollment claim before the first profile (a handler bug)"
    late = made[0] - claim
    verdict = (
        f"outside the {window_s:.1f} s window a redelivery searches (the documented assumption did not hold)"
        if late > window_s
        else f"inside the {window_s:.1f} s window a redelivery searches (a handler bug)"
    )
    return f"{head} the first profile was made {late:.2f} s after its claim, {verdict}"


def _account(
    report: SoakReport,
    messages: list[Message],
    queue: deque[Message],
    dlq: list[Message],
    fake: f.FakeAws,
    logs: _LogCollector,
    claims: dict[str, list[float]],
) -> None:
    """Classify every message by independent evidence; anything unexplained is lost."""
    published = Counter(
        p["Detail"]["notificationId"] for p in fake.published if p["Detail"].get("notificationId") is not None
    )
    report.tasks_started = len(fake.tasks)
    report.duplicate_starts = fake.duplicate_starts
    report.results_published = len(published)
    report.duplicate_publishes = sum(published.values()) - len(published)
    report.faults = fake.faults
    report.requests = len(fake.requests)
    report.in_flight = len(queue)
    in_dlq = {m.message_id for m in dlq}
    in_queue = {m.message_id for m in queue}
    _check_consent(report, messages, fake)
    _check_profiles(report, messages, fake, claims)
    answered = set(_profile_outcomes(fake))
    for m in messages:
        if m.message_id in in_queue:
            continue
        logged = logs.by_message.get(m.message_id, [])
        if m.message_id in in_dlq:
            if m.dead_letter_reason is not None:
                report.dead_lettered_directly += 1
                reason = m.dead_letter_reason
            else:
                reasons = [reason for name, reason in logged if reason and name != "notification_skipped"]
                if not reasons:
                    report.lost.append(f"{m.message_id}: in the DLQ without a logged reason")
                    continue
                reason = reasons[-1]
            report.dlq[reason] += 1
            if m.kind in ("start", "gated") and m.key in fake.tasks:
                report.started_in_dlq += 1
            if m.kind == "profile":  # a documented end for a request, counted and shown
                report.profile_requests_in_dlq += 1
            elif m.kind != "malformed":
                report.unexpected.append(f"{m.message_id} ({m.kind}) ended in the DLQ: {reason}")
            continue
        if m.kind in ("start", "gated") and m.key in fake.tasks:
            report.started += 1
        elif m.kind == "profile" and m.request is not None and m.request.request_id in answered:
            report.published += 1  # its outcome event (checked by _check_profiles)
        elif m.kind == "gated" and any(name == "notification_skipped" for name, _ in logged):
            report.skipped += 1  # a decline or no decision yet, when it arrived
        elif m.kind == "consent" and any(name in _CONSENT_EVIDENCE for name, _ in logged):
            report.skipped += 1  # recorded (and its call started or stopped) or a documented skip
        elif m.kind == "result" and m.notification_id in published:
            report.published += 1
        elif m.kind == "result" and any(name == "result_withheld" for name, _ in logged):
            report.withheld += 1  # the consent gate: its call is not granted (counted by why below)
        elif any(name == "notification_skipped" for name, _ in logged):
            report.skipped += 1
            if m.kind != "skip":
                report.unexpected.append(f"{m.message_id} ({m.kind}) was skipped")
        else:
            report.lost.append(f"{m.message_id} ({m.kind}): deleted from the queue without evidence")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--notifications", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fault-rate", type=float, default=0.15, help="share of AWS requests that fail")
    parser.add_argument(
        "--duplicate-answer",
        choices=[*DUPLICATE_ANSWERS, "all"],
        default="all",
        help="what the fake answers a repeated start (default: one run with each)",
    )
    parser.add_argument(
        "--max-seconds", type=float, default=None, help="time guard (default 60 s + 50 ms per notification)"
    )
    parser.add_argument(
        "--no-status-evidence",
        action="store_true",
        help="do not queue the SpeakerSearchStatus AWS sends for a started task",
    )
    parser.add_argument(
        "--consent",
        action="store_true",
        help="REQUIRE_CONSENT=true and ENABLE_ENROLLMENT=true, with consent and voice profile requests",
    )
    parser.add_argument(
        "--expired-answer",
        choices=f.EXPIRED_TASK_ANSWERS,
        default="gone",
        help="what the fake answers a voice profile request for a task older than 24 h",
    )
    parser.add_argument(
        "--repeat-create-answer",
        choices=f.REPEAT_CREATE_ANSWERS,
        default="new_profile",
        help="what the fake answers a second CreateVoiceProfile for one task",
    )
    parser.add_argument(
        "--list-lag", type=float, default=0.0, help="seconds before ListVoiceProfiles shows a new profile"
    )
    args = parser.parse_args(argv)
    answers = DUPLICATE_ANSWERS if args.duplicate_answer == "all" else (args.duplicate_answer,)
    reports = []
    for answer in answers:
        report = run(
            args.notifications,
            args.seed,
            args.fault_rate,
            args.max_seconds,
            answer,
            status_evidence=not args.no_status_evidence,
            consent=args.consent,
            expired_task_answer=args.expired_answer,
            repeat_create_answer=args.repeat_create_answer,
            list_lag_s=args.list_lag,
        )
        print(report.render(), end="\n\n", flush=True)
        reports.append(report)
    rows = [
        [
            r.duplicate_answer,
            r.sent,
            r.status_notifications,
            sum(r.faults.values()),
            r.duplicate_starts,
            len(r.lost),
            len(r.unexpected),
            r.started_in_dlq,
            sum(r.dlq.values()),
            r.in_flight,
            f"{r.elapsed:.0f}",
            "OK" if r.ok else "FAILED",
        ]
        for r in reports
    ]
    headers = [
        "repeat answered",
        "sent",
        "+ statuses",
        "faults",
        "dup. starts",
        "lost",
        "unexpected",
        "started in DLQ",
        "DLQ",
        "in flight",
        "s",
    ]
    print(table([*headers, "result"], rows))
    if args.consent:
        consent_rows = [
            [
                r.duplicate_answer,
                r.decisions_overridden,
                r.tasks_stopped,
                len(r.started_without_consent) + len(r.granted_not_started),
                sum(r.profile_requests.values()),
                r.profiles_created,
                r.max_profiles_per_task,
                r.lost_creates,
                r.adopted,
                r.ambiguous,
                r.profile_requests_in_dlq,
                len(r.profile_violations),
            ]
            for r in reports
        ]
        consent_headers = [
            "repeat answered",
            "decisions overridden",
            "tasks stopped",
            "wrong task state",
            "profile requests",
            "profiles made",
            "max profiles/task",
            "lost creates",
            "adopted",
            "ambiguous",
            "requests in DLQ",
            "violations",
        ]
        print()
        print(table(consent_headers, consent_rows))
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
