"""Runtime behaviours that no other test pinned (issue 14): each test fails if its behaviour goes.

Every one of them was found by mutation testing (`make mutation`): a one-token change to the handler
that the rest of the suite did not notice. Tests run the real handler against botocore Stubbers, or
call the pure module that owns the rule when the rule is only observable there.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import aws_calls
import clients
import notifications
import pytest

from tests.runtime import notifications as n
from tests.runtime.helpers import Stubs, logged, reconfigure
from tests.runtime.test_stubbed import PUT_OK, expect_put, expect_start

NOW = 1_000.0  # the fixed clock value of the deadline tests


class FixedContext:
    """A Lambda context whose remaining time does not move while the test runs."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws_calls, "_clock", lambda: NOW)


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN and Infinity, as EventBridge's JSON parser does."""

    def refuse(token: str) -> Any:
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


# -- EVENT_BUS_NAME ------------------------------------------------------------------------------


@pytest.mark.parametrize("bus", [None, "", "   "], ids=["unset", "empty", "blank"])
def test_results_go_to_the_default_bus_when_event_bus_name_is_unset_or_blank(
    handler: ModuleType, stubs: Stubs, monkeypatch: pytest.MonkeyPatch, bus: str | None
) -> None:
    if bus is None:
        monkeypatch.delenv("EVENT_BUS_NAME")
        reconfigure(handler, monkeypatch)
    else:
        reconfigure(handler, monkeypatch, EVENT_BUS_NAME=bus)
    expect_put(stubs)

    assert handler.handler(n.sqs_event(n.search_status()), None) == {"batchItemFailures": []}

    [call] = stubs.put_events_calls
    assert [entry["EventBusName"] for entry in call["Entries"]] == ["default"]


