"""What the CloudFormation custom-resource handlers share: Chime API calls with retries, tokens, tags.

The construct deploys this file beside ``index.py`` in the one custom-resource function's asset
(lambda/custom_resources/; see ``_shared.CUSTOM_RESOURCE_FUNCTION``), so the handler modules import it
as the top-level module ``cfn_custom_resource``. It uses only the standard library, boto3 and botocore.

Time: every request runs against an ``aws_calls.Deadline`` taken from the Lambda context
(``get_remaining_time_in_millis`` minus a safety margin), narrowed to the resource type's budget.
No attempt starts that could not finish before it, and a ConflictException wait is a budget inside
the same deadline, so no handler outlives its function (or the Provider framework).

API calls: ``call_api`` runs each call through ``aws_calls.call`` (lambda/_common/aws_calls.py, also
shipped beside index.py), the one retry loop and error classification of every handler in the
library: throttling (HTTP 429, ``ThrottledClientException``, ``Throttling``, ``ThrottlingException``,
``TooManyRequestsException``), 5xx and network errors are retried with full-jitter backoff, and
optionally ConflictException within a time budget. A failure is raised as ``ApiError``, whose message
names the call, the resource and the AWS error code.

Requests: ``dispatch`` validates the RequestType, logs the request (IDs only) and routes it to the
handler's delete, or parse-then-create/update functions.

Tokens and tags: ``client_request_token`` derives a deterministic ClientRequestToken from the
CloudFormation request; ``parse_tags`` / ``previous_tags`` validate a ``Tags`` property (the maximum count
is the caller's); ``sync_tags`` applies only the difference between two tag sets.

Tests: ``aws_calls._sleep``, ``_rng`` and ``_clock`` are looked up at call time, so monkeypatching
them makes every handler's backoff instant, its jitter reproducible and its deadline controllable.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import aws_calls
from aws_calls import AwsCallError, Deadline, ErrorKind
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
#: Attempts of a call that is not waiting out a conflict (throttling, 5xx and network errors).
THROTTLE_ATTEMPTS = 5
#: A call that waits out ConflictException is bounded by its time budget, not by a count.
CONFLICT_ATTEMPTS = 10_000
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
RETRIED = frozenset({ErrorKind.THROTTLED, ErrorKind.TRANSIENT})


def client_config() -> Config:
    """botocore never retries (``total_max_attempts=1``): ``call_api`` does, through aws_calls."""
    return aws_calls.client_config(connect_timeout_s=CONNECT_TIMEOUT_S, read_timeout_s=READ_TIMEOUT_S)


@functools.cache
def lazy_client(service_name: str) -> Callable[[], Any]:
    """A getter that creates the service's client on first use, then returns that same one.

    One client per service and Lambda container (the getter is cached per service, so the two
    chime-sdk-voice handlers share one), and importing a handler touches nothing; tests forget the
    client with ``getter.cache_clear()`` or replace the handler's getter.
    """
    return aws_calls.lazy_client(service_name, client_config)


class ApiError(RuntimeError):
    """A Chime API call failed; the message names the call, the resource and the AWS error code."""

    def __init__(self, operation: str, resource: str, code: str, message: str) -> None:
        super().__init__(f"{operation} failed for {resource}: {code}: {message}")
        self.operation = operation
        self.code = code


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
    """Call ``fn(**kwargs)`` through ``aws_calls.call``: the one retry loop and error classification.

    Throttling (HTTP 429 or any throttling code), 5xx and network errors are retried, at most
    ``THROTTLE_ATTEMPTS`` times; with ``conflict_budget_s``, ConflictException too, for as long as
    an attempt can still start within that budget (the call's own deadline is the budget plus one
    attempt, inside ``deadline``). No attempt starts that could not finish before the deadline.
    """
    policy = aws_calls.RetryPolicy(
        max_attempts=CONFLICT_ATTEMPTS if conflict_budget_s > 0 else THROTTLE_ATTEMPTS,
        backoff_base_s=BACKOFF_BASE_S,
        backoff_cap_s=BACKOFF_CAP_S,
        attempt_cost_s=ATTEMPT_COST_S,
        retry_on=RETRIED | {ErrorKind.CONFLICT} if conflict_budget_s > 0 else RETRIED,
    )
    if conflict_budget_s > 0:
        deadline = deadline.sooner(conflict_budget_s + ATTEMPT_COST_S)
    try:
        result, attempts = aws_calls.call(
            lambda: fn(**kwargs), deadline=deadline, policy=policy, operation=operation
        )
    except AwsCallError as exc:
        cause = exc.__cause__
        message = cause.response.get("Error", {}).get("Message", "") if isinstance(cause, ClientError) else ""
        if exc.code == "DeadlineExceeded":
            message = exc.reason
        if exc.attempts > 1:
            message += f" (after {exc.attempts} attempts)"
        raise ApiError(operation, resource, exc.code, message) from cause or exc
    if attempts > 1:
        logger.info("api_retried", extra={"operation": operation, "attempts": attempts})
    return result


#: Key of every on_event answer, which the Provider framework passes on to its isComplete call (the
#: same function): ``{}`` when the request is complete, else what is still awaited (see index.py).
COMPLETION_KEY = "ChimeSpeakerSearchCompletion"


def client_request_token(event: Mapping[str, Any]) -> str:
    """64 hex chars: the same CloudFormation request always gets the same token (fits [-_a-zA-Z0-9]{2,64})."""
    seed = f"{event['StackId']}|{event['LogicalResourceId']}|{event['RequestId']}"
    return hashlib.sha256(seed.encode()).hexdigest()


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
