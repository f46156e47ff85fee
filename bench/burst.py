#!/usr/bin/env python3
"""Burst benchmark: how long after AnalyticsReady does each call's speaker search start?

Replays N calls arriving over T seconds through the REAL handler (``lambda/speaker_search``,
imported as the Lambda runtime imports it) in virtual time (``bench/_virtual_time.py``), against:

* a fake voice analytics API (``FakeVoiceAnalytics``) that enforces the "Speaker search API rate"
  quota as a token bucket (``tps``; bucket size ``tps_burst``, default one second's worth;
  throttled requests get HTTP 429 ``ThrottledClientException`` and use no token) and the
  Region-wide "Maximum voice analytics tasks" quota (``task_limit``, 25 by default; a start beyond
  it gets HTTP 400 ``ResourceLimitExceededException``), and the per-domain concurrency limit
  ("Maximum concurrent API calls per voice profile domain: 1"): a start holds its voice profile
  domain for ``domain_hold_s`` of service time (0.1 s by default; AWS does not document it), and a
  second start on the domain inside that time gets HTTP 409 ``ConflictException`` (0: no limit,
  the model before issue 23). A task stays active for ``task_active_s``
  (AWS does not document it: a result needs 10 s of speech, so 10 s is the least), then its
  ``SpeakerSearchStatus`` result is queued like the real one (the handler publishes it);
* an SQS model: one queue, visibility timeout (180 s, 6 x the 30 s handler timeout, as deployed),
  redelivery of failed records when it expires, a dead-letter queue after ``max_receive_count``
  (5) receives;
* a model of Lambda's SQS event source: batches of up to 10 visible messages; 5 concurrent
  invocations at first, one more every 0.2 s while messages wait and all are busy (AWS documents
  "up to 300 more instances per minute"), never more than ``max_concurrency``; a new execution
  environment pays ``cold_start_s`` before its first invocation; every API request takes
  ``api_latency_s``.

Per case it prints the p50, p99 and maximum time from AnalyticsReady to a started search (calls
never started count as infinitely late), the share started within 10 s and 60 s, the number of
AnalyticsReady notifications in the dead-letter queue, and StartSpeakerSearchTask requests per
started search. "sustainable" means the quotas can keep up with the arrival rate on average:
calls per second <= tps, calls per second x task_active_s <= task_limit (Little's law), and calls
per second x domain_hold_s < 1 (the one voice profile domain is not busy all the time).

Usage:
  .venv/bin/python bench/burst.py                  # the standard cases (about a minute)
  .venv/bin/python bench/burst.py --sweep          # also max_concurrency 2..1000 per case
  .venv/bin/python bench/burst.py --calls 500 --window 60 --tps 10 --task-limit 150
  .venv/bin/python bench/burst.py --domain         # the per-domain concurrency cases
  .venv/bin/python bench/burst.py --domain-hold 0  # any case without the per-domain limit
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import random
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import percentile, source_state, table
from _runtime import ApiReply, ApiRequest, UnexpectedRequestError, virtual_runtime
from _virtual_time import VirtualTime, Worker

#: SpeakerSearch's default ``max_concurrency`` (kept equal by tests/test_bench_burst.py).
DEFAULT_MAX_CONCURRENCY = 20
START = "chime-sdk-voice.StartSpeakerSearchTask"
PUT_EVENTS = "eventbridge.PutEvents"
CONNECTOR = "abcdef1ghij2klmno3pqr4"
CALL_LEG = "Caller"
EPOCH = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ESM_INITIAL_CONCURRENCY = 5  # "Lambda starts processing five batches at a time"
ESM_SCALE_STEP_S = 0.2  # "up to 300 more instances per minute"
ESM_MAX_CONCURRENCY = 1000  # "The maximum number of batches ... simultaneously is 1,000"
DUPLICATE_ANSWERS = ("same-task", "conflict", "limit")
LOGGER_NAME = "chime_speaker_search"


@dataclass(frozen=True)
class Case:
    name: str
    calls: int
    window_s: float
    tps: float
    task_limit: int = 25
    task_active_s: float = 10.0
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    api_latency_s: float = 0.15
    tps_burst: float | None = None  # token bucket size; default: one second of tps
    batch_size: int = 10
    visibility_timeout_s: float = 180.0
    max_receive_count: int = 5
    handler_timeout_s: float = 30.0
    cold_start_s: float = 1.0
    duplicate_answer: str = "same-task"  # what a repeated start for a call gets (see the fake)
    #: Service time a start holds its voice profile domain; a second start inside it is answered 409.
    domain_hold_s: float = 0.1
    seed: int = 1

    @property
    def rate(self) -> float:
        return self.calls / self.window_s

    @property
    def domain_utilisation(self) -> float:
        """Share of the time the one voice profile domain is held by a start (Little's law)."""
        return self.rate * self.domain_hold_s

    @property
    def sustainable(self) -> bool:
        return (
            self.rate <= self.tps
            and self.rate * self.task_active_s <= self.task_limit
            and self.domain_utilisation < 1.0
        )


@dataclass
class Message:
    message_id: str
    body: str
    kind: str  # "ready" or "result"
    sent_at: float
    receives: int = 0
    done: bool = False  # deleted after a successful invocation
    in_dlq: bool = False


# -- the fake API ----------------------------------------------------------------------------------


class FakeVoiceAnalytics:
    """StartSpeakerSearchTask under the API rate and active-task quotas; PutEvents always succeeds.

    A second start for a call that already has a task (a redelivery, or a retry after a lost
    response) is answered per ``duplicate_answer``, because AWS does not document it
    (docs/aws-voice-analytics-facts-3.md): ``same-task`` (201 with the first task),
    ``conflict`` (409 ConflictException) or ``limit`` (400 ResourceLimitExceededException, the
    per-transaction limit). A start with a DIFFERENT token for such a call is a duplicate start.
    """

    def __init__(self, case: Case, clock: VirtualTime, on_task_end: Callable[[str, str], None]) -> None:
        self.case, self.clock, self.on_task_end = case, clock, on_task_end
        self.capacity = case.tps_burst or max(1.0, case.tps)
        self.tokens, self.refilled_at = self.capacity, 0.0
        self.active_until: list[float] = []
        self.tasks: dict[str, tuple[str, str]] = {}  # transaction -> (token, task id)
        self.started_at: dict[str, float] = {}
        self.counts: Counter[str] = Counter()
        self.domain_busy_until: dict[str, float] = {}

    def answer(self, request: ApiRequest) -> ApiReply:
        if request.operation == PUT_EVENTS:
            self.counts["PutEvents"] += 1
            entries = request.body.get("Entries", [])
            return ApiReply(
                200, None, {"FailedEntryCount": 0, "Entries": [{"EventId": "e"} for _ in entries]}
            )
        if request.operation != START:
            raise UnexpectedRequestError(f"{request.operation} is not modelled")
        self.counts["start requests"] += 1
        if not self._take_token():
            self.counts["429 throttled"] += 1
            return ApiReply(429, "ThrottledClientException", {"Message": "Rate exceeded"})
        now = self.clock.now
        domain = str(request.body.get("VoiceProfileDomainId"))
        if self.case.domain_hold_s > 0:
            if now < self.domain_busy_until.get(domain, -math.inf):
                self.counts["409 domain busy"] += 1
                return ApiReply(409, "ConflictException", {"Message": "concurrent call on the domain"})
            self.domain_busy_until[domain] = now + self.case.domain_hold_s
        self.active_until = [t for t in self.active_until if t > now]
        transaction, token = str(request.body["TransactionId"]), str(request.body["ClientRequestToken"])
        existing = self.tasks.get(transaction)
        if existing is not None:
            if existing[0] != token:
                self.counts["duplicate starts"] += 1
                return ApiReply(400, "ResourceLimitExceededException", {"Message": "one task per call"})
            self.counts[f"repeat answered {self.case.duplicate_answer}"] += 1
            if self.case.duplicate_answer == "conflict":
                return ApiReply(409, "ConflictException", {"Message": "request in progress"})
            if self.case.duplicate_answer == "limit":
                return ApiReply(400, "ResourceLimitExceededException", {"Message": "one task per call"})
            return ApiReply(201, None, self._task(existing[1], transaction))
        if len(self.active_until) >= self.case.task_limit:
            self.counts["400 task limit"] += 1
            return ApiReply(400, "ResourceLimitExceededException", {"Message": "active task limit"})
        task_id = f"task-{len(self.tasks) + 1:06d}"
        self.tasks[transaction] = (token, task_id)
        self.started_at[transaction] = now
        self.active_until.append(now + self.case.task_active_s)
        self.clock.after(self.case.task_active_s, lambda: self.on_task_end(transaction, task_id))
        return ApiReply(201, None, self._task(task_id, transaction))

    def _take_token(self) -> bool:
        now = self.clock.now
        self.tokens = min(self.capacity, self.tokens + (now - self.refilled_at) * self.case.tps)
        self.refilled_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    @staticmethod
    def _task(task_id: str, transaction: str) -> dict[str, Any]:
        details = {"VoiceConnectorId": CONNECTOR, "TransactionId": transaction, "IsCaller": True}
        return {
            "SpeakerSearchTask": {
                "SpeakerSearchTaskId": task_id,
                "SpeakerSearchTaskStatus": "IN_QUEUE",
                "CallDetails": details,
            }
        }


# -- SQS and the Lambda event source ---------------------------------------------------------------


class _Context:
    """The Lambda context the handler sees: a deadline in virtual time."""

    function_name = "SpeakerSearchHandler"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:111122223333:function:SpeakerSearchHandler"

    def __init__(self, clock: VirtualTime, timeout_s: float, request_id: str) -> None:
        self.clock, self.deadline, self.aws_request_id = clock, clock.now + timeout_s, request_id

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self.clock.now) * 1000))


