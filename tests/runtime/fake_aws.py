"""A tiny local stand-in for chime-sdk-voice and EventBridge, for fault injection over real HTTP.

The real boto3 clients talk to it through ``AWS_ENDPOINT_URL_CHIME_SDK_VOICE`` and
``AWS_ENDPOINT_URL_EVENTBRIDGE``, so botocore's serialisation, error parsing, timeouts and
connection handling are all exercised. It speaks just enough of each protocol:

* chime-sdk-voice (REST-JSON): ``POST /voice-connectors/{id}/speaker-search-tasks`` -> 201 with a
  ``SpeakerSearchTask`` (``/voice-tone-analysis-tasks``: a ``VoiceToneAnalysisTask``); errors carry
  ``x-amzn-ErrorType`` (botocore's RestJSONParser reads the code from that header).
* EventBridge (awsJson1_1): ``POST /`` with ``X-Amz-Target: AWSEvents.PutEvents``; errors carry
  ``__type`` in the body.

Every request is recorded. Replies come from a per-service script (``script()``), then from an
optional ``fault_policy``, then from the stateful default behaviour: started tasks are tracked per
(connector, transaction, leg, kind). AWS does not document what a repeated start for a call that
already has a task returns, so ``duplicate_start_answer`` picks one of the plausible answers:
``"same_task"`` (201 with the first task), ``"conflict"`` (409 ``ConflictException``) or
``"limit_exceeded"`` (400 ``ResourceLimitExceededException``, the one-task-per-call quota). A
DIFFERENT token for an already-started call is counted in ``duplicate_starts`` (a bug on our
side) and refused with RLE. ``region_task_limit`` models the Region's active-task quota (25 by
default in AWS; None: unlimited here): a new task beyond it gets RLE too, until
:meth:`FakeAws.finish_tasks` ends some.

Used by tests/runtime and by bench/soak.py.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import urllib.parse
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHIME = "chime"
EVENTS = "events"


@dataclass(frozen=True)
class Reply:
    """One scripted reply. ``status=None`` means "behave normally" (after ``delay``)."""

    status: int | None = None
    error_type: str | None = None
    body: dict[str, Any] | None = None
    delay: float = 0.0
    reset: bool = False
    label: str = ""
    #: Do the work (start the task, publish the event), then reset the connection: a response
    #: lost after the service acted, as a client read timeout or a dropped connection sees it.
    lose_response: bool = False

    @property
    def is_fault(self) -> bool:
        failed_entries = bool(self.body and self.body.get("FailedEntryCount"))
        lost = self.reset or self.lose_response
        return lost or self.delay > 0 or (self.status or 0) >= 400 or failed_entries


def throttled() -> Reply:
    return Reply(429, "ThrottledClientException", label="429")


def service_failure() -> Reply:
    return Reply(500, "ServiceFailureException", label="500")


def service_unavailable() -> Reply:
    return Reply(503, "ServiceUnavailableException", label="503")


def bad_gateway() -> Reply:
    """A 5xx without an error type, as a load balancer would send."""
    return Reply(502, None, label="502")


def bad_request() -> Reply:
    return Reply(400, "BadRequestException", label="400")


def conflict() -> Reply:
    return Reply(409, "ConflictException", label="409")


def events_internal_error() -> Reply:
    return Reply(500, "InternalException", label="500")


def failed_entry() -> Reply:
    body = {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]}
    return Reply(200, body=body, label="failed-entry")


def connection_reset() -> Reply:
    return Reply(reset=True, label="reset")


def lost_response() -> Reply:
    """The service acts, but its answer never reaches the client."""
    return Reply(lose_response=True, label="lost-response")


def resource_limit_exceeded() -> Reply:
    return Reply(400, "ResourceLimitExceededException", label="400-rle")


def slow(seconds: float) -> Reply:
    """Answer normally, but only after ``seconds`` (longer than the client's read timeout)."""
    return Reply(delay=seconds, label="slow")


@dataclass
class Request:
    service: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"{}")


