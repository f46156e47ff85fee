"""Bring a failed record back sooner than the queue's visibility timeout (``Outcome.retry_after_s``).

A voice profile request whose voiceprint is not ready yet fails without an outcome event and must
come back in seconds, not after the queue's visibility timeout (180 s by default). The record's
receipt handle is known, so its visibility is set to the wait with ``ChangeMessageVisibilityBatch``
(one call per 10 records, on ``NOTIFICATION_QUEUE_URL``). Best effort: when the call fails or the
URL is unset, the queue's own visibility timeout applies, which only delays the redelivery.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

import aws_calls
import clients
from outcomes import logger
from settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import ChangeMessageVisibilityBatchRequestEntryTypeDef

MAX_BATCH_ENTRIES = 10
#: SQS's largest visibility timeout (12 hours).
MAX_VISIBILITY_S = 43_200


def shorten(
    waits: list[tuple[dict[str, Any], float]], settings: Settings, deadline: aws_calls.Deadline
) -> None:
    """Make each (record, seconds) visible again in about ``seconds`` (never later than the queue would)."""
    queue_url = settings.notification_queue_url
    ceiling = min(MAX_VISIBILITY_S, settings.notification_visibility_timeout_s or MAX_VISIBILITY_S)
    entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
        {
            "Id": str(i),
            "ReceiptHandle": record["receiptHandle"],
            "VisibilityTimeout": max(0, min(ceiling, math.ceil(seconds))),
        }
        for i, (record, seconds) in enumerate(waits)
        if isinstance(record.get("receiptHandle"), str) and record["receiptHandle"]
    ]
    if queue_url is None or not entries:
        return
    for start in range(0, len(entries), MAX_BATCH_ENTRIES):
        chunk = entries[start : start + MAX_BATCH_ENTRIES]
        try:
            response, _ = aws_calls.call(
                functools.partial(
                    clients.sqs().change_message_visibility_batch, QueueUrl=queue_url, Entries=chunk
                ),
                deadline=deadline,
                policy=clients.retry_policy(),
                operation="ChangeMessageVisibilityBatch",
            )
        except aws_calls.AwsCallError as exc:
            logger.warning("redelivery_not_shortened", extra={"errorCode": exc.code, "records": len(chunk)})
            continue
        failed = response.get("Failed", [])
        if failed:
            codes = sorted({str(entry.get("Code")) for entry in failed})
            logger.warning(
                "redelivery_not_shortened", extra={"errorCode": ",".join(codes), "records": len(failed)}
            )
