"""The entry perimeter (``perimeter.py``): with ``NOTIFICATION_QUEUE_ARN`` set, only messages of the
construct's own queue are processed, as an attacker with ``lambda:InvokeFunction`` would test it.

The notification queue is moto's (real receipt handles from real receives); a botocore Stubber on
the handler's SQS client stands in where SQS must throttle or fail. The bus is a Stubber too, so a
forged result that got through would show as a PutEvents call.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
from collections.abc import Iterator
from types import ModuleType
from typing import Any, NamedTuple

import boto3
import clients
import metrics
import pytest
from botocore.stub import Stubber

from tests.runtime import notifications as n
from tests.runtime.conftest import StateAws
from tests.runtime.helpers import Stubs, logged, put_ok, reconfigure

QUEUE_NAME = "speaker-search-notifications"
_queues = itertools.count()
VISIBILITY_S = 180


class Queue(NamedTuple):
    url: str
    arn: str


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(metrics, "_out", buffer)
    return buffer


def refusals(out: io.StringIO) -> dict[str, float]:
    """InputsRefused per Status over every EMF line written; the total (no Status) must equal their sum."""
    found: dict[str, float] = {}
    total = 0.0
    for line in out.getvalue().splitlines():
        data = json.loads(line)
        if "InputsRefused" in data:
            value = data["InputsRefused"]
            count = sum(value) if isinstance(value, list) else value
            if "Status" in data:
                found[data["Status"]] = found.get(data["Status"], 0) + count
            else:
                total += count
    assert total == sum(found.values()), "InputsRefused in total and by Status disagree"
    return found


@pytest.fixture
def queue(handler: ModuleType, stubs: Stubs, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch) -> Queue:
    """The perimeter on, guarding a new notification queue in moto."""
    sqs = boto3.client("sqs")
    attributes = {"VisibilityTimeout": str(VISIBILITY_S)}
    url = sqs.create_queue(QueueName=f"{QUEUE_NAME}-{next(_queues)}", Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    reconfigure(
        handler,
        monkeypatch,
        NOTIFICATION_QUEUE_ARN=arn,
        NOTIFICATION_QUEUE_URL=url,
        NOTIFICATION_VISIBILITY_TIMEOUT_S=str(VISIBILITY_S),
    )
    return Queue(url, arn)


@pytest.fixture
def sqs_stub(queue: Queue) -> Iterator[Stubber]:
    with Stubber(clients.sqs()) as stub:
        yield stub
        stub.assert_no_pending_responses()


def genuine(queue: Queue, *bodies: dict[str, Any]) -> list[dict[str, Any]]:
    """Records as Lambda's SQS event source delivers them: sent to the queue and received from it."""
    sqs = boto3.client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=queue.url, MessageBody=json.dumps(body))
    messages = sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == len(bodies)
    return [
        {
            **n.sqs_record(m["Body"], m["MessageId"]),
            "receiptHandle": m["ReceiptHandle"],
            "eventSourceARN": queue.arn,
        }
        for m in messages
    ]


def forged(queue: Queue, body: dict[str, Any], message_id: str = "forged-1") -> dict[str, Any]:
    """An SQS-shaped record an attacker writes: the right queue ARN, a receipt handle SQS never issued."""
    return {
        **n.sqs_record(body, message_id),
        "receiptHandle": "AQEB" + "x" * 200,
        "eventSourceARN": queue.arn,
    }


def published_ids(stubs: Stubs) -> list[str]:
    return [d["notificationId"] for d in stubs.published_details()]


# -- raw invocations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        n.search_status(notification_id="n-forged"),  # "caller identified as vp-1"
        n.request_envelope(
            {**n.envelope("Speaker Search Consent", {}), "source": "chime-speaker-search.requests"}
        ),
        n.records_wrapper(n.search_status()),  # Records without messageId: not an SQS batch
    ],
    ids=["result", "request", "records-wrapper"],
)
def test_a_raw_invocation_is_refused_without_processing_anything(
    queue: Queue,
    stubs: Stubs,
    state_aws: StateAws,
    handler: ModuleType,
    caplog: pytest.LogCaptureFixture,
    emf: io.StringIO,
    event: Any,
) -> None:
    body = json.loads(event) if isinstance(event, str) else event
    result = handler.handler(body, None)

    assert result == {"outcome": "refused", "reason": "not an SQS batch of the notification queue"}
    assert stubs.published_details() == []  # the Stubber has no answer queued: nothing was sent
    assert state_aws.items() == []
    [line] = logged(caplog, "input_refused")
    assert (line.levelno, line.refusal) == (logging.WARNING, "raw-invocation")
    assert refusals(emf) == {"raw-invocation": 1}


