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

``--consent`` runs the handler with REQUIRE_CONSENT=true and ENABLE_ENROLLMENT=true and adds a
``Speaker Search Consent`` request (granted or declined, before or after AnalyticsReady) for three
quarters of the calls; the soak then also fails if a declined or undecided call got a task or a
granted call did not. (Enroll / Delete Voice Profile requests are not sent: the fake serves
only the task and PutEvents APIs, not CreateVoiceProfile.)
  e.g. .venv/bin/python bench/soak.py --notifications 10000 --fault-rate 0.2
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

ENV = offline_aws_env(
    {
        "VOICE_PROFILE_DOMAIN_ID": "vpd-soak",
        "CALL_LEG": CALL_LEG,
        "VOICE_CONNECTOR_IDS": ",".join(SERVED),
        "EVENT_BUS_NAME": "soak-bus",
        "SEARCH_ID": "soak",
        "LOG_LEVEL": "DEBUG",
    }
)


@dataclass
class Message:
    message_id: str
    body: str
    kind: str  # what should happen: "start", "result", "skip", "malformed" or "consent"
    key: tuple[str, str, str] | None = None  # (connector, transaction, leg) for "start" and "consent"
    notification_id: str | None = None  # for "result"
    receives: int = 0
    #: ``failureReason`` of the handler's own send to the dead-letter queue (None: not sent).
    dead_letter_reason: str | None = None
    #: ``--consent``: the call's decision ("granted", "declined" or "none") on its AnalyticsReady.
    consent: str | None = None


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
            f"accounted: started {self.started}, published {self.published}, skipped {self.skipped},"
            f" in DLQ {sum(self.dlq.values())}",
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
                ]
                if self.consent_calls
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


def _consent_request(call: tuple[str, str], decision: str, rid: str) -> dict[str, Any]:
    """A ``Speaker Search Consent`` request (lambda/speaker_search/user_requests.py)."""
    detail = {"voiceConnectorId": call[0], "transactionId": call[1], "consent": decision}
    request = n.envelope("Speaker Search Consent", {**detail, "consentReference": f"ivr-{rid}"}, rid)
    request.update(source=REQUEST_SOURCE, time="2029-11-25T10:01:00Z")
    return request


def generate(count: int, rng: random.Random, consent: bool = False) -> list[Message]:
    """A seeded mix of notifications, locally shuffled (duplicates can precede their first delivery).

    With ``consent`` (the handler runs with REQUIRE_CONSENT=true) each new call is granted (half),
    declined (a quarter) or never decided; its one ``Speaker Search Consent`` request is queued just
    before or just after its first AnalyticsReady (the shuffle mixes them further). Only granted
    calls' AnalyticsReady are "start"; the others must be skipped.
    """
    messages: list[Message] = []
    calls: list[tuple[str, str]] = []
    decisions: dict[tuple[str, str], str] = {}

    def ready_message(mid: str, nid: str, call: tuple[str, str]) -> Message:
        ready = n.analytics_ready(call[1], call[0], notification_id=nid)
        kind = "start" if not consent or decisions[call] == "granted" else "skip"
        return Message(mid, _wrap(ready, rng), kind, key=(*call, CALL_LEG), consent=decisions[call] or None)

    while len(messages) < count:
        i = len(messages)
        mid, nid = f"msg-{i:05d}", f"n-{i:05d}"
        roll = rng.random()
        if roll < 0.30 or not calls:
            call = (rng.choice(SERVED), f"tx-{rng.getrandbits(48):012x}")
            calls.append(call)
            decisions[call] = rng.choice(["granted", "granted", "declined", "none"]) if consent else ""
            messages.append(ready_message(mid, nid, call))
            if consent and decisions[call] != "none" and len(messages) < count:
                rid = f"r-{i:05d}"
                body = json.dumps(_consent_request(call, decisions[call], rid))
                request = Message(f"msg-{rid}", body, "consent", key=(*call, CALL_LEG))
                messages.insert(len(messages) - rng.randint(0, 1), request)  # before or after
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

    def emit(self, record: logging.LogRecord) -> None:
        name = record.getMessage()
        if name == "aws_call_retrying":
            self.retries += 1
        elif name.endswith("_start_unconfirmed"):
            self.unconfirmed += 1
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


