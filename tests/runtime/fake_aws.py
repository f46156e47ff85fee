"""A tiny local stand-in for chime-sdk-voice and EventBridge, for fault injection over real HTTP.

The real boto3 clients talk to it through ``AWS_ENDPOINT_URL_CHIME_SDK_VOICE`` and
``AWS_ENDPOINT_URL_EVENTBRIDGE``, so botocore's serialisation, error parsing, timeouts and
connection handling are all exercised. It speaks just enough of each protocol:

* chime-sdk-voice (REST-JSON): ``POST /voice-connectors/{id}/speaker-search-tasks`` -> 201 with a
  ``SpeakerSearchTask`` (``/voice-tone-analysis-tasks``: a ``VoiceToneAnalysisTask``); errors carry
  ``x-amzn-ErrorType`` (botocore's RestJSONParser reads the code from that header).
* chime-sdk-voice voice profiles: ``POST /voice-profiles`` (CreateVoiceProfile -> 201),
  ``PUT|GET|DELETE /voice-profiles/{id}`` (Update -> 200, Get -> 200, Delete -> 204) and
  ``GET /voice-profiles?voice-profile-domain-id=...`` (ListVoiceProfiles, paged by ``max-results``).
  A profile is made from a speaker search task this fake started (its domain is the task's) or
  one added with :meth:`FakeAws.add_past_task`; every profile remembers its source task
  (``profiles``), the evidence for "one enroll request, at most one profile".
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

Voice profile answers AWS leaves open (docs/aws-voice-analytics-facts-3.md), each an option:

* ``expired_task_answer``: CreateVoiceProfile / UpdateVoiceProfile for a task older than 24 hours
  (its embeddings are gone). The docs say "likely 410 Gone": ``"gone"`` (410 ``GoneException``),
  ``"not_found"`` (404 ``NotFoundException``) or ``"bad_request"`` (400 ``BadRequestException``).
* ``repeat_create_answer``: CreateVoiceProfile for a task that already has a profile. The API
  takes no idempotency token, so ``"new_profile"`` (201, a second voiceprint) is the default;
  ``"conflict"`` (409) and ``"same_profile"`` (201 with the first profile) are the alternatives.
* ``list_lag_s``: ListVoiceProfiles is eventually consistent: a profile is listed only this many
  seconds after it was made (0: at once).
* ``GetSpeakerSearchTask`` (``GET /voice-connectors/{id}/speaker-search-tasks/{taskId}``) reports a
  task's voiceprint (:class:`Voiceprint`, per task with :meth:`FakeAws.set_voiceprint`): a made one
  as ``voiceprint_answer`` says (``"success"``: ``VoiceprintGenerationSuccess``, the API's spelling;
  ``"successful"``: the notifications' spelling; ``"absent"``: no field at all), one not made yet as
  ``voiceprint_pending_answer`` says (no field, or the undocumented ``VoiceprintGenerationInProgress``),
  a failed one as ``VoiceprintGenerationFailure``, with the task status the test chose (an ended
  task without a voiceprint included). A create or update from a task without a voiceprint is
  answered 400 ``BadRequestException`` (undocumented) and counted in ``unready_creates``.

Deleting a profile that is gone answers 404 ``NotFoundException`` (documented), as do Get and
Update of an unknown profile and a create from an unknown task.

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
from datetime import UTC, datetime
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

    @property
    def operation(self) -> str:
        """The API operation, from the method and path (``"unknown"`` if the fake has none)."""
        path = self.path.split("?")[0]
        if self.service == EVENTS:
            return "PutEvents"
        if path.startswith("/voice-connectors/"):
            kind = "SpeakerSearchTask" if "/speaker-search-tasks" in path else "VoiceToneAnalysisTask"
            if self.method == "GET":
                return "Get" + kind
            return ("Stop" if "operation=stop" in self.path else "Start") + kind
        if path == "/voice-profiles":
            return {"POST": "CreateVoiceProfile", "GET": "ListVoiceProfiles"}.get(self.method, "unknown")
        if path.startswith("/voice-profiles/"):
            names = {"PUT": "UpdateVoiceProfile", "GET": "GetVoiceProfile", "DELETE": "DeleteVoiceProfile"}
            return names.get(self.method, "unknown")
        return "unknown"


DUPLICATE_START_ANSWERS = ("same_task", "conflict", "limit_exceeded")
#: How GetSpeakerSearchTask reports a ready voiceprint: either documented spelling, or not at all.
VOICEPRINT_ANSWERS = ("success", "successful", "absent")
#: How it reports a voiceprint not made yet: no field, or a value AWS does not document.
VOICEPRINT_PENDING_ANSWERS = ("absent", "unknown")
VOICEPRINT_VALUES = {"success": "VoiceprintGenerationSuccess", "successful": "VoiceprintGenerationSuccessful"}
#: The undocumented in-progress value the fake gives with ``voiceprint_pending_answer="unknown"``.
VOICEPRINT_IN_PROGRESS = "VoiceprintGenerationInProgress"
EXPIRED_TASK_ANSWERS = ("gone", "not_found", "bad_request")
REPEAT_CREATE_ANSWERS = ("new_profile", "conflict", "same_profile")
#: A voice profile can be made from a speaker search task for this long after the task.
EMBEDDING_RETENTION_S = 24 * 3600
#: Profiles expire this long after their last update.
PROFILE_LIFETIME_S = 3 * 365 * 24 * 3600
_ERRORS = {
    "gone": (410, "GoneException"),
    "not_found": (404, "NotFoundException"),
    "bad_request": (400, "BadRequestException"),
    "conflict": (409, "ConflictException"),
}


@dataclass
class VoiceProfile:
    profile_id: str
    domain_id: str
    #: The speaker search task it was made from (None: made before the fake started).
    task_id: str | None
    created_at: float
    updated_at: float
    deleted: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "VoiceProfileId": self.profile_id,
            "VoiceProfileArn": f"arn:aws:chime:us-east-1:111122223333:voice-profile/{self.profile_id}",
            "VoiceProfileDomainId": self.domain_id,
            "CreatedTimestamp": _iso(self.created_at),
            "UpdatedTimestamp": _iso(self.updated_at),
            "ExpirationTimestamp": _iso(self.updated_at + PROFILE_LIFETIME_S),
        }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Voiceprint:
    """A speaker search task's voiceprint.

    ``made``: a profile can be made from the task; ``failed``: generation failed (reported as
    ``VoiceprintGenerationFailure``); ``task_status``: the ``SpeakerSearchTaskStatus`` reported.
    ``ready_after_first_get_s`` makes an early request wait: the voiceprint is made that long after
    the task's first GetSpeakerSearchTask (``ready_at``). How a made or pending voiceprint is
    reported is up to the fake's ``voiceprint_answer`` / ``voiceprint_pending_answer``.
    """

    made: bool = True
    failed: bool = False
    task_status: str = "IN_PROGRESS"
    ready_after_first_get_s: float | None = None
    ready_at: float | None = None

    def is_made(self) -> bool:
        if self.failed:
            return False
        if self.ready_after_first_get_s is not None or self.ready_at is not None:
            return self.ready_at is not None and time.time() >= self.ready_at
        return self.made


@dataclass
class FakeAws:
    duplicate_start_answer: str = "same_task"
    expired_task_answer: str = "gone"
    repeat_create_answer: str = "new_profile"
    list_lag_s: float = 0.0
    #: GetSpeakerSearchTask's answer for a ready voiceprint (``VOICEPRINT_ANSWERS``) and for one not
    #: made yet (``VOICEPRINT_PENDING_ANSWERS``); a voiceprint of a task the fake itself started is
    #: ready ``voiceprint_after_s`` after the start.
    voiceprint_answer: str = "success"
    voiceprint_pending_answer: str = "absent"
    voiceprint_after_s: float = 0.0
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
    #: Injected faults per (operation, label), e.g. ("CreateVoiceProfile", "lost-response").
    operation_faults: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Speaker search task ID -> (voice profile domain ID, start time, epoch seconds).
    speaker_search_tasks: dict[str, tuple[str, float]] = field(default_factory=dict)
    #: Every voice profile ever made, deleted ones included (``deleted=True``).
    profiles: dict[str, VoiceProfile] = field(default_factory=dict)
    #: Creates and updates from a task whose voiceprint was not made (the handler must wait).
    unready_creates: int = 0
    #: Speaker search task ID -> (connector, transaction) of its call, for GetSpeakerSearchTask.
    task_calls: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: Per-task voiceprint answers set by a test (``set_voiceprint``); others follow the options.
    voiceprints: dict[str, Voiceprint] = field(default_factory=dict)
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
        for name, allowed in (
            ("duplicate_start_answer", DUPLICATE_START_ANSWERS),
            ("expired_task_answer", EXPIRED_TASK_ANSWERS),
            ("repeat_create_answer", REPEAT_CREATE_ANSWERS),
            ("voiceprint_answer", VOICEPRINT_ANSWERS),
            ("voiceprint_pending_answer", VOICEPRINT_PENDING_ANSWERS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} {getattr(self, name)!r} not in {allowed}")

    # -- test API ----------------------------------------------------------------------------

    def finish_tasks(self, count: int | None = None) -> None:
        """End ``count`` active tasks (all by default): they no longer count against the Region limit."""
        with self._lock:
            for task_id in sorted(self.active_tasks)[: len(self.active_tasks) if count is None else count]:
                self.active_tasks.discard(task_id)

    def add_past_task(
        self,
        task_id: str,
        domain_id: str,
        age_s: float,
        *,
        call: tuple[str, str] = ("vc-one", "tx-enrolled"),
        voiceprint: Voiceprint | None = None,
    ) -> None:
        """A speaker search task that ran ``age_s`` seconds ago for ``call`` (before the fake started)."""
        with self._lock:
            self.speaker_search_tasks[task_id] = (domain_id, time.time() - age_s)
            self.task_calls[task_id] = call
            if voiceprint is not None:
                self.voiceprints[task_id] = voiceprint

    def set_voiceprint(self, task_id: str, voiceprint: Voiceprint) -> None:
        with self._lock:
            self.voiceprints[task_id] = voiceprint

    def add_past_profile(self, profile_id: str, domain_id: str, age_s: float) -> None:
        """A voice profile enrolled ``age_s`` seconds ago, from a task this fake never saw."""
        then = time.time() - age_s
        with self._lock:
            self.profiles[profile_id] = VoiceProfile(profile_id, domain_id, None, then, then)

    def profiles_per_task(self) -> Counter[str]:
        """How many profiles (deleted ones included) each speaker search task made."""
        with self._lock:
            return Counter(p.task_id for p in self.profiles.values() if p.task_id is not None)

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

    def _next_reply(self, request: Request) -> Reply | None:
        service = request.service
        with self._lock:
            queue = self._scripts.get(service)
            reply = queue.popleft() if queue else None
        if reply is None and self.fault_policy is not None:
            reply = self.fault_policy(service)
        if reply is not None and reply.is_fault:
            label = reply.label or str(reply.status)
            with self._lock:
                self.faults[f"{service}:{label}"] += 1
                self.operation_faults[(request.operation, label)] += 1
        return reply

    def _default(self, request: Request) -> tuple[int, dict[str, Any], str | None]:
        operation = request.operation
        if operation == "GetSpeakerSearchTask":
            return self._get_task(request)
        if operation.startswith("Stop"):
            return self._stop_task(request)
        if operation.startswith("Start"):
            return self._start_task(request)
        if operation == "PutEvents":
            return self._put_events(request)
        voice_profiles = {
            "CreateVoiceProfile": self._create_profile,
            "UpdateVoiceProfile": self._update_profile,
            "DeleteVoiceProfile": self._delete_profile,
            "GetVoiceProfile": self._get_profile,
            "ListVoiceProfiles": self._list_profiles,
        }
        if operation in voice_profiles:
            return voice_profiles[operation](request)
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
                if kind == "speaker-search-tasks":
                    self.speaker_search_tasks[task_id] = (str(body.get("VoiceProfileDomainId")), time.time())
                    self.task_calls[task_id] = (key[0], key[1])
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

    def _voiceprint(self, task_id: str) -> Voiceprint:
        """The task's voiceprint (under the lock): set by a test, else from the options."""
        voiceprint = self.voiceprints.get(task_id)
        if voiceprint is not None:
            return voiceprint
        return Voiceprint(ready_at=self.speaker_search_tasks[task_id][1] + self.voiceprint_after_s)

    def _get_task(self, request: Request) -> tuple[int, dict[str, Any], str | None]:
        """``GET /voice-connectors/{id}/speaker-search-tasks/{taskId}`` -> 200 with the task."""
        parts = request.path.split("?")[0].split("/")
        connector, task_id = urllib.parse.unquote(parts[2]), urllib.parse.unquote(parts[4])
        with self._lock:
            call = self.task_calls.get(task_id)
            if task_id not in self.speaker_search_tasks or call is None or call[0] != connector:
                return 404, {"Message": "speaker search task not found"}, "NotFoundException"
            voiceprint = self._voiceprint(task_id)
            if voiceprint.ready_after_first_get_s is not None and voiceprint.ready_at is None:
                voiceprint.ready_at = time.time() + voiceprint.ready_after_first_get_s
            pending = VOICEPRINT_IN_PROGRESS if self.voiceprint_pending_answer == "unknown" else None
            if voiceprint.failed:
                status: str | None = "VoiceprintGenerationFailure"
            else:
                status = VOICEPRINT_VALUES.get(self.voiceprint_answer) if voiceprint.is_made() else pending
            task_status = voiceprint.task_status
        task: dict[str, Any] = {
            "SpeakerSearchTaskId": task_id,
            "SpeakerSearchTaskStatus": task_status,
            "CallDetails": {"VoiceConnectorId": call[0], "TransactionId": call[1], "IsCaller": True},
        }
        if status is not None:
            task["SpeakerSearchDetails"] = {"Results": [], "VoiceprintGenerationStatus": status}
        return 200, {"SpeakerSearchTask": task}, None

    # -- voice profiles ------------------------------------------------------------------------

    def _embeddings(self, task_id: str) -> tuple[str, None] | tuple[None, tuple[int, dict[str, Any], str]]:
        """(the task's domain, None), or (None, the error) for an unknown or expired task, or one
        without a voiceprint (400 BadRequest: what AWS answers then is not documented)."""
        task = self.speaker_search_tasks.get(task_id)
        if task is None:
            return None, (404, {"Message": "speaker search task not found"}, "NotFoundException")
        if time.time() - task[1] > EMBEDDING_RETENTION_S:
            status, code = _ERRORS[self.expired_task_answer]
            return None, (status, {"Message": "the task's embeddings are gone"}, code)
        if not self._voiceprint(task_id).is_made():
            self.unready_creates += 1
            return None, (400, {"Message": "the task has no voiceprint"}, "BadRequestException")
        return task[0], None

    def _create_profile(self, request: Request) -> tuple[int, dict[str, Any], str | None]:
        task_id = str(request.json.get("SpeakerSearchTaskId"))
        with self._lock:
            domain, error = self._embeddings(task_id)
            if error is not None:
                return error
            assert domain is not None
            mine = [p for p in self.profiles.values() if p.task_id == task_id and not p.deleted]
            if mine and self.repeat_create_answer == "conflict":
                return 409, {"Message": "a profile exists for this task"}, "ConflictException"
            if mine and self.repeat_create_answer == "same_profile":
                return 201, {"VoiceProfile": mine[0].summary()}, None
            now = time.time()
            profile = VoiceProfile(f"vp-{len(self.profiles) + 1:06d}", domain, task_id, now, now)
            self.profiles[profile.profile_id] = profile
        return 201, {"VoiceProfile": profile.summary()}, None

    def _live_profile(self, request: Request) -> VoiceProfile | None:
        profile_id = urllib.parse.unquote(request.path.split("?")[0].split("/")[2])
        profile = self.profiles.get(profile_id)
        return None if profile is None or profile.deleted else profile

    def _update_profile(self, request: Request) -> tuple[int, dict[str, Any], str | None]:
        with self._lock:
            profile = self._live_profile(request)
            if profile is None:
                return 404, {"Message": "voice profile not found"}, "NotFoundException"
            _, error = self._embeddings(str(request.json.get("SpeakerSearchTaskId")))
            if error is not None:
                return error
            profile.updated_at = time.time()
            return 200, {"VoiceProfile": profile.summary()}, None

    def _delete_profile(self, request: Request) -> tuple[int, dict[str, Any], str | None]:
        with self._lock:
            profile = self._live_profile(request)
            if profile is None:
                return 404, {"Message": "voice profile not found"}, "NotFoundException"
            profile.deleted = True
        return 204, {}, None

    def _get_profile(self, request: Request) -> tuple[int, dict[str, Any], str | None]:
        with self._lock:
            profile = self._live_profile(request)
            if profile is None:
                return 404, {"Message": "voice profile not found"}, "NotFoundException"
            return 200, {"VoiceProfile": profile.summary()}, None

    def _list_profiles(self, request: Request) -> tuple[int, dict[str, Any], str | None]:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
        domain = query.get("voice-profile-domain-id", [""])[0]
        size = int(query.get("max-results", ["100"])[0])
        start = int(query.get("next-token", ["0"])[0])
        visible_before = time.time() - self.list_lag_s
        with self._lock:
            listed = [
                p.summary()
                for p in self.profiles.values()
                if p.domain_id == domain and not p.deleted and p.created_at <= visible_before
            ]
        page: dict[str, Any] = {"VoiceProfiles": listed[start : start + size]}
        if start + size < len(listed):
            page["NextToken"] = str(start + size)
        return 200, page, None

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
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_GET(self) -> None:
        self._serve("GET")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        fake: FakeAws = self.server.fake
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.headers.get("X-Amz-Target", "")
        if self.path.startswith("/voice-connectors/") and "-tasks" in self.path:
            service = CHIME
        elif self.path.split("?")[0].startswith("/voice-profiles"):
            service = CHIME  # the same chime-sdk-voice endpoint, so the same fault policy
        elif self.path == "/" and target == "AWSEvents.PutEvents":
            service = EVENTS
        else:
            service = "unknown"
        request = Request(service, method, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with fake._lock:
            fake.requests.append(request)

        reply = fake._next_reply(request)
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
