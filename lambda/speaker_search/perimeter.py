"""The entry perimeter: only messages of the construct's own notification queue are processed.

A Lambda resource policy cannot deny ``lambda:InvokeFunction`` to a principal whose identity
policy allows it, so anyone with that permission could invoke the handler with a forged result
("caller identified as X") or a forged request. With ``NOTIFICATION_QUEUE_ARN`` set (the construct
sets it; unset keeps the Lambda-sink contract of accepting raw notifications):

* an invocation that is not an SQS batch is refused, nothing in it processed;
* a record whose ``eventSourceARN`` is not the queue's is refused;
* the remaining records' receipt handles are proven genuine with one ``ChangeMessageVisibilityBatch``
  call per 10 records (the batch size the construct configures, so one call per invocation), with
  ``VisibilityTimeout`` set to the queue's own (``NOTIFICATION_VISIBILITY_TIMEOUT_S``), so nothing
  changes for a genuine record but the timer's restart. Only the handler's role may receive from
  the queue (its policy denies everyone else), so nobody else holds a valid receipt handle: an
  entry failing with ``ReceiptHandleIsInvalid`` is a forged record, dropped with a WARNING and not
  reported as a failure (there is no message to redeliver). Any other failed entry, and a call that
  fails after its retries, fails those records (reported in ``batchItemFailures``): a genuine one is
  redelivered by SQS, a forged one goes nowhere.

Each refused input is logged (``input_refused``, WARNING, with the reason and, when it looks like
an ID, the record's ``messageId``; never its body) and counted in ``InputsRefused`` with ``Status``
``raw-invocation``, ``foreign-queue`` or ``invalid-receipt-handle``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import aws_calls
import clients
import metrics
from notifications import loggable
from outcomes import logger
from settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import ChangeMessageVisibilityBatchRequestEntryTypeDef

#: Entries per ChangeMessageVisibilityBatch call (the API's limit).
MAX_BATCH_ENTRIES = 10
RAW_INVOCATION = "raw-invocation"
FOREIGN_QUEUE = "foreign-queue"
INVALID_RECEIPT_HANDLE = "invalid-receipt-handle"
#: The per-entry error SQS gives a receipt handle it did not issue for the queue.
RECEIPT_HANDLE_IS_INVALID = "ReceiptHandleIsInvalid"


class Admission(NamedTuple):
    """What became of a batch's records at the perimeter."""

    #: Genuine records of the queue, to process.
    admitted: list[dict[str, Any]]
    #: ``messageId`` s to report as failed, unprocessed (the check could not be made).
    failed: list[str]
    #: Records dropped as not the queue's (never processed, never reported).
    refused: int


def refuse_invocation(settings: Settings) -> dict[str, Any]:
    """The answer to an invocation that is not an SQS batch while the perimeter is on."""
    reason = "not an SQS batch of the notification queue"
    _refused(RAW_INVOCATION, reason, {"searchId": settings.search_id})
    return {"outcome": "refused", "reason": reason}


def admit(records: list[dict[str, Any]], settings: Settings, deadline: aws_calls.Deadline) -> Admission:
    """The records of ``settings.notification_queue_arn`` whose receipt handles SQS recognises."""
    candidates, refused = [], 0
    for record in records:
        fields = _fields(record, settings)
        if record.get("eventSourceARN") != settings.notification_queue_arn:
            _refused(FOREIGN_QUEUE, "record is not from the notification queue", fields)
            refused += 1
        elif not isinstance(record.get("receiptHandle"), str) or not record["receiptHandle"]:
            _refused(INVALID_RECEIPT_HANDLE, "record has no receipt handle", fields)
            refused += 1
        else:
            candidates.append(record)
    if not candidates:
        return Admission([], [], refused)
    queue_url, visibility = settings.notification_queue_url, settings.notification_visibility_timeout_s
    if queue_url is None or visibility is None:
        logger.error(
            "invalid_configuration",
            extra={
                "searchId": settings.search_id,
                "reason": "NOTIFICATION_QUEUE_ARN needs NOTIFICATION_QUEUE_URL and a whole number of"
                " seconds in NOTIFICATION_VISIBILITY_TIMEOUT_S",
            },
        )
        return Admission([], [r["messageId"] for r in candidates], refused)
    admitted, failed = [], []
    for start in range(0, len(candidates), MAX_BATCH_ENTRIES):
        chunk = candidates[start : start + MAX_BATCH_ENTRIES]
        verdicts = _check(chunk, queue_url, visibility, settings, deadline)
        for record, verdict in zip(chunk, verdicts, strict=True):
            if verdict == "genuine":
                admitted.append(record)
            elif verdict == RECEIPT_HANDLE_IS_INVALID:
                _refused(
                    INVALID_RECEIPT_HANDLE, "SQS does not know its receipt handle", _fields(record, settings)
                )
                refused += 1
            else:
                failed.append(record["messageId"])
    return Admission(admitted, failed, refused)


def _check(
    chunk: list[dict[str, Any]],
    queue_url: str,
    visibility: int,
    settings: Settings,
    deadline: aws_calls.Deadline,
) -> list[str]:
    """Per record: ``"genuine"``, ``ReceiptHandleIsInvalid``, or another code (not checked)."""
    entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
        {"Id": str(i), "ReceiptHandle": record["receiptHandle"], "VisibilityTimeout": visibility}
        for i, record in enumerate(chunk)
    ]
    try:
        response, _ = aws_calls.call(
            lambda: clients.sqs().change_message_visibility_batch(QueueUrl=queue_url, Entries=entries),
            deadline=deadline,
            policy=clients.retry_policy(),
            operation="ChangeMessageVisibilityBatch",
        )
    except aws_calls.AwsCallError as exc:
        logger.error(
            "receipt_check_failed",
            extra={"searchId": settings.search_id, "errorCode": exc.code, "records": len(chunk)},
        )
        return [exc.code] * len(chunk)
    verdicts = ["Unanswered"] * len(chunk)  # an entry SQS did not answer is not proven genuine
    for entry in response.get("Successful", []):
        verdicts[int(entry["Id"])] = "genuine"
    for entry in response.get("Failed", []):
        verdicts[int(entry["Id"])] = str(entry.get("Code") or "Failed")
    for record, verdict in zip(chunk, verdicts, strict=True):
        if verdict not in ("genuine", RECEIPT_HANDLE_IS_INVALID):
            logger.error("receipt_check_failed", extra={**_fields(record, settings), "errorCode": verdict})
    return verdicts


def _fields(record: dict[str, Any], settings: Settings) -> dict[str, Any]:
    message_id = record.get("messageId")
    return {
        "searchId": settings.search_id,
        "messageId": loggable(message_id if isinstance(message_id, str) else None),
    }


def _refused(status: str, reason: str, fields: dict[str, Any]) -> None:
    logger.warning("input_refused", extra={**fields, "refusal": status, "reason": reason})
    metrics.count(metrics.INPUTS_REFUSED)  # in total (what an alarm watches) and by why
    metrics.count(metrics.INPUTS_REFUSED, status=status)