def test_event_bus_name_is_used_without_surrounding_blanks(
    handler: ModuleType, stubs: Stubs, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconfigure(handler, monkeypatch, EVENT_BUS_NAME="  speaker-bus ")
    expect_put(stubs)
    handler.handler(n.sqs_event(n.search_status()), None)
    assert stubs.put_events_calls[0]["Entries"][0]["EventBusName"] == "speaker-bus"


# -- deadline: safety margin and the cost of one attempt -----------------------------------------


def attempt_cost_s() -> float:
    return clients.CONNECT_TIMEOUT_S + clients.READ_TIMEOUT_S


def test_one_attempt_costs_the_connect_plus_the_read_timeout(handler: ModuleType) -> None:
    # Distinct values, so a policy built from only one of them (or their difference) cannot pass.
    assert clients.CONNECT_TIMEOUT_S != clients.READ_TIMEOUT_S
    assert clients.retry_policy().attempt_cost_s == attempt_cost_s()


def test_handler_deadline_is_the_lambda_deadline_minus_the_safety_margin(
    handler: ModuleType, fixed_clock: None
) -> None:
    deadline = clients.deadline(FixedContext(10_000))
    assert deadline.at == NOW + 10.0 - clients.SAFETY_MARGIN_S
    assert clients.deadline(None).at == NOW + clients.NO_CONTEXT_BUDGET_S


@pytest.mark.parametrize(
    ("spare_s", "attempts"),
    [
        (0.0, 1),  # exactly one attempt fits after the margin: it is made
        (-0.001, 0),  # a millisecond short: no attempt at all
        (-clients.CONNECT_TIMEOUT_S, 0),  # the read timeout alone fits, the connect timeout does not
        (-clients.READ_TIMEOUT_S, 0),  # the connect timeout alone fits, the read timeout does not
    ],
)
def test_an_attempt_starts_only_if_connect_and_read_timeouts_fit_before_deadline_less_margin(
    handler: ModuleType,
    stubs: Stubs,
    caplog: pytest.LogCaptureFixture,
    fixed_clock: None,
    spare_s: float,
    attempts: int,
) -> None:
    remaining_ms = round((clients.SAFETY_MARGIN_S + attempt_cost_s() + spare_s) * 1000)
    if attempts:
        expect_start(stubs)

    result = handler.handler(n.sqs_event(n.analytics_ready()), FixedContext(remaining_ms))

    if attempts:
        assert result == {"batchItemFailures": []}
        assert logged(caplog, "speaker_search_started", attempts=1)
    else:
        assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
        [failed] = logged(caplog, "speaker_search_start_failed")
        assert (failed.errorCode, failed.attempts) == ("DeadlineExceeded", 0)


# -- unwrapping ----------------------------------------------------------------------------------


def encoded(value: Any, times: int) -> Any:
    for _ in range(times):
        value = json.dumps(value)
    return value


def test_unwrap_takes_exactly_the_documented_number_of_steps() -> None:
    note = n.search_status()
    assert notifications.unwrap(encoded(note, notifications.MAX_UNWRAP_STEPS)) == note
    with pytest.raises(notifications.MalformedError, match=r"still wrapped after 8 unwrapping steps"):
        notifications.unwrap(encoded(note, notifications.MAX_UNWRAP_STEPS + 1))
    assert notifications.MAX_UNWRAP_STEPS == 8  # the number index.py's docstring refers to


def test_sns_and_records_wrappers_count_as_steps_too() -> None:
    note = n.search_status()
    # 1 SNS removal + 1 Records removal + 6 JSON decodes = 8 steps.
    wrapped = encoded({"Records": [json.loads(n.sns_envelope(encoded(note, 4)))]}, 2)
    assert notifications.unwrap(wrapped) == note
    with pytest.raises(notifications.MalformedError, match="still wrapped"):
        notifications.unwrap(json.dumps(wrapped))


@pytest.mark.parametrize(
    "envelope",
    [
        {"Type": "Notification"},  # no Message
        {"Message": "{}"},  # no Type
        {"Type": "SubscriptionConfirmation", "Message": "{}"},
    ],
    ids=["no-message", "no-type", "other-type"],
)
def test_sns_envelope_needs_type_notification_and_message(envelope: dict[str, Any]) -> None:
    if "Message" in envelope:
        envelope = {**envelope, "Message": json.dumps(n.search_status())}
    with pytest.raises(notifications.MalformedError, match="not a known wrapper"):
        notifications.unwrap(envelope)


def test_sns_envelope_with_type_notification_and_message_is_unwrapped() -> None:
    note = n.search_status()
    assert notifications.unwrap({"Type": "Notification", "Message": json.dumps(note)}) == note


def test_unwrap_reasons_are_the_documented_ones() -> None:
    with pytest.raises(notifications.MalformedError) as raised:
        notifications.unwrap("{not json")
    assert str(raised.value) == "body is not valid JSON"
    with pytest.raises(notifications.MalformedError) as raised:
        notifications.unwrap({"hello": "world"})
    assert str(raised.value) == "object has no detail-type and is not a known wrapper"
    with pytest.raises(notifications.MalformedError) as raised:
        notifications.unwrap([1])
    assert str(raised.value) == "JSON array is not a notification object"


def test_the_logged_ids_are_the_documented_id_shaped_fields() -> None:
    note = n.search_status(task_id="task-9", notification_id="n-9")
    assert notifications.loggable_ids(note, note["detail"]) == {
        "notificationId": "n-9",
        "detailType": "SpeakerSearchStatus",
        "detailStatus": "IdentificationSuccessful",
        "voiceConnectorId": n.SERVED_CONNECTOR,
        "transactionId": "tx-1",
        "taskId": "task-9",
    }
    assert notifications.loggable_ids(note, None) == {
        "notificationId": "n-9",
        "detailType": "SpeakerSearchStatus",
    }


# -- SQS batch or raw notification ---------------------------------------------------------------


@pytest.mark.parametrize("message_id", [7, None, ["m-0"]], ids=["number", "null", "array"])
def test_top_level_records_with_a_non_string_message_id_are_one_raw_notification(
    handler: ModuleType, stubs: Stubs, message_id: Any
) -> None:
    expect_start(stubs)
    event = {"Records": [{**n.analytics_ready(), "messageId": message_id}]}
    assert notifications.is_sqs_batch(event) is False
    assert handler.handler(event, None) == {"outcome": "started", "reason": "speaker_search: task started"}


def test_records_are_a_batch_only_if_every_entry_has_a_string_message_id(handler: ModuleType) -> None:
    good = n.sqs_record(n.analytics_ready(), "m-0")
    mixed = {"Records": [good, {**good, "messageId": 7}]}
    assert notifications.is_sqs_batch(mixed) is False
    # Raw: a two-entry Records wrapper, which is rejected as a whole (never half-processed).
    with pytest.raises(handler.NotificationFailedError, match="holds 2 entries; exactly 1"):
        handler.handler(mixed, None)


def test_a_notification_is_never_a_batch_even_with_a_records_key() -> None:
    note = {**n.search_status(), "Records": [{"messageId": "m-0"}]}
    assert notifications.is_sqs_batch(note) is False
    assert notifications.is_sqs_batch({"Records": [{"messageId": "m-0"}]}) is True


def test_a_raw_event_that_is_a_json_string_is_one_notification(handler: ModuleType, stubs: Stubs) -> None:
    expect_start(stubs)
    assert notifications.is_sqs_batch(json.dumps(n.analytics_ready())) is False
    assert handler.handler(json.dumps(n.analytics_ready()), None)["outcome"] == "started"


# -- ID length -----------------------------------------------------------------------------------


def test_an_id_of_exactly_the_maximum_length_is_accepted_and_one_more_is_not() -> None:
    longest = "t" * notifications.MAX_ID_LENGTH
    assert notifications.MAX_ID_LENGTH == 1024
    assert notifications.require_id({"taskId": longest}, "taskId") == longest
    assert notifications.valid_id(longest)
    with pytest.raises(notifications.MalformedError, match=r"longer than 1024 characters \(1025\)"):
        notifications.require_id({"taskId": longest + "t"}, "taskId")
    assert not notifications.valid_id(longest + "t")


def test_a_result_with_a_maximum_length_task_id_and_profile_id_is_published(
    handler: ModuleType, stubs: Stubs
) -> None:
    longest = "p" * notifications.MAX_ID_LENGTH
    results = [
        {"voiceProfileId": longest, "confidenceScore": 0.9},
        {"voiceProfileId": longest + "p", "confidenceScore": 0.8},  # too long: dropped
    ]
    expect_put(stubs)
    note = n.search_status(task_id=longest, results=results)
    assert handler.handler(n.sqs_event(note), None) == {"batchItemFailures": []}
    [detail] = stubs.published_details()
    assert detail["taskId"] == longest
    assert detail["matches"] == [{"voiceProfileId": longest, "confidenceScore": 0.9}]


# -- optional IDs on a result --------------------------------------------------------------------


@pytest.mark.parametrize("key", ["voiceConnectorId", "transactionId"])
@pytest.mark.parametrize("value", ["", "  ", 0, False, [], {}], ids=repr)
def test_an_empty_or_falsy_optional_id_on_a_result_is_rejected_not_published(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, key: str, value: Any
) -> None:
    note = n.search_status()
    note["detail"][key] = value

    assert handler.handler(n.sqs_event(note), None) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}

    assert stubs.put_events_calls == []
    [rejected] = logged(caplog, "notification_rejected")
    assert rejected.reason.startswith(f"detail.{key} ")


