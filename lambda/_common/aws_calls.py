"""One way to call AWS for every handler: classification, retries, backoff and a deadline.

The construct ships this file beside each function's ``index.py``, so handlers import it as the
top-level module ``aws_calls``. Standard library, boto3 and botocore only.

Why our own loop: botocore's standard and adaptive retry modes do not retry HTTP 429
(``ThrottledClientException`` in chime-sdk-voice, ``Throttling`` in chime-sdk-media-pipelines), and a
second loop inside botocore would multiply ours. Clients therefore get ``total_max_attempts=1``
(:func:`client_config`) and :func:`call` does all retrying, with the same request (and so the same
idempotency token) on every attempt.

Errors are classified once (:func:`classify`) into an :class:`ErrorKind`; each caller says which kinds
it retries (:class:`RetryPolicy`), because the right reaction depends on the call: a
``ConflictException`` means "already started" to a task start but "wait for the detach" to a
configuration delete.

Time: :func:`call` never starts an attempt that could not finish (connect plus read timeout, the
policy's ``attempt_cost_s``) before its :class:`Deadline`, and never sleeps a backoff that no attempt
could follow. Deadlines come from the Lambda context, so no handler outlives its function timeout in
the middle of a retry.

Tests replace ``_sleep``, ``_rng`` and ``_clock`` (looked up at call time).
"""

from __future__ import annotations

import functools
import logging
import os
import random
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar

import boto3
import botocore.exceptions
from botocore.config import Config

T = TypeVar("T")

logger = logging.getLogger("chime_speaker_search.aws_calls")

#: The construct puts the library's version (defined once, in the package) into every function's
#: environment; it identifies this library's requests in AWS's logs.
USER_AGENT_EXTRA = f"chime-speaker-search/{os.environ.get('CHIME_SPEAKER_SEARCH_VERSION') or 'unknown'}"

# Indirection for tests: backoff sleeps, the jitter source and the clock.
_sleep: Callable[[float], None] = time.sleep
_rng: random.Random = random.Random()  # noqa: S311 (jitter, not cryptography)
_clock: Callable[[], float] = time.monotonic


class ErrorKind(StrEnum):
    """What an AWS error means for a retry decision."""

    THROTTLED = "throttled"
    TRANSIENT = "transient"
    CONFLICT = "conflict"
    LIMIT_EXCEEDED = "limit_exceeded"
    NOT_FOUND = "not_found"
    PERMANENT = "permanent"


#: Error codes that mean "slow down", whatever the HTTP status (429 is recognised on its own too).
THROTTLING_CODES = frozenset(
    {
        "ThrottledClientException",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        # DynamoDB (the runtime's state table): HTTP 400, yet "slow down", also on on-demand tables.
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        # SQS (the perimeter's receipt-handle check, the dead-letter queue): its request rate, and
        # KMS's rate for an encrypted queue.
        "RequestThrottled",
        "KmsThrottled",
    }
)
#: Error codes of a server-side failure worth retrying.
TRANSIENT_CODES = frozenset(
    {"ServiceFailureException", "ServiceUnavailableException", "InternalFailure", "InternalServerError"}
)
NETWORK_ERRORS = (
    botocore.exceptions.ConnectionError,  # includes EndpointConnectionError, ConnectTimeoutError
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
)


