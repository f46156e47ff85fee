"""Phone numbers are masked in every spelling the docs promise (``masking.py``), and nothing an
operator needs is: status codes, short IDs, IDs with digits, dates and times. Each spelling is
also checked inside a sentence, at the start and end of the text, and through the handler's
``pipeline_failure`` log line."""

from __future__ import annotations

import json
import logging
from types import ModuleType

import pytest
from masking import MASK, MAX_INPUT, mask_phone_numbers

from tests.runtime import notifications as n
from tests.runtime.helpers import Stubs, logged

PHONE_SPELLINGS = [
    "+12065550100",  # E.164
    "+1 206 555 0100",
    "+1-206-555-0100",
    "+1.206.555.0100",
    "+1 (206) 555-0100",
    "(206) 555-0100",  # national, parentheses
    "(206)555-0100",
    "206-555-0100",
    "206.555.0100",
    "206 555 0100",
    "206/555-0100",
    "2065550100",
    "1-800-555-0100",
    "+44 20 7946 0958",
    "00 44 20 7946 0958",
    "+49 (0)30 123456",
    "555-0123",  # local 7-digit forms
    "5550123",
    "555 0123",
    "555.0123",
    "555-0123 x45",  # extensions
    "555-0123 ext. 45",
    "555-0123 ext 45",
    "(206) 555-0100 extension 45",
    "555-0123 #45",
    "+12065550100;ext=45",
    "+1 206 555 0100, ext. 1234",
    "2065-55-0100",  # looks like a date, is not one
]


@pytest.mark.parametrize("phone", PHONE_SPELLINGS)
@pytest.mark.parametrize(
    "frame",
    [
        "{}",
        "call from {} failed",
        "Caller: {}.",
        "({})",
        "sip:{}@10.24.34.0",
        "tel:{}",
        "<sip:{}@vc.example>",
    ],
    ids=["alone", "sentence", "colon-period", "parenthesised", "sip-uri", "tel-uri", "sip-angle"],
)
def test_every_spelling_of_a_phone_number_is_masked(phone: str, frame: str) -> None:
    masked = mask_phone_numbers(frame.format(phone))
    digits = "".join(c for c in phone if c.isdigit())
    assert MASK in masked
    # not one run of 4 or more of its digits survives (the extension included)
    remaining = "".join(c if c.isdigit() else " " for c in masked).split()
    assert all(len(run) < 4 or run not in digits for run in remaining), masked


@pytest.mark.parametrize(
    "text",
    [
        "HTTP 503",
        "status code 403 from the Voice Connector",
        "Access denied when assuming resource access role",
        "attempt 3 of 8 failed after 1500 ms",
        "vc-5550123 rejected the call",  # an ID whose digits are part of it
        "pipeline 87654321-33ca-4dc6-9cdf-abcde6612345 failed",
        "connector abcdef1ghij2klmno3pqr4 is not streaming",
        "at 2029-11-25T10:01:00Z",
        "at 2029-11-25T10:01:00.123+05:30",
        "at 2029-11-25 10:01:00",
        "since 2029-11-25",
        "error 123456",  # six digits: not a phone number
        "v1.2.3",
    ],
)
def test_what_an_operator_needs_is_kept(text: str) -> None:
    assert mask_phone_numbers(text) == text


def test_an_account_id_in_an_arn_is_masked_and_the_rest_of_the_arn_kept() -> None:
    arn = "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline/p-1"
    assert mask_phone_numbers(arn) == f"arn:aws:chime:us-east-1:{MASK}:media-insights-pipeline/p-1"


@pytest.mark.parametrize(("text", "expected"), [("555012", "555012"), ("5550123", MASK)], ids=["6", "7"])
def test_seven_digits_is_the_edge(text: str, expected: str) -> None:
    assert mask_phone_numbers(text) == expected


def test_only_the_first_part_of_a_huge_text_is_looked_at() -> None:
    assert len(mask_phone_numbers("x" * (MAX_INPUT * 3))) == MAX_INPUT


def test_the_logged_failure_reason_masks_every_spelling(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture
) -> None:
    reason = "; ".join(f"leg {i} {phone}" for i, phone in enumerate(PHONE_SPELLINGS[:8]))
    detail = {
        "eventType": "chime:MediaInsightsPermanentFailure",
        "voiceConnectorId": n.SERVED_CONNECTOR,
        "transactionId": "tx-1",
        "failureReason": f"HTTP 403: {reason}",
    }
    handler.handler(n.sqs_event(n.envelope("Media Insights State Change", detail)), None)
    [line] = logged(caplog, "pipeline_failure")
    assert line.levelno == logging.WARNING
    assert line.failureReason.startswith("HTTP 403: leg 0 <digits>; leg 1 <digits>")
    logs = json.dumps([vars(r) for r in caplog.records], default=str)
    for phone in ("2065550100", "555-0100", "555 0100", "555.0100"):
        assert phone not in logs