@contextmanager
def _soak_handler(
    fake: f.FakeAws, seed: int, state_aws: _StateAws, consent: bool = False
) -> Iterator[tuple[ModuleType, _LogCollector]]:
    """The handler pointed at the fake, with short timeouts and instant backoff; all restored after."""
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
        for module, attr, value in (
            (clients, "READ_TIMEOUT_S", 0.1),
            (clients, "CONNECT_TIMEOUT_S", 0.2),
            (clients, "SAFETY_MARGIN_S", 0.5),
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


def run(
    notifications: int = 2000,
    seed: int = 1,
    fault_rate: float = 0.15,
    max_seconds: float | None = None,
    duplicate_answer: str = "conflict",
    status_evidence: bool = True,
    consent: bool = False,
) -> SoakReport:
    """Run the soak and return its report (nothing is printed)."""
    rng = random.Random(seed)
    messages = generate(notifications, rng, consent)
    report = SoakReport(
        sent=len(messages), duplicate_answer=duplicate_answer, status_evidence=status_evidence
    )
    by_id = {m.message_id: m for m in messages}
    queue: deque[Message] = deque(messages)
    dlq: list[Message] = []
    evidence = _StatusEvidence(random.Random(seed + 3))
    limit = time_guard(notifications) if max_seconds is None else max_seconds
    started_at = time.monotonic()
    with f.running(**_fake_options(duplicate_answer)) as fake, _state_aws() as state_aws:
        fake.fault_policy = _fault_policy(fault_rate, random.Random(seed + 1))
        if status_evidence:
            fake.on_task_started = evidence.on_task_started
        with _soak_handler(fake, seed, state_aws, consent) as (mod, logs):
            while time.monotonic() - started_at < limit:
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
                    (dlq if message.receives >= MAX_RECEIVE_COUNT else queue).append(message)
            report.retries = logs.retries
            report.unconfirmed = logs.unconfirmed
            report.status_notifications = len(evidence.messages)
            _account(report, [*messages, *evidence.messages], queue, dlq, fake, logs)
    report.elapsed = time.monotonic() - started_at
    return report


_CONSENT_EVIDENCE = frozenset({"consent_recorded", "notification_skipped"})


def _check_consent(report: SoakReport, messages: list[Message], fake: f.FakeAws) -> None:
    """Every granted call has a task; no declined or undecided call has one."""
    decisions = {m.key: m.consent for m in messages if m.consent is not None and m.kind != "consent"}
    report.consent_calls = Counter(decisions.values())
    for key, decision in decisions.items():
        started = key in fake.tasks
        if decision == "granted" and not started:
            report.granted_not_started.append(f"{key[1]}: granted, no task")
        elif decision != "granted" and started:
            report.started_without_consent.append(f"{key[1]}: {decision}, has a task")


def _account(
    report: SoakReport,
    messages: list[Message],
    queue: deque[Message],
    dlq: list[Message],
    fake: f.FakeAws,
    logs: _LogCollector,
) -> None:
    """Classify every message by independent evidence; anything unexplained is lost."""
    published = Counter(p["Detail"].get("notificationId") for p in fake.published)
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
            if m.kind == "start" and m.key in fake.tasks:
                report.started_in_dlq += 1
            if m.kind != "malformed":
                report.unexpected.append(f"{m.message_id} ({m.kind}) ended in the DLQ: {reason}")
            continue
        if m.kind == "start" and m.key in fake.tasks:
            report.started += 1
        elif m.kind == "consent" and any(name in _CONSENT_EVIDENCE for name, _ in logged):
            report.skipped += 1  # recorded (and its call started or stopped) or a documented skip
        elif m.kind == "result" and m.notification_id in published:
            report.published += 1
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
        "--consent", action="store_true", help="REQUIRE_CONSENT=true with consent requests in the workload"
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
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
