"""What the CloudFormation custom-resource handlers share: Chime API calls with retries, tokens, tags.

The construct deploys this file beside ``index.py`` in the one custom-resource function's asset
(lambda/custom_resources/; see ``_shared.CUSTOM_RESOURCE_FUNCTION``), so the handler modules import it
as the top-level module ``cfn_custom_resource``. It uses only the standard library, boto3 and botocore.

Time: every request runs against a :class:`Deadline` taken from the Lambda context
(``get_remaining_time_in_millis`` minus a safety margin), narrowed to the resource type's budget.
``call_api`` never starts an attempt that could not finish before it, and a ConflictException wait is
a budget inside the same deadline, so no handler outlives its function (or the Provider framework).

API calls: throttling (HTTP 429, ``ThrottledClientException``, ``Throttling``, ...) is retried by
``call_api`` itself (``THROTTLE_ATTEMPTS`` tries in all, full-jitter exponential backoff), and
optionally ConflictException within a time budget. A failure is raised as ``ApiError``, whose message
names the call, the resource and the AWS error code.

Requests: ``dispatch`` validates the RequestType, logs the request (IDs only) and routes it to the
handler's delete, or parse-then-create/update functions.

Tokens and tags: ``client_request_token`` derives a deterministic ClientRequestToken from the
CloudFormation request; ``parse_tags`` / ``previous_tags`` validate a ``Tags`` property (the maximum count
is the caller's); ``sync_tags`` applies only the difference between two tag sets.

Tests: ``_sleep`` (the backoff sleep) and ``_clock`` are looked up when ``call_api`` runs, so
monkeypatching them makes every handler's backoff instant and its deadline controllable.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

logger = logging.getLogger(__name__)
logger.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO"))

T = TypeVar("T")
Client = TypeVar("Client")
Props = TypeVar("Props")
Response = dict[str, Any]

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
#: The longest one attempt can take: no attempt starts with less than this left before the deadline.
ATTEMPT_COST_S = CONNECT_TIMEOUT_S + READ_TIMEOUT_S
# total_max_attempts counts the first try (botocore's "max_attempts" would count retries only).
BOTO_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=CONNECT_TIMEOUT_S,
    read_timeout=READ_TIMEOUT_S,
)
THROTTLE_ATTEMPTS = 5
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
#: Error codes that mean "slow down" in chime-sdk-voice, chime-sdk-media-pipelines and elsewhere;
#: HTTP 429 counts as throttling whatever its code.
THROTTLING_CODES = frozenset(
    {"ThrottledClientException", "Throttling", "ThrottlingException", "TooManyRequestsException"}
)

# Indirection for tests: the backoff sleep and the clock deadlines are measured with.
_sleep: Callable[[float], None] = time.sleep
_clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class Deadline:
    """Clock value (``_clock``) by which every API attempt of one request must have finished."""

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


@functools.cache
def lazy_client(service_name: str) -> Callable[[], Any]:
    """A getter that creates the service's client on first use, then returns that same one.

    One client per service and Lambda container (the getter is cached per service, so the two
    chime-sdk-voice handlers share one), and importing a handler touches nothing; tests forget the
    client with ``getter.cache_clear()`` or replace the handler's getter.
    """

    @functools.cache
    def client() -> Any:
        return boto3.client(service_name, config=BOTO_CONFIG)

    return client


class ApiError(RuntimeError):
    """A Chime API call failed; the message names the call, the resource and the AWS error code."""

    def __init__(self, operation: str, resource: str, code: str, message: str) -> None:
        super().__init__(f"{operation} failed for {resource}: {code}: {message}")
        self.operation = operation
        self.code = code


def _backoff_s(attempt: int) -> float:
    # Full jitter: spreads retries of concurrent deployments; not security relevant.
    return random.uniform(0.0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** min(attempt, 10)))  # noqa: S311


def is_throttling(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 429 or exc.response.get("Error", {}).get("Code") in THROTTLING_CODES


def call_api(
    operation: str,
    resource: str,
    fn: Callable[..., T],
    /,
    *,
    deadline: Deadline,
    conflict_budget_s: float = 0.0,
    **kwargs: Any,
) -> T:
    """Call ``fn(**kwargs)``; retry throttling (and ConflictException within a time budget).

    No attempt starts unless it can finish (``ATTEMPT_COST_S``) before ``deadline``; the conflict
    budget is measured on the clock from the first attempt, inside the same deadline. Throttling
    has its own attempt count: a long wait for a conflict to clear (a configuration being
    detached) must not use up the retries a single throttled call is entitled to.
    """
    conflict_until = deadline.sooner(conflict_budget_s)
    attempt = 0
    throttled = 0
    while True:
        if deadline.remaining() < ATTEMPT_COST_S:
            tries = f" after {attempt} attempts" if attempt else ""
            raise ApiError(operation, resource, "DeadlineExceeded", f"no time left for an attempt{tries}")
        attempt += 1
        try:
            return fn(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "Unknown")
            throttle = is_throttling(exc)
            if throttle:
                throttled += 1
            delay_s = _backoff_s(throttled if throttle else attempt)
            retry = (throttle and throttled < THROTTLE_ATTEMPTS) or (
                # A conflict is waited out while the next attempt would start within its budget.
                code == "ConflictException" and conflict_until.remaining() - delay_s > 0
            )
            if retry and deadline.remaining() - delay_s < ATTEMPT_COST_S:
                retry = False  # the next attempt could not finish in time: report this error now
            if not retry:
                tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                raise ApiError(operation, resource, code, error.get("Message", "") + tries) from exc
            logger.warning(
                "api_retry",
                extra={"operation": operation, "error_code": code, "attempt": attempt, "delay_s": delay_s},
            )
            _sleep(delay_s)  # the module global at call time, so tests can patch it


def client_request_token(event: Mapping[str, Any]) -> str:
    """64 hex chars: the same CloudFormation request always gets the same token (fits [-_a-zA-Z0-9]{2,64})."""
    seed = f"{event['StackId']}|{event['LogicalResourceId']}|{event['RequestId']}"
    return hashlib.sha256(seed.encode()).hexdigest()[:64]


#: Properties CloudFormation itself defines on every custom resource; handlers ignore them. The
#: construct sets ServiceTimeout, and whether CloudFormation passes it on in ResourceProperties is
#: not documented, so a handler must accept it either way.
CLOUDFORMATION_PROPERTIES = frozenset({"ServiceToken", "ServiceTimeout"})


def reject_unknown(props: Mapping[str, Any], known: set[str]) -> None:
    """Raise ValueError naming any property that is neither ``known`` nor CloudFormation's own."""
    unknown = sorted(set(props) - known - CLOUDFORMATION_PROPERTIES)
    if unknown:
        raise ValueError(f"Unknown properties {unknown}: allowed are {sorted(known)}")