def test_an_absent_or_null_optional_id_is_published_as_null(handler: ModuleType, stubs: Stubs) -> None:
    note = n.search_status(voice_connector_id=None)
    note["detail"]["transactionId"] = None
    expect_put(stubs)
    handler.handler(n.sqs_event(note), None)
    [detail] = stubs.published_details()
    assert (detail["voiceConnectorId"], detail["transactionId"]) == (None, None)


# -- what the published detail carries -----------------------------------------------------------


@pytest.mark.parametrize(
    ("notification_id", "published"),
    [(123, None), (None, None), (["n-1"], None), ("n-1", "n-1")],
    ids=["number", "null", "array", "string"],
)
def test_a_non_string_notification_id_is_published_as_null(
    handler: ModuleType, stubs: Stubs, notification_id: Any, published: str | None
) -> None:
    note = n.search_status()
    note["id"] = notification_id
    note["time"] = 1714564800  # a number, not the documented string: published as null too
    expect_put(stubs)
    handler.handler(n.sqs_event(note), None)
    [detail] = stubs.published_details()
    assert (detail["notificationId"], detail["notificationTime"]) == (published, None)


def test_a_string_notification_time_is_published_as_is(handler: ModuleType, stubs: Stubs) -> None:
    expect_put(stubs)
    handler.handler(n.sqs_event(n.search_status()), None)
    assert stubs.published_details()[0]["notificationTime"] == "2024-05-01T12:00:00Z"


@pytest.mark.parametrize("infinite", ["Infinity", "-Infinity", '"inf"', '"-Infinity"', "1e999"])
def test_an_infinite_confidence_score_is_dropped_and_the_detail_stays_valid_json(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, infinite: str
) -> None:
    # Python's json module reads Infinity and 1e999 as float('inf'); EventBridge would reject the
    # resulting Detail, so such a match must not reach it.
    results = json.dumps([{"voiceProfileId": "vp-ok", "confidenceScore": 0.7}])
    body = json.dumps(n.search_status(results=[])).replace(
        '"results": []',
        f'"results": [{results[1:-1]}, {{"voiceProfileId": "vp-inf", "confidenceScore": {infinite}}}]',
    )
    stubs.events.add_response("put_events", PUT_OK)

    assert handler.handler(n.sqs_event(body), None) == {"batchItemFailures": []}

    [call] = stubs.put_events_calls
    detail = strict_json(call["Entries"][0]["Detail"])
    assert detail["matches"] == [{"voiceProfileId": "vp-ok", "confidenceScore": 0.7}]
    [dropped] = logged(caplog, "matches_dropped")
    assert (dropped.dropped, dropped.kept) == (1, 1)