def test_with_the_perimeter_off_a_raw_notification_is_served_as_before(
    handler: ModuleType, stubs: Stubs
) -> None:
    """The Lambda-sink contract: without NOTIFICATION_QUEUE_ARN a raw notification is a result."""
    put_ok(stubs)
    assert handler.handler(n.search_status(notification_id="n-raw"), None)["outcome"] == "published"
    assert published_ids(stubs) == ["n-raw"]


# -- SQS-shaped batches ----------------------------------------------------------------------------


def test_a_forged_batch_is_dropped_unprocessed_and_not_reported(
    queue: Queue, stubs: Stubs, handler: ModuleType, caplog: pytest.LogCaptureFixture, emf: io.StringIO
) -> None:
    event = {
        "Records": [
            forged(queue, n.search_status(notification_id="n-forged-1"), "forged-1"),
            forged(queue, n.search_status(notification_id="n-forged-2"), "forged-2"),
        ]
    }

    assert handler.handler(event, None) == {"batchItemFailures": []}

    assert stubs.published_details() == []
    lines = logged(caplog, "input_refused")
    assert [(r.messageId, r.refusal) for r in lines] == [
        ("forged-1", "invalid-receipt-handle"),
        ("forged-2", "invalid-receipt-handle"),
    ]
    assert refusals(emf) == {"invalid-receipt-handle": 2}


def test_a_mixed_batch_serves_the_genuine_records_only(
    queue: Queue, stubs: Stubs, handler: ModuleType, emf: io.StringIO
) -> None:
    put_ok(stubs, 2)
    records = genuine(queue, n.search_status(notification_id="n-1"), n.search_status(notification_id="n-2"))
    records.insert(1, forged(queue, n.search_status(notification_id="n-forged")))

    assert handler.handler({"Records": records}, None) == {"batchItemFailures": []}

    assert sorted(published_ids(stubs)) == ["n-1", "n-2"]
    assert refusals(emf) == {"invalid-receipt-handle": 1}


def test_a_record_of_another_queue_is_refused_without_asking_sqs(
    queue: Queue, sqs_stub: Stubber, stubs: Stubs, handler: ModuleType, emf: io.StringIO
) -> None:
    record = {**forged(queue, n.search_status()), "eventSourceARN": queue.arn + "-other"}
    # sqs_stub has no answer queued: a ChangeMessageVisibilityBatch call would fail the test
    assert handler.handler({"Records": [record]}, None) == {"batchItemFailures": []}
    assert stubs.published_details() == []
    assert refusals(emf) == {"foreign-queue": 1}


@pytest.mark.parametrize("handle", [None, "", 7], ids=["missing", "empty", "number"])
def test_a_record_without_a_receipt_handle_is_refused(
    queue: Queue, stubs: Stubs, handler: ModuleType, emf: io.StringIO, handle: Any
) -> None:
    record = {**forged(queue, n.search_status()), "receiptHandle": handle}
    assert handler.handler({"Records": [record]}, None) == {"batchItemFailures": []}
    assert refusals(emf) == {"invalid-receipt-handle": 1}


def test_the_check_keeps_the_queues_own_visibility_timeout(
    queue: Queue, sqs_stub: Stubber, stubs: Stubs, handler: ModuleType
) -> None:
    put_ok(stubs)
    record = forged(queue, n.search_status(notification_id="n-1"))
    entries = [{"Id": "0", "ReceiptHandle": record["receiptHandle"], "VisibilityTimeout": VISIBILITY_S}]
    sqs_stub.add_response(
        "change_message_visibility_batch",
        {"Successful": [{"Id": "0"}], "Failed": []},
        {"QueueUrl": queue.url, "Entries": entries},
    )
    assert handler.handler({"Records": [record]}, None) == {"batchItemFailures": []}
    assert published_ids(stubs) == ["n-1"]


