"""The shared AWS-call module: one error classification and one retry loop for every handler."""

from __future__ import annotations

import random
from typing import Any

import aws_calls
import botocore.exceptions
import pytest
from aws_calls import ErrorKind


def client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    response: Any = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return botocore.exceptions.ClientError(response, "Op")


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("ThrottledClientException", 429, ErrorKind.THROTTLED),
        ("Throttling", 400, ErrorKind.THROTTLED),  # media-pipelines spelling, not always a 429
        ("ThrottlingException", 400, ErrorKind.THROTTLED),
        ("TooManyRequestsException", 400, ErrorKind.THROTTLED),
        ("SomethingNew", 429, ErrorKind.THROTTLED),  # the status alone is enough
        ("RequestThrottled", 403, ErrorKind.THROTTLED),  # SQS, whatever the status
        ("KmsThrottled", 400, ErrorKind.THROTTLED),  # SQS on an encrypted queue
        ("ServiceFailureException", 500, ErrorKind.TRANSIENT),
        ("ServiceUnavailableException", 503, ErrorKind.TRANSIENT),
        ("Unknown", 502, ErrorKind.TRANSIENT),
        ("ConflictException", 409, ErrorKind.CONFLICT),
        ("ResourceLimitExceededException", 400, ErrorKind.LIMIT_EXCEEDED),
        ("NotFoundException", 404, ErrorKind.NOT_FOUND),
        ("BadRequestException", 400, ErrorKind.PERMANENT),
        ("GoneException", 410, ErrorKind.PERMANENT),
        ("UnprocessableEntityException", 422, ErrorKind.PERMANENT),
        ("ForbiddenException", 403, ErrorKind.PERMANENT),
        ("AccessDeniedException", 403, ErrorKind.PERMANENT),
    ],
)
def test_client_errors_are_classified_by_code_and_status(code: str, status: int, kind: ErrorKind) -> None:
    assert aws_calls.classify(client_error(code, status)) == (code, kind)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("InternalFailure", ErrorKind.TRANSIENT),
        ("ThrottlingException", ErrorKind.THROTTLED),
        ("AccessDeniedException", ErrorKind.PERMANENT),
        ("MalformedDetail", ErrorKind.PERMANENT),
        ("NotAuthorizedForSourceException", ErrorKind.PERMANENT),
    ],
)
def test_failed_put_events_entries_are_retryable_only_when_transient(code: str, kind: ErrorKind) -> None:
    assert aws_calls.classify(aws_calls.FailedEntryError(code)) == (code, kind)


def test_network_errors_are_transient_and_other_exceptions_permanent() -> None:
    timeout = botocore.exceptions.ReadTimeoutError(endpoint_url="http://127.0.0.1")
    assert aws_calls.classify(timeout) == ("ReadTimeoutError", ErrorKind.TRANSIENT)
    assert aws_calls.classify(KeyError("x")) == ("KeyError", ErrorKind.PERMANENT)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(aws_calls, "_clock", clock)
    monkeypatch.setattr(aws_calls, "_sleep", clock.sleep)
    monkeypatch.setattr(aws_calls, "_rng", random.Random(7))
    return clock


POLICY = aws_calls.RetryPolicy(max_attempts=4, backoff_base_s=1.0, backoff_cap_s=2.0, attempt_cost_s=1.0)


def failing(*errors: Exception) -> Any:
    remaining = list(errors)

    def call() -> str:
        if remaining:
            raise remaining.pop(0)
        return "ok"

    return call


def test_call_retries_throttling_then_returns_result_and_attempts(clock: Clock) -> None:
    fn = failing(client_error("Throttling", 400), client_error("ServiceFailureException", 500))
    assert aws_calls.call(fn, deadline=aws_calls.Deadline.after(60), policy=POLICY, operation="Op") == (
        "ok",
        3,
    )


def test_call_does_not_retry_kinds_outside_the_policy(clock: Clock) -> None:
    fn = failing(client_error("ConflictException", 409))
    with pytest.raises(aws_calls.AwsCallError) as raised:
        aws_calls.call(fn, deadline=aws_calls.Deadline.after(60), policy=POLICY, operation="Op")
    assert (raised.value.code, raised.value.kind, raised.value.attempts) == (
        "ConflictException",
        ErrorKind.CONFLICT,
        1,
    )
    conflict_policy = aws_calls.RetryPolicy(
        max_attempts=4,
        backoff_base_s=1.0,
        backoff_cap_s=2.0,
        attempt_cost_s=1.0,
        retry_on=frozenset(ErrorKind),
    )
    fn = failing(client_error("ConflictException", 409))
    assert (
        aws_calls.call(fn, deadline=aws_calls.Deadline.after(60), policy=conflict_policy, operation="Op")[1]
        == 2
    )


def test_call_gives_up_after_max_attempts(clock: Clock) -> None:
    fn = failing(*[client_error("ThrottledClientException", 429)] * 10)
    with pytest.raises(aws_calls.AwsCallError) as raised:
        aws_calls.call(fn, deadline=aws_calls.Deadline.after(600), policy=POLICY, operation="Op")
    assert raised.value.attempts == POLICY.max_attempts
    assert raised.value.kind is ErrorKind.THROTTLED


def test_call_never_starts_an_attempt_that_cannot_finish_before_the_deadline(clock: Clock) -> None:
    deadline = aws_calls.Deadline.after(0.5)  # less than one attempt's cost
    with pytest.raises(aws_calls.AwsCallError) as raised:
        aws_calls.call(failing(), deadline=deadline, policy=POLICY, operation="Op")
    assert (raised.value.code, raised.value.attempts) == ("DeadlineExceeded", 0)


def test_deadline_from_context_subtracts_the_safety_margin(clock: Clock) -> None:
    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 10_000

    deadline = aws_calls.Deadline.from_context(Context(), safety_margin_s=3.0, no_context_budget_s=99.0)
    assert deadline.remaining() == pytest.approx(7.0)
    assert (
        aws_calls.Deadline.from_context(None, safety_margin_s=3.0, no_context_budget_s=20.0).remaining()
        == 20.0
    )
    assert deadline.sooner(2.0).remaining() == pytest.approx(2.0)
    assert deadline.sooner(50.0).remaining() == pytest.approx(7.0)
