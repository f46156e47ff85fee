"""Builders for voice analytics notifications and the transports that carry them.

Shapes follow docs/aws-voice-analytics-facts*.md: the EventBridge-like envelope, voice-namespace
details (voiceConnectorId, transactionId, callId, isCaller) and the SQS / SNS wrappers. Every
detail carries a callId and, where AWS could plausibly send them, personal data, so the
privacy tests can check that none of it is logged.
"""

from __future__ import annotations

import json
from typing import Any

SERVED_CONNECTOR = "vc-one"
OTHER_SERVED_CONNECTOR = "vc-two"
FOREIGN_CONNECTOR = "vc-foreign"
# Looks like an ID on purpose: a leak of callId through the ID-shaped log fields must be caught.
CALL_ID = "1112-2222-4333-callid-7f3a"

SEARCH_STATUSES = (
    "IdentificationSuccessful",
    "IdentificationNoMatchesFound",
    "IdentificationFailure",
    "VoiceprintGenerationSuccessful",
    "VoiceprintGenerationSuccess",
    "VoiceprintGenerationFailure",
)


def envelope(detail_type: str, detail: dict[str, Any], notification_id: str = "n-1") -> dict[str, Any]:
    return {
        "version": "0",
        "id": notification_id,
        "detail-type": detail_type,
        "service-type": "VoiceAnalytics",
        "source": "aws.chime",
        "account": "111122223333",
        "time": "2024-05-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def analytics_ready(
    transaction_id: Any = "tx-1",
    voice_connector_id: Any = SERVED_CONNECTOR,
    *,
    notification_id: str = "n-ready",
    status: str = "AnalyticsReady",
    **extra: Any,
) -> dict[str, Any]:
    detail = {
        "detailStatus": status,
        "voiceConnectorId": voice_connector_id,
        "transactionId": transaction_id,
        "callId": CALL_ID,
        **extra,
    }
    return envelope("VoiceAnalyticsStatus", detail, notification_id)


def search_status(
    status: str = "IdentificationSuccessful",
    task_id: str = "task-1",
    *,
    results: list[Any] | None = None,
    notification_id: str = "n-result",
    voice_connector_id: str | None = SERVED_CONNECTOR,
    transaction_id: str | None = "tx-1",
    is_caller: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    detail: dict[str, Any] = {"taskId": task_id, "detailStatus": status, "callId": CALL_ID, **extra}
    if results is not None:
        detail["speakerSearchDetails"] = {"results": results}
    if voice_connector_id is not None:
        detail["voiceConnectorId"] = voice_connector_id
    if transaction_id is not None:
        detail["transactionId"] = transaction_id
    if is_caller is not None:
        detail["isCaller"] = is_caller
    return envelope("SpeakerSearchStatus", detail, notification_id)


def voice_tone(notification_id: str = "n-tone") -> dict[str, Any]:
    detail = {
        "taskId": "tone-task",
        "detailStatus": "VoiceToneAnalysisSuccessful",
        "voiceConnectorId": SERVED_CONNECTOR,
        "transactionId": "tx-1",
        "callId": CALL_ID,
        "isCaller": True,
    }
    return envelope("VoiceToneAnalysisStatus", detail, notification_id)


def sns_envelope(message: Any) -> str:
    text = message if isinstance(message, str) else json.dumps(message)
    return json.dumps({"Type": "Notification", "MessageId": "sns-1", "TopicArn": "arn:x", "Message": text})


def double_encoded(message: Any) -> str:
    return json.dumps(json.dumps(message))


def records_wrapper(*messages: Any) -> str:
    return json.dumps({"Records": list(messages)})


def sqs_record(body: Any, message_id: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:speaker-search",
        "awsRegion": "us-east-1",
    }


def sqs_event(*bodies: Any) -> dict[str, Any]:
    """An SQS batch; record i gets messageId ``m-i``."""
    return {"Records": [sqs_record(body, f"m-{i}") for i, body in enumerate(bodies)]}


#: ``envelope`` of a request wrapped by the construct's rules (lambda/speaker_search/notifications.py).
REQUEST_ENVELOPE = "chime-speaker-search/request"


def request_envelope(event: dict[str, Any], ingestion_time: Any = "2029-11-25T10:01:00Z") -> dict[str, Any]:
    """``event`` as a request rule's input transformer delivers it: with EventBridge's ingestion time."""
    return {"envelope": REQUEST_ENVELOPE, "ingestionTime": ingestion_time, "event": event}
