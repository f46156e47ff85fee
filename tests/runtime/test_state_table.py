"""The state table's records (``state.py``) as other deliveries and operators see them.

A redelivery, a second poller or an operator reads what one delivery wrote, so the item each
function leaves behind (attribute names, status, TTL) is behaviour, as is what a refused
conditional write returns. The table is moto's; a botocore Stubber stands in where DynamoDB must
answer something moto cannot be made to (throttling, an item vanishing between two calls).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import ModuleType

import aws_calls
import clients
import consent_state
import enrollment_state
import pytest
import state
from botocore import stub
from botocore.stub import Stubber

from tests.runtime.conftest import StateAws
from tests.runtime.helpers import logged, state_item

NOW = 1_900_000_000.0
TASK = "ssk-task-1"


@pytest.fixture
def table(handler: ModuleType, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(state, "_now", lambda: NOW)
    # A still deadline clock: a claim's endsBy is exactly now + the deadline's 30 s.
    monkeypatch.setattr(aws_calls, "_clock", lambda: 0.0)
    return state_aws.table_name


@pytest.fixture
def stubbed_dynamodb(handler: ModuleType) -> Iterator[Stubber]:
    with Stubber(clients.dynamodb()) as stub:
        yield stub
        stub.assert_no_pending_responses()


def deadline() -> aws_calls.Deadline:
    return aws_calls.Deadline.after(30)


# -- enrollment claims -----------------------------------------------------------------------------


def test_a_retaken_claim_records_the_new_request_and_attempt(
    table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    enrollment_state.begin_enroll(table, TASK, "req-0", deadline())
    monkeypatch.setattr(state, "_now", lambda: NOW + 600)
    assert enrollment_state.retake_enroll(table, TASK, "req-1", NOW, deadline()) is True
    assert state_item(table, f"enroll#{TASK}") == {
        "pk": {"S": f"enroll#{TASK}"},
        "s": {"S": "creating"},
        "requestId": {"S": "req-1"},
        "attemptedAt": {"N": str(int(NOW + 600))},
        "endsBy": {"N": str(int(NOW + 630))},
        "expiresAt": {"N": str(int(NOW + 25 * 3600))},
    }


def test_a_claim_someone_else_retook_is_not_retaken(table: str) -> None:
    enrollment_state.begin_enroll(table, TASK, "req-0", deadline())
    assert (
        enrollment_state.retake_enroll(table, TASK, "req-1", NOW - 600, deadline()) is False
    )  # attempt changed
    assert state_item(table, f"enroll#{TASK}")["requestId"] == {"S": "req-0"}  # type: ignore[index]


def test_releasing_a_claim_another_request_holds_keeps_it(table: str) -> None:
    enrollment_state.begin_enroll(table, TASK, "req-0", deadline())
    enrollment_state.release_enroll(table, TASK, "req-1", deadline())  # no error: the claim is theirs now
    assert state_item(table, f"enroll#{TASK}")["requestId"] == {"S": "req-0"}  # type: ignore[index]
    enrollment_state.release_enroll(table, TASK, "req-0", deadline())
    assert state_item(table, f"enroll#{TASK}") == {
        "pk": {"S": f"enroll#{TASK}"},
        "s": {"S": "released"},
        "expiresAt": {"N": str(int(NOW + 25 * 3600))},
    }
    assert enrollment_state.begin_enroll(table, TASK, "req-0", deadline()) == (
        None,
        True,
    )  # throttled: try again


def test_a_released_verdict_is_kept_for_its_request_and_frees_the_task_for_others(table: str) -> None:
    enrollment_state.begin_enroll(table, TASK, "req-0", deadline())
    enrollment_state.release_enroll(table, TASK, "req-0", deadline(), verdict="GoneException")
    assert state_item(table, f"enroll#{TASK}") == {
        "pk": {"S": f"enroll#{TASK}"},
        "s": {"S": "released"},
        "failed:req-0": {"S": "GoneException"},
        "expiresAt": {"N": str(int(NOW + 25 * 3600))},
    }
    prior, claimed = enrollment_state.begin_enroll(table, TASK, "req-0", deadline())
    assert claimed is False
    assert prior == enrollment_state.EnrollRecord(
        status="released",
        attempted_at=0.0,
        ends_by=0.0,
        profile={"voiceProfileId": None, "voiceProfileArn": None, "expirationTimestamp": None},
        failure="GoneException",
    )
    assert enrollment_state.begin_enroll(table, TASK, "req-1", deadline()) == (None, True)
    # A redelivery of the failed request still reads its verdict while another request holds the claim.
    prior, claimed = enrollment_state.begin_enroll(table, TASK, "req-0", deadline())
    assert claimed is False
    assert prior is not None
    assert (prior.status, prior.failure, prior.ends_by) == ("creating", "GoneException", NOW + 30)


def test_a_kept_verdict_leaves_the_claim_creating(table: str) -> None:
    enrollment_state.begin_enroll(table, TASK, "req-0", deadline())
    enrollment_state.keep_verdict(table, TASK, "req-0", "cannot check: ForbiddenException", deadline())
    assert state_item(table, f"enroll#{TASK}") == {
        "pk": {"S": f"enroll#{TASK}"},
        "s": {"S": "creating"},
        "requestId": {"S": "req-0"},
        "attemptedAt": {"N": str(int(NOW))},
        "endsBy": {"N": str(int(NOW + 30))},
        "failed:req-0": {"S": "cannot check: ForbiddenException"},
        "expiresAt": {"N": str(int(NOW + 25 * 3600))},
    }
    prior, claimed = enrollment_state.begin_enroll(table, TASK, "req-0", deadline())
    assert (claimed, prior and prior.status, prior and prior.failure) == (
        False,
        "creating",
        "cannot check: ForbiddenException",
    )


def test_a_throttled_release_is_retried_and_logged_as_an_update(
    stubbed_dynamodb: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    stubbed_dynamodb.add_client_error(
        "update_item", service_error_code="ThrottlingException", http_status_code=400
    )
    stubbed_dynamodb.add_response("update_item", {})
    with caplog.at_level(logging.DEBUG):
        enrollment_state.release_enroll("t", TASK, "req-0", deadline())
    [retry] = logged(caplog, "aws_call_retrying", errorCode="ThrottlingException")
    assert retry.operation == "UpdateItem"


def test_an_enrolled_task_records_its_profile_and_claims_the_profile_for_it(table: str) -> None:
    enrollment_state.begin_enroll(table, TASK, "req-0", deadline())
    profile = {"voiceProfileId": "vp-1", "voiceProfileArn": "arn:vp-1", "expirationTimestamp": None}
    enrollment_state.finish_enroll(table, TASK, profile, deadline())
    assert state_item(table, f"enroll#{TASK}") == {
        "pk": {"S": f"enroll#{TASK}"},
        "s": {"S": "enrolled"},
        "requestId": {"S": "req-0"},
        "attemptedAt": {"N": str(int(NOW))},
        "endsBy": {"N": str(int(NOW + 30))},
        "expiresAt": {"N": str(int(NOW + 25 * 3600))},
        "voiceProfileId": {"S": "vp-1"},
        "voiceProfileArn": {"S": "arn:vp-1"},
    }
    assert state_item(table, "profile#vp-1") == {
        "pk": {"S": "profile#vp-1"},
        "taskId": {"S": TASK},
        "expiresAt": {"N": str(int(NOW + 25 * 3600))},
    }
    assert enrollment_state.profile_claimed(table, "vp-1", deadline())


def test_a_profile_belongs_to_the_first_task_that_claims_it(table: str) -> None:
    assert enrollment_state.claim_profile(table, "vp-1", "task-a", deadline()) is True
    assert enrollment_state.claim_profile(table, "vp-1", "task-b", deadline()) is False
    assert enrollment_state.claim_profile(table, "vp-1", "task-a", deadline()) is True  # a retry of the owner
    assert state_item(table, "profile#vp-1")["taskId"] == {"S": "task-a"}  # type: ignore[index]


def test_an_enrollment_written_after_its_claim_expired_still_reads_as_enrolled(table: str) -> None:
    # finish_enroll writes without a condition: if TTL removed the claim meanwhile, the item it
    # leaves has a status and the profile but no attempt time, and later requests must read it.
    profile = {
        "voiceProfileId": "vp-1",
        "voiceProfileArn": "arn:vp-1",
        "expirationTimestamp": "2032-11-25T10:00:00Z",
    }
    enrollment_state.finish_enroll(table, TASK, profile, deadline())
    prior, claimed = enrollment_state.begin_enroll(table, TASK, "req-1", deadline())
    assert claimed is False
    assert prior == enrollment_state.EnrollRecord(
        status="enrolled", attempted_at=0.0, ends_by=0.0, profile=profile
    )


def test_abandoning_a_claim_settles_it_as_ambiguous_unless_it_was_enrolled_meanwhile(table: str) -> None:
    enrollment_state.begin_enroll(table, TASK, "req-0", deadline())
    enrollment_state.abandon_enroll(table, TASK, deadline())
    assert state_item(table, f"enroll#{TASK}")["s"] == {"S": "ambiguous"}  # type: ignore[index]
    enrollment_state.begin_enroll(table, "ssk-task-2", "req-2", deadline())
    enrollment_state.finish_enroll(table, "ssk-task-2", {"voiceProfileId": "vp-2"}, deadline())
    enrollment_state.abandon_enroll(table, "ssk-task-2", deadline())  # no error: the enrollment stands
    assert state_item(table, "enroll#ssk-task-2")["s"] == {"S": "enrolled"}  # type: ignore[index]


def test_a_claim_that_vanishes_between_the_write_and_the_read_reads_as_nothing(
    stubbed_dynamodb: Stubber,
) -> None:
    stubbed_dynamodb.add_client_error(
        "update_item", service_error_code="ConditionalCheckFailedException", http_status_code=400
    )
    stubbed_dynamodb.add_response("get_item", {})
    assert enrollment_state.begin_enroll("t", TASK, "req-1", deadline()) == (None, False)


# -- creates in flight per voice profile domain ----------------------------------------------------


def test_a_create_in_flight_is_recorded_with_its_window_and_read_back_until_cleared(table: str) -> None:
    # A task ID is any string the request carried, "|" included: the times are split off the end.
    task = "ssk|odd|task"
    assert enrollment_state.create_attempts(table, "vpd-1", deadline()) == []
    entry = enrollment_state.note_create_attempt(table, "vpd-1", task, deadline())
    assert entry == f"{task}|{NOW:.3f}|{NOW + 30:.3f}"
    assert state_item(table, "creates#vpd-1") == {
        "pk": {"S": "creates#vpd-1"},
        "attempts": {"SS": [entry]},
        "expiresAt": {"N": str(int(NOW + 25 * 3600))},
    }
    assert enrollment_state.create_attempts(table, "vpd-1", deadline()) == [
        enrollment_state.CreateAttempt(entry=entry, task_id=task, started_at=NOW, ends_by=NOW + 30)
    ]
    enrollment_state.clear_create_attempts(table, "vpd-1", [entry], deadline())
    assert enrollment_state.create_attempts(table, "vpd-1", deadline()) == []
    assert state_item(table, "creates#vpd-1") == {
        "pk": {"S": "creates#vpd-1"},
        "expiresAt": {"N": str(int(NOW + 25 * 3600))},
    }


# -- task starts -----------------------------------------------------------------------------------


def test_the_first_write_of_a_task_id_reports_it_as_new(table: str) -> None:
    state.begin_start(table, "tok-1", deadline())
    assert state.mark_started(table, "tok-1", None, deadline()) is False  # no task ID to make known
    assert state.mark_started(table, "tok-1", "task-1", deadline()) is True
    assert state_item(table, "start#tok-1") == {
        "pk": {"S": "start#tok-1"},
        "s": {"S": "started"},
        "attemptedAt": {"N": str(int(NOW))},
        "attemptId": {"S": ""},
        "taskId": {"S": "task-1"},
        "expiresAt": {"N": str(int(NOW + 24 * 3600))},
    }
    assert state.get_start(table, "tok-1", deadline()) == state.StartRecord(
        status="started", task_id="task-1", attempt_id=""
    )


def test_an_attempt_is_released_only_while_it_is_the_last_and_unstarted(table: str) -> None:
    state.begin_start(table, "tok-1", deadline(), attempt_id="a1")
    assert state.get_start(table, "tok-1", deadline()).outstanding is True  # type: ignore[union-attr]
    state.begin_start(table, "tok-1", deadline(), attempt_id="a2")  # a concurrent delivery's attempt
    assert state.release_start(table, "tok-1", "a1", deadline()) is False  # a2 may still start it
    assert state.release_start(table, "tok-1", "a2", deadline()) is True
    record = state.get_start(table, "tok-1", deadline())
    assert record is not None and (record.released_id, record.outstanding) == ("a2", False)
    # a later attempt is outstanding again until it is released
    state.begin_start(table, "tok-1", deadline(), attempt_id="a3")
    assert state.get_start(table, "tok-1", deadline()).outstanding is True  # type: ignore[union-attr]
    # a started task is never released
    state.mark_started(table, "tok-1", "task-1", deadline())
    assert state.release_start(table, "tok-1", "a3", deadline()) is False
    assert state.get_start(table, "tok-1", deadline()).outstanding is True  # type: ignore[union-attr]


def test_an_attempt_of_the_previous_version_is_outstanding() -> None:
    """Items written before attempt IDs existed: an attempt whose outcome is unknown."""
    assert state.StartRecord(state.ATTEMPTED, None).outstanding is True


def test_a_task_id_recorded_before_is_not_reported_as_new(table: str) -> None:
    # A start's answer recorded the task ID; the status notification naming the task comes next.
    state.begin_start(table, "tok-1", deadline())
    assert state.mark_started(table, "tok-1", "task-1", deadline()) is True
    assert state.mark_started(table, "tok-1", "task-1", deadline()) is False
    assert state_item(table, "start#tok-1")["taskId"] == {"S": "task-1"}  # type: ignore[index]


def test_a_task_first_named_by_its_status_gets_a_days_ttl(table: str) -> None:
    # No start record (say its answer was lost before begin_start's write landed): the status's
    # write creates the item, and it must expire like any call item.
    assert state.mark_started(table, "tok-2", "task-2", deadline()) is True
    assert state_item(table, "start#tok-2") == {
        "pk": {"S": "start#tok-2"},
        "s": {"S": "started"},
        "taskId": {"S": "task-2"},
        "expiresAt": {"N": str(int(NOW + 24 * 3600))},
    }


def test_a_task_id_is_checked_against_the_whole_old_item(stubbed_dynamodb: Stubber) -> None:
    """ALL_OLD: the answer does not depend on whether DynamoDB counts an unchanged value as updated."""
    stubbed_dynamodb.add_response(
        "update_item",
        {"Attributes": {"pk": {"S": "start#tok-1"}, "s": {"S": "started"}, "taskId": {"S": "task-1"}}},
        {
            "TableName": "t",
            "Key": {"pk": {"S": "start#tok-1"}},
            "UpdateExpression": (
                "SET #s = :started, expiresAt = if_not_exists(expiresAt, :exp), taskId = :task"
            ),
            "ExpressionAttributeValues": {
                ":started": {"S": "started"},
                ":exp": stub.ANY,
                ":task": {"S": "task-1"},
            },
            "ExpressionAttributeNames": {"#s": "s"},
            "ReturnValues": "ALL_OLD",
        },
    )
    assert state.mark_started("t", "tok-1", "task-1", deadline()) is False


def test_without_a_table_a_start_is_never_reported_as_new() -> None:
    assert state.mark_started(None, "tok-1", "task-1", deadline()) is False


def test_reads_are_consistent_and_a_throttled_read_is_retried_and_logged_as_a_get(
    stubbed_dynamodb: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    # Consistent: a redelivery must see the write another delivery made a moment ago.
    expected = {"TableName": "t", "Key": {"pk": {"S": f"enroll#{TASK}"}}, "ConsistentRead": True}
    stubbed_dynamodb.add_client_error(
        "update_item", service_error_code="ConditionalCheckFailedException", http_status_code=400
    )
    stubbed_dynamodb.add_client_error(
        "get_item", service_error_code="ThrottlingException", http_status_code=400, expected_params=expected
    )
    stubbed_dynamodb.add_response("get_item", {"Item": {"s": {"S": "enrolled"}}}, expected)
    with caplog.at_level(logging.DEBUG):
        prior, claimed = enrollment_state.begin_enroll("t", TASK, "req-1", deadline())
    assert (prior.status if prior else None, claimed) == ("enrolled", False)
    [retry] = logged(caplog, "aws_call_retrying", errorCode="ThrottlingException")
    assert retry.operation == "GetItem"


# -- errors ----------------------------------------------------------------------------------------


def test_an_unreachable_table_raises_a_state_error_with_code_and_reason(table: str) -> None:
    with pytest.raises(state.StateError) as raised:
        consent_state.get_call("no-such-table", "vc-one", "tx-1", deadline())
    assert raised.value.code == "ResourceNotFoundException"
    assert str(raised.value) == "ResourceNotFoundException: not retryable"
