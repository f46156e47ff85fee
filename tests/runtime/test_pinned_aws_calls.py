"""aws_calls rules that no other test pinned (found by `make mutation`).

Each classification rule is tested alone (code without status, status without code), because the
service sometimes gives only one of them; backoff is tested at its bounds with a jitter source that
returns the top of its range.
"""

from __future__ import annotations

from typing import Any

import aws_calls
import pytest
from aws_calls import ErrorKind
from botocore.exceptions import ClientError


def client_error(response: dict[str, Any]) -> ClientError:
    return ClientError(response, "AnyOperation")  # type: ignore[arg-type]


def with_code(code: str, status: int | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": "m"}}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return client_error(response)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (with_code("ConflictException"), ErrorKind.CONFLICT),  # code alone
        (with_code("Unrecognised", 409), ErrorKind.CONFLICT),  # status alone
        (with_code("NotFoundException"), ErrorKind.NOT_FOUND),
        (with_code("Unrecognised", 404), ErrorKind.NOT_FOUND),
        (with_code("Unrecognised", 405), ErrorKind.PERMANENT),
        (with_code("Unrecognised", 410), ErrorKind.PERMANENT),
        (with_code("Unrecognised", 429), ErrorKind.THROTTLED),
        (with_code("Unrecognised", 500), ErrorKind.TRANSIENT),
        (with_code("Unrecognised", 499), ErrorKind.PERMANENT),
        (with_code("ResourceLimitExceededException"), ErrorKind.LIMIT_EXCEEDED),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_each_rule_classifies_by_code_or_by_status_alone(error: ClientError, kind: ErrorKind) -> None:
    assert aws_calls.classify(error)[1] is kind


def test_an_error_response_without_error_or_metadata_is_unknown_and_permanent() -> None:
    assert aws_calls.classify(client_error({})) == ("Unknown", ErrorKind.PERMANENT)
    assert aws_calls.classify(client_error({"Error": {}})) == ("Unknown", ErrorKind.PERMANENT)
    no_metadata = client_error({"Error": {"Code": "ThrottlingException"}})
    assert aws_calls.classify(no_metadata) == ("ThrottlingException", ErrorKind.THROTTLED)


class TopOfRange:
    """Jitter source that always returns the upper bound, so the backoff ceiling is visible."""

    def uniform(self, low: float, high: float) -> float:
        assert low == 0.0
        return high


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (17, 0.5 * 2**16), (40, 0.5 * 2**16)]
)
def test_backoff_ceiling_doubles_from_the_base_and_its_exponent_stops_at_16(
    monkeypatch: pytest.MonkeyPatch, attempt: int, ceiling: float
) -> None:
    monkeypatch.setattr(aws_calls, "_rng", TopOfRange())
    policy = aws_calls.RetryPolicy(max_attempts=50, backoff_base_s=0.5, backoff_cap_s=1e9, attempt_cost_s=1.0)
    assert policy.backoff_s(attempt) == ceiling


def test_backoff_ceiling_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws_calls, "_rng", TopOfRange())
    policy = aws_calls.RetryPolicy(max_attempts=50, backoff_base_s=0.5, backoff_cap_s=3.0, attempt_cost_s=1.0)
    assert [policy.backoff_s(a) for a in (1, 2, 3, 4, 9)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_aws_call_error_names_operation_code_and_reason() -> None:
    error = aws_calls.AwsCallError("PutEvents", "InternalFailure", ErrorKind.TRANSIENT, 3, "out of attempts")
    assert str(error) == "PutEvents: InternalFailure: out of attempts"
    assert (error.operation, error.code, error.kind, error.attempts, error.reason) == (
        "PutEvents",
        "InternalFailure",
        ErrorKind.TRANSIENT,
        3,
        "out of attempts",
    )


def test_failed_call_error_carries_the_operation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws_calls, "_clock", lambda: 0.0)

    def fail() -> None:
        raise with_code("BadRequestException", 400)

    with pytest.raises(aws_calls.AwsCallError) as raised:
        aws_calls.call(
            fail,
            deadline=aws_calls.Deadline(60.0),
            policy=aws_calls.RetryPolicy(max_attempts=3, backoff_base_s=1, backoff_cap_s=1, attempt_cost_s=1),
            operation="StartSpeakerSearchTask",
        )
    assert raised.value.operation == "StartSpeakerSearchTask"
    assert str(raised.value) == "StartSpeakerSearchTask: BadRequestException: not retryable"


