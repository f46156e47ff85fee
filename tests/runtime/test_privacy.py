"""No personal data in any log line, on success, failure, malformed and crash paths.

Notifications carry a SIP Call-ID, phone numbers, SIP INVITE headers and a caller name. The test
captures everything logged at DEBUG (the handler's logger and botocore's, which logs request
bodies at DEBUG) both as raw records and through a JSON formatter shaped like Lambda's, whose
``extra`` fields become top-level keys.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import clients
import outcomes
import pytest
import results

from tests.runtime import fake_aws as f
from tests.runtime import notifications as n
from tests.runtime.fake_aws import FakeAws
from tests.runtime.helpers import FakeContext

CALLER = "+12065550100"
CALLEE = "+13605550199"
NAME = "John Doe"
SECRETS = (n.CALL_ID, CALLER, CALLEE, CALLER[1:], CALLEE[1:], NAME, "sip:", "inviteHeaders", "fromNumber")

PERSONAL = {
    "callId": n.CALL_ID,
    "fromNumber": CALLER,
    "toNumber": CALLEE,
    "callerName": NAME,
    "direction": "Inbound",
    "inviteHeaders": {
        "from": f'"{NAME}" <sip:{CALLER}@10.24.34.0>;tag=abcdefg',
        "to": f"<sip:{CALLEE}@abcdef1ghij2klmno3pqr4.voiceconnector.chime.aws:5060>",
        "call-id": n.CALL_ID,
    },
}
STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class LambdaLikeJsonFormatter(logging.Formatter):
    """Approximates the Lambda runtime's JSON log format: extras become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "timestamp": record.created,
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            **{k: v for k, v in vars(record).items() if k not in STANDARD_ATTRIBUTES},
        }
        if record.exc_info:
            payload["stackTrace"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    sink = logging.StreamHandler(stream)
    sink.setFormatter(LambdaLikeJsonFormatter())
    root = logging.getLogger()
    root.addHandler(sink)
    try:
        yield stream
    finally:
        root.removeHandler(sink)


def personal(notification: dict[str, Any]) -> dict[str, Any]:
    notification["detail"].update(PERSONAL)
    return notification


def body_with_personal_data(**detail: Any) -> dict[str, Any]:
    notification = personal(n.analytics_ready())
    notification["detail"].update(detail)
    return notification


def run_every_path(handler: ModuleType, fake: FakeAws, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = FakeContext(60_000)
    matches = [
        {"voiceProfileId": "vp-1", "confidenceScore": "0.9"},
        {"voiceProfileId": NAME, "confidenceScore": "x"},
    ]
    # success: start (after a throttle and a reset), publish
    fake.script(f.CHIME, f.throttled(), f.connection_reset())
    handler.handler(
        n.sqs_event(personal(n.analytics_ready("tx-ok")), personal(n.search_status(results=matches))), ctx
    )
    # failures: permanent start error, retries exhausted on PutEvents, a raw notification that raises
    fake.script(f.CHIME, f.bad_request())
    fake.script(f.EVENTS, *[f.failed_entry()] * clients.MAX_ATTEMPTS)
    handler.handler(n.sqs_event(personal(n.analytics_ready("tx-bad")), personal(n.search_status())), ctx)
    fake.script(f.CHIME, f.bad_request())
    with pytest.raises(handler.NotificationFailedError):
        handler.handler(personal(n.analytics_ready("tx-raw")), ctx)
    # malformed and skipped
    malformed = [
        body_with_personal_data(transactionId=None),
        # a phone number in an ID field of a skipped notification must not be logged as an ID
        # (a served one would be sent to AWS as the TransactionId; botocore's DEBUG log shows that)
        body_with_personal_data(voiceConnectorId=n.FOREIGN_CONNECTOR, transactionId=CALLER),
        body_with_personal_data(transactionId={"number": CALLER}),
        body_with_personal_data(transactionId=CALLER * 200),
        body_with_personal_data(voiceConnectorId=f"sip:{CALLEE}@example.com"),
        body_with_personal_data(detailStatus=f"{NAME} {CALLER}"),
        personal(n.search_status(f"Status for {CALLER}")),
        personal(n.search_status(task_id=f"<sip:{CALLEE}>", voice_connector_id=n.FOREIGN_CONNECTOR)),
        {**personal(n.analytics_ready()), "detail-type": f"Call from {NAME}"},
        personal(n.analytics_ready(voice_connector_id=n.FOREIGN_CONNECTOR)),
        personal(n.analytics_ready(status="PostCallVoiceAnalytics")),
        f"not json: {CALLER} {NAME} {n.CALL_ID}",
        n.sns_envelope(f"from {CALLER}"),
        n.records_wrapper(personal(n.analytics_ready()), personal(n.analytics_ready())),
    ]
    handler.handler(n.sqs_event(*malformed), ctx)

    # crash: an unexpected exception whose message quotes personal data
    def broken(*_: Any) -> Any:
        raise ValueError(f"cannot handle {CALLER} / {NAME}")

    monkeypatch.setattr(results, "build_result", broken)
    handler.handler(n.sqs_event(personal(n.search_status())), ctx)


def test_no_personal_data_in_any_log_output(
    handler: ModuleType,
    fake_aws: FakeAws,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    json_log: io.StringIO,
) -> None:
    caplog.set_level(logging.DEBUG)  # root: botocore's DEBUG logs (request bodies) included
    caplog.set_level(logging.DEBUG, logger=outcomes.LOGGER_NAME)

    run_every_path(handler, fake_aws, monkeypatch)

    messages = {r.getMessage() for r in caplog.records if r.name == outcomes.LOGGER_NAME}
    # every path really ran
    assert {
        "speaker_search_started",
        "speaker_search_start_failed",
        "speaker_search_result_published",
        "speaker_search_result_publish_failed",
        "notification_rejected",
        "notification_skipped",
        "notification_failed",
        "matches_dropped",
    } <= messages
    assert any(r.name.startswith("botocore") for r in caplog.records)

    formatted = json_log.getvalue()
    raw_records = "\n".join(json.dumps(vars(r), default=str) for r in caplog.records)
    for secret in SECRETS:
        assert secret not in caplog.text, secret
        assert secret not in formatted, secret
        assert secret not in raw_records, secret


def test_json_formatter_sees_the_extra_fields(
    handler: ModuleType, fake_aws: FakeAws, json_log: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards the privacy test: the formatter really prints extras (so a leak there would show)."""
    caplog.set_level(logging.DEBUG, logger=outcomes.LOGGER_NAME)
    handler.handler(n.sqs_event(n.analytics_ready("tx-visible")), FakeContext(60_000))
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    [started] = [line for line in lines if line["message"] == "speaker_search_started"]
    assert started["transactionId"] == "tx-visible"
    assert started["voiceConnectorId"] == "vc-one"
    assert started["messageId"] == "m-0"
