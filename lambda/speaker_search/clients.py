"""The handler's AWS clients and how their calls are retried.

Module constants, read when a client or policy is made, so tests (and only tests) can shrink them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aws_calls

if TYPE_CHECKING:
    from mypy_boto3_chime_sdk_voice import ChimeSDKVoiceClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_sqs import SQSClient

MAX_ATTEMPTS = 8
BACKOFF_BASE_S = 0.2
BACKOFF_CAP_S = 5.0
CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0
SAFETY_MARGIN_S = 3.0  # kept free before the Lambda deadline, on top of one attempt's timeouts
NO_CONTEXT_BUDGET_S = 20.0  # total budget when invoked without a Lambda context


def retry_policy(
    retry_on: frozenset[aws_calls.ErrorKind] = frozenset(
        {aws_calls.ErrorKind.THROTTLED, aws_calls.ErrorKind.TRANSIENT}
    ),
) -> aws_calls.RetryPolicy:
    """Throttling, 5xx and network errors are retried; an attempt costs connect + read timeout."""
    return aws_calls.RetryPolicy(
        max_attempts=MAX_ATTEMPTS,
        backoff_base_s=BACKOFF_BASE_S,
        backoff_cap_s=BACKOFF_CAP_S,
        attempt_cost_s=CONNECT_TIMEOUT_S + READ_TIMEOUT_S,
        retry_on=retry_on,
    )


def deadline(context: Any) -> aws_calls.Deadline:
    """One deadline per invocation, shared by the whole batch: the Lambda deadline minus a margin."""
    return aws_calls.Deadline.from_context(
        context, safety_margin_s=SAFETY_MARGIN_S, no_context_budget_s=NO_CONTEXT_BUDGET_S
    )


def _config() -> Any:
    return aws_calls.client_config(connect_timeout_s=CONNECT_TIMEOUT_S, read_timeout_s=READ_TIMEOUT_S)


_chime = aws_calls.lazy_client("chime-sdk-voice", _config)
_events = aws_calls.lazy_client("events", _config)
_dynamodb = aws_calls.lazy_client("dynamodb", _config)
_sqs = aws_calls.lazy_client("sqs", _config)


def chime() -> ChimeSDKVoiceClient:
    client: ChimeSDKVoiceClient = _chime()
    return client


def events() -> EventBridgeClient:
    client: EventBridgeClient = _events()
    return client


def dynamodb() -> DynamoDBClient:
    client: DynamoDBClient = _dynamodb()
    return client


def sqs() -> SQSClient:
    client: SQSClient = _sqs()
    return client


def reset() -> None:
    """Forget the clients (tests change endpoints and timeouts between cases)."""
    _chime.cache_clear()
    _events.cache_clear()
    _dynamodb.cache_clear()
    _sqs.cache_clear()