DUPLICATE_START_ANSWERS = ("same_task", "conflict", "limit_exceeded")


@dataclass
class FakeAws:
    duplicate_start_answer: str = "same_task"
    region_task_limit: int | None = None
    conflict_on_repeat: bool = False  # older spelling of duplicate_start_answer="conflict"
    fault_policy: Callable[[str], Reply | None] | None = None
    requests: list[Request] = field(default_factory=list)
    tasks: dict[tuple[str, ...], tuple[str, str]] = field(default_factory=dict)
    active_tasks: set[str] = field(default_factory=set)
    duplicate_starts: int = 0
    #: Repeated starts for a call that already had a task, and refusals for the Region limit.
    repeat_starts: int = 0
    region_limit_refusals: int = 0
    stopped_tasks: list[str] = field(default_factory=list)
    #: Called with (task key, task ID) when a new task starts, e.g. to queue the status
    #: notification AWS would send for it (the evidence that settles an RLE after a lost answer).
    on_task_started: Callable[[tuple[str, ...], str], None] | None = None
    published: list[dict[str, Any]] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    _scripts: dict[str, deque[Reply]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeAws:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True  # a slow reply must not block shutdown
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __post_init__(self) -> None:
        if self.conflict_on_repeat:
            self.duplicate_start_answer = "conflict"
        if self.duplicate_start_answer not in DUPLICATE_START_ANSWERS:
            raise ValueError(
                f"duplicate_start_answer {self.duplicate_start_answer!r} not in {DUPLICATE_START_ANSWERS}"
            )

    # -- test API ----------------------------------------------------------------------------

    def finish_tasks(self, count: int | None = None) -> None:
        """End ``count`` active tasks (all by default): they no longer count against the Region limit."""
        with self._lock:
            for task_id in sorted(self.active_tasks)[: len(self.active_tasks) if count is None else count]:
                self.active_tasks.discard(task_id)

    def script(self, service: str, *replies: Reply) -> None:
        """Queue replies for the next requests to ``service``; afterwards it behaves normally."""
        with self._lock:
            self._scripts.setdefault(service, deque()).extend(replies)

    def requests_for(self, service: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.service == service]

    @property
    def faults_injected(self) -> int:
        return sum(self.faults.values())

    # -- server side -------------------------------------------------------------------------

    def _next_reply(self, service: str) -> Reply | None:
        with self._lock:
            queue = self._scripts.get(service)
            reply = queue.popleft() if queue else None
        if reply is None and self.fault_policy is not None:
            reply = self.fault_policy(service)
        if reply is not None and reply.is_fault:
            with self._lock:
                self.faults[f"{service}:{reply.label or reply.status}"] += 1
        return reply

    def _default(self, request: Request) -> tuple[int, dict[str, Any], str | None]:
        if request.service == CHIME and "operation=stop" in request.path:
            return self._stop_task(request)
        if request.service == CHIME:
            return self._start_task(request)
        if request.service == EVENTS:
            return self._put_events(request)
        return 404, {"message": "unknown operation"}, "UnknownOperationException"

    def _start_task(self, request: Request) -> tuple[int, dict[str, Any], str | None]:
        connector = urllib.parse.unquote(request.path.split("/")[2])
        kind = request.path.split("/")[3]
        body = request.json
        key: tuple[str, ...] = (connector, str(body.get("TransactionId")), str(body.get("CallLeg")))
        if kind != "speaker-search-tasks":  # speaker search keeps the (connector, transaction, leg) key
            key = (*key, kind)
        token = str(body.get("ClientRequestToken"))
        limit = (400, {"Message": "resource limit exceeded"}, "ResourceLimitExceededException")
        new_task = False
        with self._lock:
            existing = self.tasks.get(key)
            if existing is None:
                if self.region_task_limit is not None and len(self.active_tasks) >= self.region_task_limit:
                    self.region_limit_refusals += 1
                    return limit
                task_id = f"task-{len(self.tasks) + 1:06d}"
                self.tasks[key] = (token, task_id)
                self.active_tasks.add(task_id)
                new_task = True
            elif existing[0] != token:
                self.duplicate_starts += 1
                return limit
            else:
                self.repeat_starts += 1
                if self.duplicate_start_answer == "conflict":
                    return 409, {"Message": "request in progress"}, "ConflictException"
                if self.duplicate_start_answer == "limit_exceeded":
                    return limit
                task_id = existing[1]
        if new_task and self.on_task_started is not None:
            self.on_task_started(key, task_id)
        call = {"VoiceConnectorId": key[0], "TransactionId": key[1], "IsCaller": key[2] == "Caller"}
        if kind == "voice-tone-analysis-tasks":
            tone = {"VoiceToneAnalysisTaskId": task_id, "VoiceToneAnalysisTaskStatus": "IN_QUEUE"}
            return 201, {"VoiceToneAnalysisTask": {**tone, "CallDetails": call}}, None
        task = {"SpeakerSearchTaskId": task_id, "SpeakerSearchTaskStatus": "IN_QUEUE", "CallDetails": call}
        return 201, {"SpeakerSearchTask": task}, None

    def _stop_task(self, request: Request) -> tuple[int, dict[str, Any], str | None]:
        """``POST /voice-connectors/{id}/speaker-search-tasks/{taskId}?operation=stop`` -> 204."""
        task_id = urllib.parse.unquote(request.path.split("?")[0].split("/")[4])
        with self._lock:
            if task_id not in self.active_tasks:
                return 404, {"Message": "task not found"}, "NotFoundException"
            self.active_tasks.discard(task_id)
            self.stopped_tasks.append(task_id)
        return 204, {}, None

    def _put_events(self, request: Request) -> tuple[int, dict[str, Any], str | None]:
        entries = request.json.get("Entries", [])
        with self._lock:
            for entry in entries:
                self.published.append({**entry, "Detail": json.loads(entry.get("Detail", "{}"))})
            first = len(self.published) - len(entries)
        results = [{"EventId": f"event-{first + i + 1:06d}"} for i in range(len(entries))]
        return 200, {"FailedEntryCount": 0, "Entries": results}, None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One buffered write per response with Nagle off: otherwise every request on a kept-alive
    # connection waits ~40 ms for a delayed ACK, which would dominate the soak's run time.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def do_POST(self) -> None:
        fake: FakeAws = self.server.fake
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.headers.get("X-Amz-Target", "")
        if self.path.startswith("/voice-connectors/") and "-tasks" in self.path:
            service = CHIME
        elif self.path == "/" and target == "AWSEvents.PutEvents":
            service = EVENTS
        else:
            service = "unknown"
        request = Request(service, "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with fake._lock:
            fake.requests.append(request)

        reply = fake._next_reply(service)
        if reply is not None and reply.reset:
            # SO_LINGER 0 turns close() into a TCP RST: the client sees a reset, not a response.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if reply is not None and reply.delay:
            time.sleep(reply.delay)
        if reply is None or reply.status is None:
            status, payload, error_type = fake._default(request)
            if reply is not None and reply.lose_response:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                return
        else:
            status, payload, error_type = (
                reply.status,
                reply.body or {"message": "injected"},
                reply.error_type,
            )
        self._send(service, status, payload, error_type)

    def _send(self, service: str, status: int, payload: dict[str, Any], error_type: str | None) -> None:
        if error_type and service == EVENTS:
            payload = {"__type": error_type, **payload}
        data = b"" if status == 204 else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header(
                "Content-Type", "application/x-amz-json-1.1" if service == EVENTS else "application/json"
            )
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", "fake-request-id")
            if error_type and service != EVENTS:
                self.send_header("x-amzn-ErrorType", error_type)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # the client gave up (read timeout) and closed the socket
            self.close_connection = True


@contextmanager
def running(**kwargs: Any) -> Iterator[FakeAws]:
    """Start a FakeAws for the duration of a ``with`` block."""
    fake = FakeAws(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()