class FailedEntryError(Exception):
    """A batch API (PutEvents) accepted the request but rejected the entry with ``code``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


#: PutEvents entry error codes that can succeed on a later attempt; every other one never does.
TRANSIENT_ENTRY_CODES = {"InternalFailure": ErrorKind.TRANSIENT, "ThrottlingException": ErrorKind.THROTTLED}


def classify(exc: BaseException) -> tuple[str, ErrorKind]:
    """The error code and its :class:`ErrorKind` for an exception raised by one AWS attempt."""
    if isinstance(exc, botocore.exceptions.ClientError):
        code = str(exc.response.get("Error", {}).get("Code") or "Unknown")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return code, _kind_of(code, status)
    if isinstance(exc, FailedEntryError):
        return exc.code, TRANSIENT_ENTRY_CODES.get(exc.code, ErrorKind.PERMANENT)
    if isinstance(exc, NETWORK_ERRORS):
        return type(exc).__name__, ErrorKind.TRANSIENT
    return type(exc).__name__, ErrorKind.PERMANENT


def _kind_of(code: str, status: int) -> ErrorKind:
    if status == 429 or code in THROTTLING_CODES:
        return ErrorKind.THROTTLED
    if code == "ConflictException" or status == 409:
        return ErrorKind.CONFLICT
    if code == "ResourceLimitExceededException":
        return ErrorKind.LIMIT_EXCEEDED
    if code in TRANSIENT_CODES or status >= 500:
        return ErrorKind.TRANSIENT
    if code == "NotFoundException" or status == 404:
        return ErrorKind.NOT_FOUND
    return ErrorKind.PERMANENT


class Deadline(NamedTuple):
    """Clock value (``_clock``) by which every AWS attempt must have finished."""

    at: float

    @classmethod
    def from_context(cls, context: Any, *, safety_margin_s: float, no_context_budget_s: float) -> Deadline:
        """The Lambda deadline minus ``safety_margin_s``; without a context, ``no_context_budget_s``."""
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining_ms):
            return cls(_clock() + float(remaining_ms()) / 1000.0 - safety_margin_s)
        return cls(_clock() + no_context_budget_s)

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(_clock() + seconds)

    def remaining(self) -> float:
        return self.at - _clock()

    def sooner(self, seconds: float) -> Deadline:
        """This deadline or ``seconds`` from now, whichever comes first (a budget inside a deadline)."""
        return Deadline(min(self.at, _clock() + seconds))


class RetryPolicy(NamedTuple):
    """How one kind of call is retried. ``attempt_cost_s`` is the longest one attempt can take."""

    max_attempts: int
    backoff_base_s: float
    backoff_cap_s: float
    attempt_cost_s: float
    retry_on: frozenset[ErrorKind] = frozenset({ErrorKind.THROTTLED, ErrorKind.TRANSIENT})

    def backoff_s(self, attempt: int) -> float:
        """Full-jitter exponential backoff after the ``attempt``-th failure (1-based)."""
        return _rng.uniform(0.0, min(self.backoff_cap_s, self.backoff_base_s * 2 ** min(attempt - 1, 16)))


class AwsCallError(Exception):
    """A call that failed permanently or ran out of attempts or time.

    ``code`` is the AWS error code (``DeadlineExceeded`` when no attempt could start), ``kind``
    its classification, ``attempts`` how many attempts were made and ``reason`` why it stopped.
    """

    def __init__(self, operation: str, code: str, kind: ErrorKind, attempts: int, reason: str) -> None:
        super().__init__(f"{operation}: {code}: {reason}")
        self.operation = operation
        self.code = code
        self.kind = kind
        self.attempts = attempts
        self.reason = reason


def call(fn: Callable[[], T], *, deadline: Deadline, policy: RetryPolicy, operation: str) -> tuple[T, int]:
    """Run ``fn`` until it succeeds; return (result, attempts) or raise :class:`AwsCallError`.

    Retries the kinds in ``policy.retry_on`` with full-jitter backoff, at most
    ``policy.max_attempts`` times, and never starts an attempt that could run past ``deadline``.
    """
    attempts = 0
    while True:
        if deadline.remaining() < policy.attempt_cost_s:
            kind = ErrorKind.TRANSIENT
            raise AwsCallError(operation, "DeadlineExceeded", kind, attempts, "not enough time left")
        attempts += 1
        try:
            return fn(), attempts
        except Exception as exc:
            code, kind = classify(exc)
            if kind not in policy.retry_on:
                raise AwsCallError(operation, code, kind, attempts, "not retryable") from exc
            if attempts >= policy.max_attempts:
                reason = f"still failing after {attempts} attempts"
                raise AwsCallError(operation, code, kind, attempts, reason) from exc
            delay = policy.backoff_s(attempts)
            if deadline.remaining() - delay < policy.attempt_cost_s:
                reason = f"retry budget exhausted (deadline) after {attempts} attempts"
                raise AwsCallError(operation, code, kind, attempts, reason) from exc
            logger.debug(
                "aws_call_retrying",
                extra={"operation": operation, "errorCode": code, "attempts": attempts, "delay": delay},
            )
            _sleep(delay)


def client_config(*, connect_timeout_s: float, read_timeout_s: float) -> Config:
    """A client configuration under which botocore never retries: :func:`call` does."""
    return Config(
        retries={"total_max_attempts": 1},
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
        user_agent_extra=USER_AGENT_EXTRA,
    )


def lazy_client(service_name: str, config: Callable[[], Config]) -> functools._lru_cache_wrapper[Any]:
    """A getter that creates the service's client on first use, then returns that same one.

    ``config`` is called at creation time, so tests that shorten timeouts before the first call
    get clients with the shorter timeouts. One client per Lambda container; importing a handler
    touches nothing. Forget the client with ``getter.cache_clear()``.
    """

    @functools.cache
    def client() -> Any:
        return boto3.client(service_name, config=config())

    return client