def parse_tags(value: Any, max_tags: int) -> dict[str, str]:
    """Validate the ``Tags`` property (list of {"Key", "Value"}) into an ordered key -> value dict."""
    if value is None or value == "":
        return {}
    if not isinstance(value, list) or len(value) > max_tags:
        raise ValueError(
            f"Invalid property Tags={value!r}: expected a list of at most {max_tags} {{Key, Value}}"
        )
    tags: dict[str, str] = {}
    for tag in value:
        key = tag.get("Key") if isinstance(tag, dict) else None
        val = tag.get("Value", "") if isinstance(tag, dict) else None
        if not isinstance(key, str) or not isinstance(val, str) or not 1 <= len(key) <= 128 or len(val) > 256:
            raise ValueError(
                f"Invalid property Tags item {tag!r}: expected Key (1-128 chars) and Value (0-256)"
            )
        if key in tags:
            raise ValueError(f"Invalid property Tags: duplicate Key {key!r}")
        tags[key] = val
    return tags


def previous_tags(value: Any, max_tags: int) -> dict[str, str]:
    """Tags of OldResourceProperties: lenient, because a rollback may carry the invalid values that failed."""
    try:
        return parse_tags(value, max_tags)
    except ValueError:
        return {}


def sync_tags(
    client: Any, arn: str, resource: str, old: dict[str, str], new: dict[str, str], *, deadline: Deadline
) -> None:
    """Apply only the difference between two tag sets; tags added outside CloudFormation are left alone."""
    removed = [key for key in old if key not in new]
    changed = [{"Key": key, "Value": val} for key, val in new.items() if old.get(key) != val]
    if removed:
        call_api(
            "UntagResource",
            resource,
            client.untag_resource,
            deadline=deadline,
            ResourceARN=arn,
            TagKeys=removed,
        )
    if changed:
        call_api(
            "TagResource", resource, client.tag_resource, deadline=deadline, ResourceARN=arn, Tags=changed
        )


def dispatch(
    event: Mapping[str, Any],
    client: Client,
    deadline: Deadline,
    *,
    parse: Callable[[Mapping[str, Any]], Props],
    create: Callable[[Mapping[str, Any], Props, Client, Deadline], Response],
    update: Callable[[Mapping[str, Any], Props, Client, Deadline], Response],
    delete: Callable[[Mapping[str, Any], Client, Deadline], Response],
) -> Response:
    """Route one CloudFormation custom-resource request to the handler's functions.

    Delete does not parse the properties: a rollback may carry the invalid values that failed.
    """
    request_type = event["RequestType"]
    if request_type not in ("Create", "Update", "Delete"):
        raise ValueError(f"Unsupported RequestType {request_type!r}: expected Create, Update or Delete")
    logger.info(
        "request",
        extra={
            "request_type": request_type,
            "logical_resource_id": event.get("LogicalResourceId"),
            "resource_type": event.get("ResourceType"),
            "physical_resource_id": event.get("PhysicalResourceId"),
            "time_left_s": round(deadline.remaining(), 1),
        },
    )
    if request_type == "Delete":
        return delete(event, client, deadline)
    props = parse(event["ResourceProperties"])
    if request_type == "Create":
        return create(event, props, client, deadline)
    return update(event, props, client, deadline)