@dataclass
class Result:
    case: Case
    latencies: list[float]  # per call; math.inf when its search never started
    dlq_ready: int
    dlq_results: int
    lost: int
    api_counts: Counter[str]
    invocations: int
    peak_concurrency: int
    handler_timeouts: int
    handler_errors: int
    log_reasons: Counter[str]
    drained_at: float
    wall_s: float
    unfinished: int

    @property
    def started(self) -> int:
        return sum(1 for v in self.latencies if math.isfinite(v))

    def within(self, seconds: float) -> float:
        return sum(1 for v in self.latencies if v <= seconds) / len(self.latencies)

    @property
    def calls_per_start(self) -> float:
        return self.api_counts["start requests"] / self.started if self.started else math.inf

    @property
    def meets_target(self) -> bool:
        return self.dlq_ready == 0 and self.lost == 0 and percentile(self.latencies, 0.99) <= 30.0


class Simulation:
    def __init__(self, case: Case) -> None:
        self.case = case
        self.clock = VirtualTime()
        self.rng = random.Random(case.seed)
        self.api = FakeVoiceAnalytics(case, self.clock, self._task_ended)
        self.visible: deque[Message] = deque()
        self.messages: list[Message] = []
        self.ready_at: dict[str, float] = {}
        self.workers: list[Worker] = []
        self.running = 0
        self.scaled = ESM_INITIAL_CONCURRENCY
        self.scaling = False
        self.peak = 0
        self.invocations = 0
        self.timeouts = 0
        self.errors = 0
        self.warm: set[str] = set()
        self.handler: Callable[[Any, Any], Any] | None = None

    # -- traffic ---------------------------------------------------------------------------------

    def _notification(self, detail_type: str, detail: dict[str, Any], at: float) -> str:
        notification = {
            "version": "0",
            "id": f"n-{len(self.messages):06d}",
            "detail-type": detail_type,
            "service-type": "VoiceAnalytics",
            "source": "aws.chime",
            "account": "111122223333",
            "time": (EPOCH + timedelta(seconds=at)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1",
            "resources": [],
            "detail": detail,
        }
        return json.dumps(notification)

    def _send(self, kind: str, body: str) -> None:
        message = Message(f"m-{len(self.messages):06d}", body, kind, self.clock.now)
        self.messages.append(message)
        self.visible.append(message)
        self._dispatch()

    def _call_arrives(self, transaction: str) -> None:
        self.ready_at[transaction] = self.clock.now
        detail = {
            "detailStatus": "AnalyticsReady",
            "voiceConnectorId": CONNECTOR,
            "transactionId": transaction,
            "callId": f"call-{transaction}",
        }
        self._send("ready", self._notification("VoiceAnalyticsStatus", detail, self.clock.now))

    def _task_ended(self, transaction: str, task_id: str) -> None:
        detail = {
            "taskId": task_id,
            "detailStatus": "IdentificationSuccessful",
            "voiceConnectorId": CONNECTOR,
            "transactionId": transaction,
            "isCaller": True,
            "speakerSearchDetails": {"results": [{"voiceProfileId": "vp-1", "confidenceScore": "0.93"}]},
        }
        self._send("result", self._notification("SpeakerSearchStatus", detail, self.clock.now))

    # -- event source ----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        limit = min(self.case.max_concurrency, self.scaled)
        while self.visible and self.running < limit:
            batch = [self.visible.popleft() for _ in range(min(self.case.batch_size, len(self.visible)))]
            for message in batch:
                message.receives += 1
                receive = message.receives
                expire = functools.partial(self._expire, message, receive)
                self.clock.after(self.case.visibility_timeout_s, expire)
            worker = next((w for w in self.workers if not w.busy), None)
            if worker is None:
                worker = Worker(self.clock, f"lambda-{len(self.workers) + 1}")
                self.workers.append(worker)
            self.running += 1
            self.invocations += 1
            self.peak = max(self.peak, self.running)
            worker.start(functools.partial(self._invoke, worker, batch))
        if (
            self.visible
            and self.running >= self.scaled
            and not self.scaling
            and self.scaled < ESM_MAX_CONCURRENCY
        ):
            self.scaling = True
            self.clock.after(ESM_SCALE_STEP_S, self._scale_up)

    def _scale_up(self) -> None:
        self.scaling = False
        if self.visible and self.running >= self.scaled:
            self.scaled += 1
        self._dispatch()

    def _expire(self, message: Message, receive: int) -> None:
        """The visibility timeout of one receive ran out: the message is visible again, or dead."""
        if message.done or message.receives != receive:
            return
        if message.receives >= self.case.max_receive_count:
            message.in_dlq = True
            return
        self.visible.append(message)
        self._dispatch()

    def _invoke(self, worker: Worker, batch: list[Message]) -> None:
        """One invocation, in the worker's thread (virtual time passes only inside sleeps)."""
        assert self.handler is not None
        if worker.name not in self.warm:  # init phase: not part of the function timeout
            self.clock.sleep(self.case.cold_start_s)
            self.warm.add(worker.name)
        began = self.clock.now
        event = {"Records": [self._record(m) for m in batch]}
        context = _Context(self.clock, self.case.handler_timeout_s, f"req-{self.invocations}")
        try:
            response = self.handler(event, context)
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        except Exception:
            self.errors += 1
            failed = {m.message_id for m in batch}
        if self.clock.now - began > self.case.handler_timeout_s:
            self.timeouts += 1  # Lambda would have killed it: the whole batch fails
            failed = {m.message_id for m in batch}
        self.clock.after(0, lambda: self._finished(batch, failed))

    def _finished(self, batch: list[Message], failed: set[str]) -> None:
        for message in batch:
            if message.message_id not in failed:
                message.done = True  # deleted; a failed one waits for its visibility timeout
        self.running -= 1
        self._dispatch()

    def _record(self, message: Message) -> dict[str, Any]:
        sent_ms = int((EPOCH + timedelta(seconds=message.sent_at)).timestamp() * 1000)
        return {
            "messageId": message.message_id,
            "receiptHandle": f"rh-{message.message_id}-{message.receives}",
            "body": message.body,
            "attributes": {"ApproximateReceiveCount": str(message.receives), "SentTimestamp": str(sent_ms)},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:NotificationQueue",
            "awsRegion": "us-east-1",
        }

    # -- run -------------------------------------------------------------------------------------

    def run(self, overrides: dict[str, Any] | None = None) -> Result:
        case = self.case
        began = time.monotonic()
        arrivals = sorted(self.rng.uniform(0, case.window_s) for _ in range(case.calls))
        for i, at in enumerate(arrivals):
            self.clock.at(at, functools.partial(self._call_arrives, f"tx-{i:06d}"))
        env = {
            "VOICE_PROFILE_DOMAIN_ID": "vpd-burst",
            "CALL_LEG": CALL_LEG,
            "VOICE_CONNECTOR_IDS": CONNECTOR,
            "EVENT_BUS_NAME": "default",
            "SEARCH_ID": "burst",
            "LOG_LEVEL": "WARNING",
        }
        logs = _ReasonCounter()
        logger = logging.getLogger(LOGGER_NAME)
        logger.addHandler(logs)
        propagate, logger.propagate = logger.propagate, False
        try:
            with virtual_runtime(
                env,
                answer=self.api.answer,
                latency=lambda _request: case.api_latency_s,
                sleep=self.clock.sleep,
                clock=lambda: self.clock.now,
                seed=case.seed,
                overrides=overrides,
            ) as mod:
                self.handler = mod.handler
                # Redeliveries can take max_receive_count visibility timeouts after the last call.
                horizon = case.window_s + (case.max_receive_count + 1) * case.visibility_timeout_s + 600
                self.clock.run(until=horizon)
        finally:
            logger.removeHandler(logs)
            logger.propagate = propagate
            for worker in self.workers:
                worker.stop()
        ready = [m for m in self.messages if m.kind == "ready"]
        started = self.api.started_at
        latencies = [started[t] - at if t in started else math.inf for t, at in self.ready_at.items()]
        lost = sum(1 for m in ready if m.done and _transaction(m) not in started)
        return Result(
            case=case,
            latencies=latencies,
            dlq_ready=sum(1 for m in ready if m.in_dlq),
            dlq_results=sum(1 for m in self.messages if m.kind == "result" and m.in_dlq),
            lost=lost,
            api_counts=self.api.counts,
            invocations=self.invocations,
            peak_concurrency=self.peak,
            handler_timeouts=self.timeouts,
            handler_errors=self.errors,
            log_reasons=logs.reasons,
            drained_at=self.clock.now,
            wall_s=time.monotonic() - began,
            unfinished=sum(1 for m in self.messages if not (m.done or m.in_dlq)),
        )


def _transaction(message: Message) -> str:
    return str(json.loads(message.body)["detail"]["transactionId"])


class _ReasonCounter(logging.Handler):
    """Counts the handler's WARNING+ log messages by message and error code (no payloads)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reasons: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        code = getattr(record, "errorCode", None) or getattr(record, "reason", "")
        self.reasons[f"{record.getMessage()} {code}".strip()] += 1


# -- cases and report ------------------------------------------------------------------------------

STANDARD_CASES = (
    Case("100/60s 2TPS", 100, 60, 2),
    Case("100/60s 2TPS active30", 100, 60, 2, task_active_s=30),
    Case("500/60s 10TPS", 500, 60, 10),
    Case("500/60s 10TPS limit150", 500, 60, 10, task_limit=150),
    Case("2000/60s 25TPS", 2000, 60, 25),
    Case("2000/60s 25TPS limit500", 2000, 60, 25, task_limit=500),
    Case("2000/60s 40TPS limit500", 2000, 60, 40, task_limit=500),
    Case("2000/60s 40TPS limit500 300ms", 2000, 60, 40, task_limit=500, api_latency_s=0.3),
)
#: The per-domain concurrency limit (one start at a time per voice profile domain): arrival rates
#: against the service time a start holds the domain, at an API rate and task limit that are not
#: the bottleneck (``--domain``).
DOMAIN_CASES = (
    Case("300/60s hold0.1", 300, 60, 40, task_limit=500),
    Case("600/60s hold0.1", 600, 60, 40, task_limit=500),
    Case("900/60s hold0.1", 900, 60, 40, task_limit=500),
    Case("1200/60s hold0.1", 1200, 60, 40, task_limit=500),
    Case("300/60s hold0.2", 300, 60, 40, task_limit=500, domain_hold_s=0.2),
    Case("600/60s hold0.2", 600, 60, 40, task_limit=500, domain_hold_s=0.2),
    Case("900/60s hold0.05", 900, 60, 40, task_limit=500, domain_hold_s=0.05),
    Case("2000/60s hold0.05", 2000, 60, 40, task_limit=500, domain_hold_s=0.05),
)
SWEEP = (2, 5, 10, 20, 50, 1000)


def _seconds(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.1f}"


def render(results: Sequence[Result]) -> str:
    headers = [
        "case", "max conc.", "active s", "task limit", "domain hold s", "sustainable", "p50 s", "p99 s",
        "max s", "<=10 s", "<=60 s", "DLQ", "calls/start", "429s", "limit 400s", "409s", "target",
    ]  # fmt: skip
    rows = []
    for r in results:
        c = r.case
        rows.append(
            [
                c.name,
                c.max_concurrency,
                f"{c.task_active_s:g}",
                c.task_limit,
                f"{c.domain_hold_s:g}",
                "yes" if c.sustainable else "no",
                _seconds(percentile(r.latencies, 0.5)),
                _seconds(percentile(r.latencies, 0.99)),
                _seconds(max(r.latencies)),
                f"{r.within(10):.0%}",
                f"{r.within(60):.0%}",
                r.dlq_ready,
                f"{r.calls_per_start:.2f}",
                r.api_counts["429 throttled"],
                r.api_counts["400 task limit"],
                r.api_counts["409 domain busy"],
                ("PASS" if r.meets_target else "MISS") if c.sustainable else "n/a",
            ]
        )
    return table(headers, rows)


def details(result: Result) -> str:
    r = result
    reasons = ", ".join(f"{k}: {v}" for k, v in r.log_reasons.most_common(4)) or "none"
    return (
        f"  {r.case.name} (max_concurrency {r.case.max_concurrency}): {r.started}/{len(r.latencies)} started,"
        f" {r.invocations} invocations, peak concurrency {r.peak_concurrency}, lost {r.lost},"
        f" duplicate starts {r.api_counts['duplicate starts']}, 409s {r.api_counts['409 domain busy']},"
        f" results in DLQ {r.dlq_results},"
        f" handler timeouts {r.handler_timeouts}, errors {r.handler_errors}, unfinished {r.unfinished};"
        f" drained at {r.drained_at:.0f} s virtual, {r.wall_s:.1f} s real; top log reasons: {reasons}"
    )


def run_case(case: Case, seeds: int, overrides: dict[str, Any] | None = None) -> Result:
    """Run ``case`` with seeds case.seed .. case.seed + seeds - 1 and pool the results."""
    runs = [Simulation(replace(case, seed=case.seed + k)).run(overrides) for k in range(seeds)]
    api_counts: Counter[str] = Counter()
    log_reasons: Counter[str] = Counter()
    for r in runs:
        api_counts.update(r.api_counts)
        log_reasons.update(r.log_reasons)
    return Result(
        case=case,
        latencies=[v for r in runs for v in r.latencies],
        dlq_ready=sum(r.dlq_ready for r in runs),
        dlq_results=sum(r.dlq_results for r in runs),
        lost=sum(r.lost for r in runs),
        api_counts=api_counts,
        invocations=sum(r.invocations for r in runs),
        peak_concurrency=max(r.peak_concurrency for r in runs),
        handler_timeouts=sum(r.handler_timeouts for r in runs),
        handler_errors=sum(r.handler_errors for r in runs),
        log_reasons=log_reasons,
        drained_at=max(r.drained_at for r in runs),
        wall_s=sum(r.wall_s for r in runs),
        unfinished=sum(r.unfinished for r in runs),
    )


def _overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs as runtime constants (int if the value has no '.', else float)."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        parsed[name] = float(value) if "." in value else int(value)
    return parsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help=f"run each case at max_concurrency {SWEEP}")
    parser.add_argument("--seeds", type=int, default=3, help="runs per case, pooled (default 3)")
    parser.add_argument("--only", action="append", default=[], help="standard cases whose name contains this")
    parser.add_argument("--seed", type=int, default=1, help="first seed")
    parser.add_argument("--calls", type=int, help="instead of the standard cases: calls arriving ...")
    parser.add_argument("--window", type=float, default=60.0, help="... over this many seconds")
    parser.add_argument("--tps", type=float, default=10.0)
    parser.add_argument("--task-limit", type=int, default=25)
    parser.add_argument("--task-active", type=float, default=10.0, help="seconds a task stays active")
    parser.add_argument("--max-concurrency", type=int, default=DEFAULT_MAX_CONCURRENCY)
    parser.add_argument("--latency", type=float, default=0.15, help="seconds per API request")
    parser.add_argument("--duplicate-answer", choices=DUPLICATE_ANSWERS, default="same-task")
    parser.add_argument(
        "--domain-hold",
        type=float,
        default=None,
        help="seconds a start holds its voice profile domain (default 0.1; 0: no per-domain limit)",
    )
    parser.add_argument("--domain", action="store_true", help="the per-domain concurrency cases instead")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="override a runtime module constant, e.g. --set BACKOFF_CAP_S=10.0",
    )  # fmt: skip
    args = parser.parse_args(argv)
    overrides = _overrides(args.set)

    if args.calls:
        name = f"{args.calls}/{args.window:g}s {args.tps:g}TPS"
        custom = Case(name, args.calls, args.window, args.tps, task_limit=args.task_limit)
        cases = [
            replace(
                custom,
                task_active_s=args.task_active,
                api_latency_s=args.latency,
                duplicate_answer=args.duplicate_answer,
            )
        ]
    else:
        pool = DOMAIN_CASES if args.domain else STANDARD_CASES
        cases = [c for c in pool if not args.only or any(part in c.name for part in args.only)]
    cases = [replace(c, seed=args.seed, max_concurrency=args.max_concurrency) for c in cases]
    if args.domain_hold is not None:
        cases = [replace(c, domain_hold_s=args.domain_hold) for c in cases]
    if args.sweep:
        cases = [replace(c, max_concurrency=m) for c in cases for m in SWEEP]

    print("Burst benchmark (bench/burst.py): virtual time, real handler code, fake quotas")
    print(f"  Source: {source_state(['lambda', 'bench'])}")
    print(
        f"  Runtime overrides: {overrides or 'none'}; seeds {args.seed}..{args.seed + args.seeds - 1} pooled"
    )
    print(
        "  Model: SQS visibility 180 s, maxReceiveCount 5, batch 10; event source 5 -> +300/min"
        " up to max_concurrency; cold start 1 s; API latency, task duration and domain hold per case"
    )
    print()
    results = []
    for case in cases:
        results.append(run_case(case, args.seeds, overrides))
        print(details(results[-1]), flush=True)
    print()
    print(render(results))
    missed = [r.case.name for r in results if r.case.sustainable and not r.meets_target]
    print()
    verdict = f"MISS in {missed}" if missed else "PASS"
    print(f"Target where the quotas can sustain the arrival rate (DLQ 0, p99 <= 30 s): {verdict}")
    bad = [r.case.name for r in results if r.lost or r.api_counts["duplicate starts"] or r.unfinished]
    if bad:
        print(f"FAILED: lost, duplicate or unfinished work in {bad}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
