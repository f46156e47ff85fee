"""A tiny local stand-in for chime-sdk-voice and EventBridge, for fault injection over real HTTP.

The real boto3 clients talk to it through ``AWS_ENDPOINT_URL_CHIME_SDK_VOICE`` and
``AWS_ENDPOINT_URL_EVENTBRIDGE``, so botocore's serialisation, error parsing, timeouts and
connection handling are all exercised. It speaks just enough of each protocol:

* chime-sdk-voice (REST-JSON): ``POST /voice-connectors/{id}/speaker-search-tasks`` -> 201 with a
  ``SpeakerSearchTask``, ``POST /voice-connectors/{id}/voice-tone-analysis-tasks`` -> 201 with a
  ``VoiceToneAnalysisTask`` (tracked apart, per connector and transaction); errors carry
  ``x-amzn-ErrorType`` (botocore's RestJSONParser reads the code from that header).
* EventBridge (awsJson1_1): ``POST /`` with ``X-Amz-Target: AWSEvents.PutEvents``; errors carry
  ``__type`` in the body.

Every request is recorded. Replies come from a per-service script (``script()``), then from an
optional ``fault_policy``, then from the stateful default behaviour: started tasks are tracked per
(connector, transaction, leg); a repeat with the same token returns the same task (or 409 with
``conflict_on_repeat``), and a DIFFERENT token for an already-started transaction is counted in
``duplicate_starts`` and refused like the real per-transaction limit would.

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
VOICE_TONE_PATH = "/voice-tone-analysis-tasks"
START_PATHS = ("/speaker-search-tasks", VOICE_TONE_PATH)


@dataclass(frozen=True)
class Reply:
    """One scripted reply. ``status=None`` means "behave normally" (after ``delay``)."""

    status: int | None = None
    error_type: str | None = None
    body: dict[str, Any] | None = None
    delay: float = 0.0
    reset: bool = False
    label: str = ""

    @property
    def is_fault(self) -> bool:
        failed_entries = bool(self.body and self.body.get("FailedEntryCount"))
        return self.reset or self.delay > 0 or (self.status or 0) >= 400 or failed_entries


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


@dataclass
class FakeAws:
    conflict_on_repeat: bool = False
    fault_policy: Callable[[str], Reply | None] | None = None
    requests: list[Request] = field(default_factory=list)
    tasks: dict[tuple[str, str, str], tuple[str, str]] = field(default_factory=dict)
    duplicate_starts: int = 0
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

    # -- test API ----------------------------------------------------------------------------

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
        if request.service == CHIME:
            return self._start_task(request)
        if request.service == EVENTS:
            return self._put_events(request)
        return 404, {"message": "unknown operation"}, "UnknownOperationException"

    def _start_task(self, request: Request) -> tuple[int, dict[str, Any], str | None]:
        connector = urllib.parse.unquote(request.path.split("/")[2])
        body = request.json
        voice_tone = request.path.endswith(VOICE_TONE_PATH)
        # Voice tone takes no CallLeg: one task per transaction, keyed apart from speaker search.
        leg = VOICE_TONE_PATH if voice_tone else str(body.get("CallLeg"))
        key = (connector, str(body.get("TransactionId")), leg)
        token = str(body.get("ClientRequestToken"))
        with self._lock:
            existing = self.tasks.get(key)
            if existing is None:
                task_id = f"task-{len(self.tasks) + 1:06d}"
                self.tasks[key] = (token, task_id)
            elif existing[0] != token:
                self.duplicate_starts += 1
                return (
                    400,
                    {"Message": "an active task exists for this transaction"},
                    ("ResourceLimitExceededException"),
                )
            elif self.conflict_on_repeat:
                return 409, {"Message": "request in progress"}, "ConflictException"
            else:
                task_id = existing[1]
        call = {"VoiceConnectorId": key[0], "TransactionId": key[1], "IsCaller": key[2] == "Caller"}
        if voice_tone:
            tone = {"VoiceToneAnalysisTaskId": task_id, "VoiceToneAnalysisTaskStatus": "IN_QUEUE"}
            return 201, {"VoiceToneAnalysisTask": {**tone, "CallDetails": call}}, None
        task = {"SpeakerSearchTaskId": task_id, "SpeakerSearchTaskStatus": "IN_QUEUE", "CallDetails": call}
        return 201, {"SpeakerSearchTask": task}, None

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
        if self.path.startswith("/voice-connectors/") and self.path.endswith(START_PATHS):
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
        data = json.dumps(payload).encode()
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
