"""What the CloudFormation custom-resource handlers share: Chime API calls with retries, tokens, tags.

The construct deploys this file beside the ``index.py`` of each custom-resource handler
(voice_profile_domain, media_insights_configuration, streaming_association) in that handler's Lambda
asset (see ``ProviderKind.common_modules``), so a handler imports it as the top-level module
``cfn_custom_resource``. It uses only the standard library, boto3 and botocore.

API calls: botocore's standard retry mode (``BOTO_CONFIG``) retries 500/503 and connection errors, but NOT
ThrottledClientException (HTTP 429), so ``call_api`` retries that itself (``THROTTLE_ATTEMPTS`` tries in
all, full-jitter exponential backoff), and optionally ConflictException within a time budget. A failure is
raised as ``ApiError``, whose message names the call, the resource and the AWS error code.

Requests: ``dispatch`` validates the RequestType, logs the request (IDs only) and routes it to the
handler's delete, or parse-then-create/update functions.

Tokens and tags: ``client_request_token`` derives a deterministic ClientRequestToken from the
CloudFormation request; ``parse_tags`` / ``previous_tags`` validate a ``Tags`` property (the maximum count
is the caller's); ``sync_tags`` applies only the difference between two tag sets.

Tests: ``_sleep`` (the backoff sleep) is looked up when ``call_api`` runs, so monkeypatching
``cfn_custom_resource._sleep`` makes every handler's backoff instant.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
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

# total_max_attempts counts the first try (botocore's "max_attempts" would count retries only).
BOTO_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=30
)
THROTTLE_ATTEMPTS = 5
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0

_sleep: Callable[[float], None] = time.sleep


def lazy_client(service_name: str) -> Callable[[], Any]:
    """A getter that creates the service's client on first use, then returns that same one.

    One client per Lambda container, and importing a handler touches nothing; tests forget the
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


def call_api(
    operation: str,
    resource: str,
    fn: Callable[..., T],
    /,
    *,
    conflict_budget_s: float = 0.0,
    **kwargs: Any,
) -> T:
    """Call ``fn(**kwargs)``; retry throttling (and ConflictException within a time budget).

    The two budgets are separate: a long wait for a conflict to clear (a configuration being
    detached) must not use up the retries a single throttled call is entitled to.
    """
    attempt = 0
    throttled = 0
    waited_s = 0.0
    while True:
        attempt += 1
        try:
            return fn(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "Unknown")
            if code == "ThrottledClientException":
                throttled += 1
            retry = (code == "ThrottledClientException" and throttled < THROTTLE_ATTEMPTS) or (
                code == "ConflictException" and waited_s < conflict_budget_s
            )
            if not retry:
                tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                raise ApiError(operation, resource, code, error.get("Message", "") + tries) from exc
            # Backoff grows with this kind of failure only, so a throttle after many conflicts
            # does not start at the cap.
            delay_s = _backoff_s(throttled if code == "ThrottledClientException" else attempt)
            logger.warning(
                "api_retry",
                extra={"operation": operation, "error_code": code, "attempt": attempt, "delay_s": delay_s},
            )
            _sleep(delay_s)  # the module global at call time, so tests can patch it
            waited_s += delay_s


def client_request_token(event: Mapping[str, Any]) -> str:
    """64 hex chars: the same CloudFormation request always gets the same token (fits [-_a-zA-Z0-9]{2,64})."""
    seed = f"{event['StackId']}|{event['LogicalResourceId']}|{event['RequestId']}"
    return hashlib.sha256(seed.encode()).hexdigest()[:64]


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


def sync_tags(client: Any, arn: str, resource: str, old: dict[str, str], new: dict[str, str]) -> None:
    """Apply only the difference between two tag sets; tags added outside CloudFormation are left alone."""
    removed = [key for key in old if key not in new]
    changed = [{"Key": key, "Value": val} for key, val in new.items() if old.get(key) != val]
    if removed:
        call_api("UntagResource", resource, client.untag_resource, ResourceARN=arn, TagKeys=removed)
    if changed:
        call_api("TagResource", resource, client.tag_resource, ResourceARN=arn, Tags=changed)


def dispatch(
    event: Mapping[str, Any],
    client: Client,
    *,
    parse: Callable[[Mapping[str, Any]], Props],
    create: Callable[[Mapping[str, Any], Props, Client], Response],
    update: Callable[[Mapping[str, Any], Props, Client], Response],
    delete: Callable[[Mapping[str, Any], Client], Response],
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
            "physical_resource_id": event.get("PhysicalResourceId"),
        },
    )
    if request_type == "Delete":
        return delete(event, client)
    props = parse(event["ResourceProperties"])
    if request_type == "Create":
        return create(event, props, client)
    return update(event, props, client)