def test_no_time_left_is_a_transient_error_of_the_operation(monkeypatch: pytest.MonkeyPatch) -> None:
    # Transient: the record must be retried later (redelivered), never treated as a permanent failure.
    monkeypatch.setattr(aws_calls, "_clock", lambda: 0.0)
    policy = aws_calls.RetryPolicy(max_attempts=3, backoff_base_s=1, backoff_cap_s=1, attempt_cost_s=5)
    with pytest.raises(aws_calls.AwsCallError) as raised:
        aws_calls.call(lambda: None, deadline=aws_calls.Deadline(4.0), policy=policy, operation="PutEvents")
    error = raised.value
    assert (error.operation, error.code, error.kind, error.attempts) == (
        "PutEvents",
        "DeadlineExceeded",
        ErrorKind.TRANSIENT,
        0,
    )
    assert error.reason == "not enough time left"


def test_out_of_attempts_and_out_of_budget_errors_carry_the_operation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(aws_calls, "_clock", lambda: 0.0)
    monkeypatch.setattr(aws_calls, "_sleep", lambda _: None)
    monkeypatch.setattr(aws_calls, "_rng", TopOfRange())

    def throttled() -> None:
        raise with_code("ThrottlingException", 400)

    policy = aws_calls.RetryPolicy(max_attempts=2, backoff_base_s=1, backoff_cap_s=1, attempt_cost_s=1)
    with pytest.raises(aws_calls.AwsCallError) as out_of_attempts:
        aws_calls.call(throttled, deadline=aws_calls.Deadline(60.0), policy=policy, operation="Op1")
    assert (out_of_attempts.value.operation, out_of_attempts.value.attempts) == ("Op1", 2)
    # 1.5 s left: the 1 s backoff would leave less than one attempt's cost.
    with pytest.raises(aws_calls.AwsCallError) as out_of_time:
        aws_calls.call(throttled, deadline=aws_calls.Deadline(1.5), policy=policy, operation="Op2")
    assert (out_of_time.value.operation, out_of_time.value.attempts) == ("Op2", 1)
    assert out_of_time.value.reason == "retry budget exhausted (deadline) after 1 attempts"


def test_a_retry_that_leaves_exactly_one_attempt_is_made_and_logged_with_its_delay(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(aws_calls, "_clock", lambda: 0.0)
    monkeypatch.setattr(aws_calls, "_sleep", lambda _: None)
    monkeypatch.setattr(aws_calls, "_rng", TopOfRange())
    caplog.set_level("DEBUG", logger="chime_speaker_search.aws_calls")

    def throttled() -> None:
        raise with_code("ThrottlingException", 400)

    policy = aws_calls.RetryPolicy(max_attempts=2, backoff_base_s=1, backoff_cap_s=1, attempt_cost_s=1)
    # 2 s left, a 1 s backoff: exactly one attempt's cost remains, so the retry is made.
    with pytest.raises(aws_calls.AwsCallError) as raised:
        aws_calls.call(throttled, deadline=aws_calls.Deadline(2.0), policy=policy, operation="Op")
    assert (raised.value.attempts, raised.value.kind) == (2, ErrorKind.THROTTLED)
    assert raised.value.reason == "still failing after 2 attempts"
    [retry] = [r for r in caplog.records if r.getMessage() == "aws_call_retrying"]
    assert (retry.operation, retry.attempts, retry.delay) == ("Op", 1, 1.0)
