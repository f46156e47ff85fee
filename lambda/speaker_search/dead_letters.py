"""Send a record that can never succeed straight to the dead-letter queue (issue 9 item 2).

Without this, SQS would redeliver it ``max_receive_count`` times over a quarter of an hour, each
time calling AWS again with an answer known in advance (Gone, BadRequest, AccessDenied, a
malformed body...). The original body is sent unchanged, so a redrive puts it back as it came;
the reason travels as message attributes and in the log line ``sent_to_dead_letter_queue``.
When the send itself fails, the record is reported as failed instead: SQS then redelivers it
and, after ``max_receive_count`` receives, moves it to the same queue, so it is never lost.
"""

from __future__ import annotations

from typing import Any

import aws_calls
import clients
from outcomes import logger
from settings import Settings

#: Message attributes are limited in size; a reason is a code and a short sentence.
MAX_REASON_LENGTH = 1000


def send(
    record: dict[str, Any],
    reason: str,
    settings: Settings,
    deadline: aws_calls.Deadline,
    fields: dict[str, Any],
) -> bool:
    """True if the record's body now sits in the dead-letter queue with ``reason`` attached."""
    queue_url = settings.dead_letter_queue_url
    body = record.get("body")
    if queue_url is None or not isinstance(body, str) or not body:
        return False
    attributes: dict[str, Any] = {
        "failureReason": {"DataType": "String", "StringValue": reason[:MAX_REASON_LENGTH] or "unknown"},
        "failedBy": {"DataType": "String", "StringValue": "chime-speaker-search"},
    }
    message_id = record.get("messageId")
    if isinstance(message_id, str) and message_id:
        attributes["sourceMessageId"] = {"DataType": "String", "StringValue": message_id}

    def send_once() -> None:
        clients.sqs().send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=attributes)

    try:
        aws_calls.call(
            send_once,
            deadline=deadline,
            policy=clients.retry_policy(),
            operation="SendMessage",
        )
    except aws_calls.AwsCallError as exc:
        logger.error("dead_letter_send_failed", extra={**fields, "errorCode": exc.code, "reason": reason})
        return False
    logger.warning("sent_to_dead_letter_queue", extra={**fields, "reason": reason})
    return True