def test_a_throttled_check_is_retried_then_serves_the_batch(
    queue: Queue, sqs_stub: Stubber, stubs: Stubs, handler: ModuleType, sleeps: Any
) -> None:
    put_ok(stubs)
    sqs_stub.add_client_error("change_message_visibility_batch", "RequestThrottled", http_status_code=400)
    sqs_stub.add_response("change_message_visibility_batch", {"Successful": [{"Id": "0"}], "Failed": []})
    record = forged(queue, n.search_status(notification_id="n-1"))
    assert handler.handler({"Records": [record]}, None) == {"batchItemFailures": []}
    assert published_ids(stubs) == ["n-1"]
    assert len(sleeps.delays) == 1


@pytest.mark.parametrize("error", ["retries-exhausted", "permanent"])
def test_a_check_that_fails_for_good_fails_every_record_unprocessed(
    queue: Queue,
    sqs_stub: Stubber,
    stubs: Stubs,
    handler: ModuleType,
    caplog: pytest.LogCaptureFixture,
    error: str,
) -> None:
    if error == "permanent":
        sqs_stub.add_client_error(
            "change_message_visibility_batch", "AccessDeniedException", http_status_code=400
        )
    else:
        for _ in range(clients.MAX_ATTEMPTS):
            sqs_stub.add_client_error(
                "change_message_visibility_batch", "RequestThrottled", http_status_code=400
            )
    records = [forged(queue, n.search_status(), f"m-{i}") for i in range(3)]

    result = handler.handler({"Records": records}, None)

    assert result == {"batchItemFailures": [{"itemIdentifier": f"m-{i}"} for i in range(3)]}  # redelivered
    assert stubs.published_details() == []
    [line] = logged(caplog, "receipt_check_failed")
    assert (line.levelno, line.records) == (logging.ERROR, 3)


@pytest.mark.parametrize("answer", ["MessageNotInflight", "unanswered"])
def test_an_entry_not_proven_genuine_fails_that_record_only(
    queue: Queue, sqs_stub: Stubber, stubs: Stubs, handler: ModuleType, answer: str
) -> None:
    put_ok(stubs)
    failed = (
        [] if answer == "unanswered" else [{"Id": "1", "SenderFault": True, "Code": answer, "Message": "x"}]
    )
    sqs_stub.add_response("change_message_visibility_batch", {"Successful": [{"Id": "0"}], "Failed": failed})
    records = [forged(queue, n.search_status(notification_id=f"n-{i}"), f"m-{i}") for i in range(2)]

    assert handler.handler({"Records": records}, None) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert published_ids(stubs) == ["n-0"]


def test_more_than_ten_records_are_checked_ten_at_a_time(
    queue: Queue, sqs_stub: Stubber, stubs: Stubs, handler: ModuleType
) -> None:
    put_ok(stubs, 12)
    sqs_stub.add_response(
        "change_message_visibility_batch", {"Successful": [{"Id": str(i)} for i in range(10)], "Failed": []}
    )
    sqs_stub.add_response(
        "change_message_visibility_batch", {"Successful": [{"Id": str(i)} for i in range(2)], "Failed": []}
    )
    records = [forged(queue, n.search_status(notification_id=f"n-{i}"), f"m-{i}") for i in range(12)]
    assert handler.handler({"Records": records}, None) == {"batchItemFailures": []}
    assert len(published_ids(stubs)) == 12


@pytest.mark.parametrize(
    "env",
    [{"NOTIFICATION_QUEUE_URL": ""}, {"NOTIFICATION_VISIBILITY_TIMEOUT_S": "soon"}],
    ids=["no-url", "bad-visibility"],
)
def test_a_perimeter_without_the_means_to_check_fails_every_record_unprocessed(
    queue: Queue,
    stubs: Stubs,
    handler: ModuleType,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
) -> None:
    reconfigure(handler, monkeypatch, **env)
    records = genuine(queue, n.search_status())
    assert handler.handler({"Records": records}, None) == {
        "batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]
    }
    assert stubs.published_details() == []
    assert logged(caplog, "invalid_configuration")


def test_a_forged_record_id_that_is_not_id_shaped_is_not_logged(
    queue: Queue, handler: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    record = forged(queue, n.search_status(), "+1 206 555 0100")
    handler.handler({"Records": [record]}, None)
    [line] = logged(caplog, "input_refused")
    assert line.messageId is None
    # The number in any spelling (a bare "555" would also match random message and request IDs).
    logged_text = " ".join(str(r.__dict__) for r in caplog.records)
    assert not any(spelling in logged_text for spelling in ("555 0100", "5550100", "206 555", "+1 206"))
