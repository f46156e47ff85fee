"""The speaker-search runtime as the benchmarks drive it: real code, virtual time, in-process AWS.

Everything that depends on how ``lambda/speaker_search`` is laid out inside is in this one module,
so the benchmarks survive refactorings of the runtime. They only rely on:

* ``index.handler(event, context)``, imported as the Lambda runtime imports it (its folder and
  ``lambda/_common`` first on ``sys.path``, through ``tests.support.load_handler``);
* the module globals ``_sleep``, ``_clock`` and ``_rng`` (backoff sleep, monotonic clock, jitter),
  which tests patch too, wherever the runtime keeps them (``aws_calls`` or ``index``);
* boto3's default session: AWS requests are answered by a ``before-send`` hook registered on it,
  so botocore still serialises every request and parses every reply (including error codes and
  HTTP status), but no socket is opened and no time passes except what the fake says;
* ``STATE_TABLE_NAME``: with ``state_table=True`` (the default, as deployed) the runtime's state
  table is moto's in-process DynamoDB (key schema of ``_state_table.py``), which answers before the
  hook sees the request; its calls take no virtual time (single-digit milliseconds in AWS).
"""

from __future__ import annotations

import json
import os
import random
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, cast
from unittest import mock

import boto3
from botocore.awsrequest import AWSResponse
from moto import mock_aws

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.support import apply_env, load_handler, offline_aws_env  # noqa: E402

#: Where a request would go if the hook ever missed one: a closed local port, never AWS.
UNREACHABLE = "http://127.0.0.1:9"
STATE_TABLE = "bench-state"
#: The state table's partition key (constructs/chime_speaker_search/_state_table.py PARTITION_KEY).
PARTITION_KEY = "pk"


@dataclass(frozen=True)
class ApiReply:
    """What the fake answers: HTTP status, error code (None on success) and the JSON payload."""

    status: int
    error_code: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class ApiRequest:
    operation: str  # "<service id>.<operation>", e.g. "chime-sdk-voice.StartSpeakerSearchTask"
    path: str
    body: dict[str, Any]


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _response(url: str, operation: str, reply: ApiReply) -> AWSResponse:
    payload = dict(reply.payload)
    headers = {"x-amzn-RequestId": "fake-request-id"}
    if operation.startswith("eventbridge."):  # awsJson1_1: the error code is in the body
        headers["Content-Type"] = "application/x-amz-json-1.1"
        if reply.error_code:
            payload["__type"] = reply.error_code
    else:  # restJson1: the error code is in a header
        headers["Content-Type"] = "application/json"
        if reply.error_code:
            headers["x-amzn-ErrorType"] = reply.error_code
    # AWSResponse wraps any mapping in a HeadersDict; the stubs ask for HTTPHeaders.
    return AWSResponse(url, reply.status, headers, _Body(json.dumps(payload).encode()))  # type: ignore[arg-type]


class UnexpectedRequestError(AssertionError):
    """The runtime made an AWS request the fake does not model; figures would be meaningless."""


@contextmanager
def virtual_runtime(
    env: dict[str, str],
    *,
    answer: Callable[[ApiRequest], ApiReply],
    latency: Callable[[ApiRequest], float],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    seed: int,
    overrides: dict[str, Any] | None = None,
    state_table: bool = True,
) -> Iterator[ModuleType]:
    """The handler module wired to a fake AWS and a virtual clock; everything restored after.

    ``answer`` decides each request halfway through its ``latency`` (slept through ``sleep``), then
    botocore parses the reply. ``overrides`` replaces runtime module constants
    (e.g. the retry schedule) by name, in whichever runtime module defines them. ``state_table``:
    run with the state table in moto (as deployed) or without it (``STATE_TABLE_NAME`` unset).
    """
    unexpected: list[str] = []

    def before_send(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        operation = event_name.removeprefix("before-send.")
        if state_table and operation.startswith("dynamodb."):
            return None  # botocore calls every before-send handler; moto's answer is the one used
        path = urllib.parse.urlsplit(request.url).path
        body = json.loads(request.body or b"{}")
        api_request = ApiRequest(operation, urllib.parse.unquote(path), body)
        # Half the latency on the way there, half on the way back: the service decides in between.
        half = latency(api_request) / 2
        sleep(half)
        try:
            reply = answer(api_request)
        except UnexpectedRequestError as error:
            unexpected.append(str(error))
            reply = ApiReply(400, "BadRequestException", {"Message": "not modelled by the benchmark"})
        sleep(half)
        return _response(request.url, operation, reply)

    mod = load_handler("speaker_search")
    with ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ))
        endpoints = {
            "AWS_ENDPOINT_URL_CHIME_SDK_VOICE": UNREACHABLE,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": UNREACHABLE,
        }
        apply_env(os.environ, offline_aws_env({**env, **endpoints}))
        # A fresh default session, so the clients the runtime creates now carry the hook.
        stack.enter_context(mock.patch.object(boto3, "DEFAULT_SESSION", None))
        if state_table:
            # moto's before-send handler is one of botocore's built-ins, so it runs before the
            # hook below: it answers DynamoDB and passes the 127.0.0.1 requests on.
            stack.enter_context(mock_aws())
            apply_env(os.environ, offline_aws_env({**env, **endpoints}))  # mock_aws set its own
            boto3.client("dynamodb").create_table(
                TableName=STATE_TABLE,
                KeySchema=[{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": PARTITION_KEY, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            os.environ["STATE_TABLE_NAME"] = STATE_TABLE
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        # botocore uses the first non-None answer of a before-send hook as the response; its stubs
        # type hooks as returning None.
        boto3.DEFAULT_SESSION.events.register("before-send", cast("Callable[..., None]", before_send))
        patches = {"_sleep": sleep, "_clock": clock, "_rng": random.Random(seed), **(overrides or {})}
        for name, value in patches.items():
            owners = [m for m in _runtime_modules(mod) if hasattr(m, name)]
            if not owners:
                raise AttributeError(f"no runtime module defines {name}")
            for owner in owners:
                stack.enter_context(mock.patch.object(owner, name, value))
        stack.callback(_reset, mod)
        _reset(mod)
        # EMF metric lines and log records are not what is measured here.
        stack.enter_context(redirect_stdout(open(os.devnull, "w")))  # noqa: SIM115 (closed at exit)
        yield mod
        if unexpected:
            raise UnexpectedRequestError("; ".join(sorted(set(unexpected))))


def _runtime_modules(mod: ModuleType) -> list[ModuleType]:
    """The handler module and the runtime modules it imported from lambda/ (any layout)."""
    lambda_root = str(REPO_ROOT / "lambda")
    found = [mod]
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None) or ""
        if module is not mod and path.startswith(lambda_root):
            found.append(module)
    return found


def _reset(mod: ModuleType) -> None:
    """Forget cached settings and clients, so the next invocation rereads env and makes new clients."""
    for module in _runtime_modules(mod):
        for name in ("_reset_for_tests", "reset_for_tests"):
            reset = getattr(module, name, None)
            if callable(reset):
                reset()
        for value in list(vars(module).values()):
            cache_clear = getattr(value, "cache_clear", None)
            if callable(cache_clear):  # lazy client getters, cached settings
                cache_clear()
