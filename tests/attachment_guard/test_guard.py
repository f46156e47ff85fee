"""The attachment guard against a stateful fake of the connector's streaming configuration.

Another writer replaces the configuration between checks (as cdklabs' ``ChimeVoiceConnector`` does on
every create and update of its connector: a whole ``StreamingConfiguration`` without
``MediaInsightsConfiguration``), and between the guard's reads and its write; the guard re-attaches with
the streaming association's merge rules, never replaces another configuration, and reports.
"""

from __future__ import annotations

import copy
import io
import logging
import re
from typing import Any

import pytest

from tests.attachment_guard.conftest import (
    BUS,
    CONFIGURATION_ARN,
    OTHER_CONFIGURATION_ARN,
    SEARCH_ID,
    VC,
    VC2,
    VC3,
    FakeEvents,
    Run,
    load,
    metric_lines,
    search,
)
from tests.custom_resources.fakes import FakeChimeSdkVoice, OtherWriter

GET = "GetVoiceConnectorStreamingConfiguration"
PUT = "PutVoiceConnectorStreamingConfiguration"

#: What the streaming association leaves on a connector that had no streaming before (24 h).
ATTACHED = {
    "Disabled": False,
    "DataRetentionInHours": 24,
    "StreamingNotificationTargets": [{"NotificationTarget": "EventBridge"}],
    "MediaInsightsConfiguration": {"Disabled": False, "ConfigurationArn": CONFIGURATION_ARN},
}


def chime_voice_connector_put(retention: int = 24) -> Any:
    """What cdklabs' ChimeVoiceConnector's handler puts with its ``streaming`` prop (its handler reads
    ``notificationTarget`` while the construct passes ``notificationTargets``: no targets; ``enabled`` is
    not read: streaming on; no ``mediaInsightsConfiguration`` given: none)."""

    def change(_: dict[str, Any] | None) -> dict[str, Any]:
        return {"Disabled": False, "DataRetentionInHours": retention}

    return change


def attach_ours(voice: FakeChimeSdkVoice, vc: str = VC, **overrides: Any) -> None:
    voice.streaming[vc] = {**copy.deepcopy(ATTACHED), **overrides}


def metrics(out: io.StringIO) -> dict[str, Any]:
    (line,) = metric_lines(out)
    return line


def logged(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == message]


# -- nothing wrong ---------------------------------------------------------------------------------


def test_an_attached_configuration_costs_one_read_no_write_no_event(
    run: Run, voice: FakeChimeSdkVoice, events: FakeEvents, emf: io.StringIO
) -> None:
    attach_ours(voice)
    assert run() == {"searchId": SEARCH_ID, "checked": 1, "detached": 0, "repaired": 0, "failed": 0}
    assert [name for name, _ in voice.calls] == [GET]
    assert events.calls == []
    line = metrics(emf)
    assert (
        line["ConfigurationDetached"],
        line["ConfigurationRepaired"],
        line["AttachmentCheckFailures"],
    ) == (
        0,
        0,
        0,
    )


def test_settings_the_library_does_not_own_are_no_reason_to_write(
    run: Run, voice: FakeChimeSdkVoice, events: FakeEvents
) -> None:
    attach_ours(
        voice,
        DataRetentionInHours=720,
        StreamingNotificationTargets=[{"NotificationTarget": "SQS"}, {"NotificationTarget": "EventBridge"}],
    )
    assert run()["detached"] == 0
    assert voice.mutating_calls == [] and events.calls == []


# -- another writer replaces the configuration between checks ------------------------------------


def test_a_rewrite_between_checks_is_found_repaired_and_reported_once(
    run: Run, voice: FakeChimeSdkVoice, events: FakeEvents, emf: io.StringIO
) -> None:
    attach_ours(voice, DataRetentionInHours=48)
    assert run()["detached"] == 0

    # cdklabs' ChimeVoiceConnector is updated (any prop): its handler puts streaming without ours.
    OtherWriter(voice, VC, chime_voice_connector_put(retention=36)).read_and_write()
    assert run() == {"searchId": SEARCH_ID, "checked": 1, "detached": 1, "repaired": 1, "failed": 0}
    # Re-attached with the association's rules: EventBridge back, the retention it found kept (36 > 24).
    assert voice.streaming[VC] == {**ATTACHED, "DataRetentionInHours": 36}
    [detail] = events.details()
    assert detail["problem"] == "configuration_not_attached"
    assert detail["found"] == {
        "streaming": "on",
        "configurationArn": None,
        "configurationDisabled": None,
        "notificationTargets": [],
        "dataRetentionInHours": 36,
    }
    assert (detail["repaired"], detail["notRepairedBecause"]) == (True, None)
    assert [line["ConfigurationDetached"] for line in metric_lines(emf)] == [0, 1]
    assert [line["ConfigurationRepaired"] for line in metric_lines(emf)] == [0, 1]

    # The next check finds it attached: no write, no event.
    voice.reset_calls()
    assert run()["detached"] == 0
    assert voice.mutating_calls == [] and len(events.entries) == 1


def test_the_event_names_the_search_its_connector_and_what_was_found(
    run: Run, voice: FakeChimeSdkVoice, events: FakeEvents
) -> None:
    voice.streaming[VC] = {"Disabled": False, "DataRetentionInHours": 24}
    run()
    [entry] = events.entries
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (
        "chime-speaker-search",
        "Analytics Configuration Detached",
        BUS,
    )
    detail = events.details()[0]
    assert set(detail) == {
        "searchId",
        "voiceConnectorId",
        "configurationArn",
        "problem",
        "found",
        "repaired",
        "notRepairedBecause",
        "checkedAt",
    }
    assert (detail["searchId"], detail["voiceConnectorId"], detail["configurationArn"]) == (
        SEARCH_ID,
        VC,
        CONFIGURATION_ARN,
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", detail["checkedAt"])


def test_other_tools_targets_are_kept_and_a_retention_someone_set_is_never_lowered(
    run: Run, voice: FakeChimeSdkVoice
) -> None:
    voice.streaming[VC] = {
        "Disabled": False,
        "DataRetentionInHours": 168,
        "StreamingNotificationTargets": [{"NotificationTarget": "SNS"}, {"NotificationTarget": "SQS"}],
    }
    run()
    assert voice.streaming[VC] == {
        "Disabled": False,
        "DataRetentionInHours": 168,
        "StreamingNotificationTargets": [
            {"NotificationTarget": "SNS"},
            {"NotificationTarget": "SQS"},
            {"NotificationTarget": "EventBridge"},
        ],
        "MediaInsightsConfiguration": {"Disabled": False, "ConfigurationArn": CONFIGURATION_ARN},
    }


@pytest.mark.parametrize("style", ["notfound", "empty"])
def test_a_deleted_streaming_configuration_is_made_again(
    run: Run, voice: FakeChimeSdkVoice, events: FakeEvents, style: str
) -> None:
    voice.unconfigured_style = style  # AWS's answer for a connector without one: 404 or an empty body
    assert run()["repaired"] == 1
    assert voice.streaming[VC] == ATTACHED
    [detail] = events.details()
    assert detail["problem"] == "streaming_not_configured"
    assert detail["found"]["streaming"] == "none"


@pytest.mark.parametrize(
    ("found", "problem", "written"),
    [
        # Streaming turned off (our configuration still attached): on again, at the configured hours.
        (
            {**ATTACHED, "Disabled": True, "DataRetentionInHours": 48},
            "streaming_off",
            ATTACHED,
        ),
        (
            {
                **ATTACHED,
                "MediaInsightsConfiguration": {"Disabled": True, "ConfigurationArn": CONFIGURATION_ARN},
            },
            "configuration_disabled",
            ATTACHED,
        ),
        (
            {**ATTACHED, "StreamingNotificationTargets": [{"NotificationTarget": "SNS"}]},
            "eventbridge_target_missing",
            {
                **ATTACHED,
                "StreamingNotificationTargets": [
                    {"NotificationTarget": "SNS"},
                    {"NotificationTarget": "EventBridge"},
                ],
            },
        ),
    ],
    ids=["streaming-off", "configuration-disabled", "eventbridge-target-missing"],
)
def test_each_way_of_not_reaching_calls_is_repaired(
    run: Run,
    voice: FakeChimeSdkVoice,
    events: FakeEvents,
    found: dict[str, Any],
    problem: str,
    written: dict[str, Any],
) -> None:
    voice.streaming[VC] = copy.deepcopy(found)
    assert run()["repaired"] == 1
    assert voice.streaming[VC] == written
    assert events.details()[0]["problem"] == problem


# -- another writer between the guard's reads and its write --------------------------------------


def test_a_change_between_the_read_and_the_write_is_merged_not_overwritten(
    run: Run, voice: FakeChimeSdkVoice, events: FakeEvents
) -> None:
    voice.streaming[VC] = {"Disabled": False, "DataRetentionInHours": 24}
    other = OtherWriter(
        voice,
        VC,
        lambda c: {**(c or {}), "StreamingNotificationTargets": [{"NotificationTarget": "SQS"}]},
    )
    voice.before(GET, other.read_and_write, nth=2)  # just before the guard's re-read before writing
    assert run()["repaired"] == 1
    assert voice.count(PUT) == 1
    assert voice.streaming[VC]["StreamingNotificationTargets"] == [
        {"NotificationTarget": "SQS"},
        {"NotificationTarget": "EventBridge"},
    ]
    assert voice.streaming[VC]["MediaInsightsConfiguration"]["ConfigurationArn"] == CONFIGURATION_ARN


def test_a_write_that_lands_after_ours_is_repaired_in_the_next_round(
    run: Run, voice: FakeChimeSdkVoice, events: FakeEvents
) -> None:
    voice.streaming[VC] = {"Disabled": False, "DataRetentionInHours": 24}
    other = OtherWriter(voice, VC, chime_voice_connector_put())
    other.read()
    voice.before(GET, other.write, nth=3)  # after our write, before our re-read
    assert run()["repaired"] == 1
    assert voice.count(PUT) == 2
    assert voice.streaming[VC] == ATTACHED
    assert events.details()[0]["repaired"] is True


def test_a_writer_that_detaches_after_every_write_wins_and_is_reported(
    run: Run, voice: FakeChimeSdkVoice, events: FakeEvents, emf: io.StringIO
) -> None:
    guard_check = load("guard_check")
    voice.streaming[VC] = {"Disabled": False, "DataRetentionInHours": 24}
    other = OtherWriter(voice, VC, chime_voice_connector_put())
    # Each round reads before writing, writes and re-reads: the re-read of round r is read 3 + 2r.
    for round_ in range(guard_check.MAX_ROUNDS):
        voice.before(GET, other.read_and_write, nth=3 + 2 * round_)
    assert run() == {"searchId": SEARCH_ID, "checked": 1, "detached": 1, "repaired": 0, "failed": 0}
    assert voice.count(PUT) == guard_check.MAX_ROUNDS
    [detail] = events.details()
    assert (detail["repaired"], detail["notRepairedBecause"]) == (False, "changed_by_another_writer")
    assert metrics(emf)["ConfigurationRepaired"] == 0


def test_ours_attached_by_another_writer_meanwhile_is_not_written_again(
    run: Run, voice: FakeChimeSdkVoice, events: FakeEvents
) -> None:
    voice.streaming[VC] = {"Disabled": False, "DataRetentionInHours": 24}
    # e.g. the stack's own association, deployed while the guard runs
    voice.before(GET, lambda: attach_ours(voice), nth=2)
    run()
    assert voice.count(PUT) == 0
    [detail] = events.details()
    assert (detail["repaired"], detail["notRepairedBecause"]) == (False, "reattached_by_another_writer")


def test_another_configuration_attached_meanwhile_is_never_replaced(
    run: Run, voice: FakeChimeSdkVoice, events: FakeEvents
) -> None:
    voice.streaming[VC] = {"Disabled": False, "DataRetentionInHours": 24}
    theirs = {"Disabled": False, "ConfigurationArn": OTHER_CONFIGURATION_ARN}
    voice.before(GET, lambda: voice.streaming[VC].update(MediaInsightsConfiguration=theirs), nth=2)
    run()
    assert voice.count(PUT) == 0
    assert voice.streaming[VC]["MediaInsightsConfiguration"] == theirs
    assert events.details()[0]["notRepairedBecause"] == "other_configuration_attached"


# -- never another configuration; alert-only -------------------------------------------------------


@pytest.mark.parametrize("disabled", [False, True])
@pytest.mark.parametrize("repair", [True, False])
def test_another_configuration_attached_is_reported_never_replaced(
    run: Run,
    configure: Any,
    voice: FakeChimeSdkVoice,
    events: FakeEvents,
    emf: io.StringIO,
    repair: bool,
    disabled: bool,
) -> None:
    configure(search(repair=repair))
    theirs = {
        "Disabled": False,
        "DataRetentionInHours": 12,
        "StreamingNotificationTargets": [{"NotificationTarget": "SQS"}],
        "MediaInsightsConfiguration": {"Disabled": disabled, "ConfigurationArn": OTHER_CONFIGURATION_ARN},
    }
    voice.streaming[VC] = copy.deepcopy(theirs)
    assert run()["detached"] == 1
    assert voice.mutating_calls == []
    assert voice.streaming[VC] == theirs
    [detail] = events.details()
    assert detail["problem"] == "other_configuration_attached"
    assert detail["found"]["configurationArn"] == OTHER_CONFIGURATION_ARN
    assert detail["found"]["configurationDisabled"] is disabled
    assert (detail["repaired"], detail["notRepairedBecause"]) == (False, "other_configuration_attached")
    assert (metrics(emf)["ConfigurationDetached"], metrics(emf)["ConfigurationRepaired"]) == (1, 0)


@pytest.mark.parametrize(
    "found",
    [None, {"Disabled": False, "DataRetentionInHours": 24}, {**ATTACHED, "Disabled": True}],
    ids=["deleted", "not-attached", "streaming-off"],
)
def test_alert_only_reports_and_writes_nothing(
    run: Run,
    configure: Any,
    voice: FakeChimeSdkVoice,
    events: FakeEvents,
    emf: io.StringIO,
    found: dict[str, Any] | None,
) -> None:
    configure(search(repair=False))
    if found is not None:
        voice.streaming[VC] = copy.deepcopy(found)
    assert run() == {"searchId": SEARCH_ID, "checked": 1, "detached": 1, "repaired": 0, "failed": 0}
    assert voice.mutating_calls == []
    assert voice.streaming.get(VC) == found
    [detail] = events.details()
    assert (detail["repaired"], detail["notRepairedBecause"]) == (False, "alert_only")
    assert (metrics(emf)["ConfigurationDetached"], metrics(emf)["ConfigurationRepaired"]) == (1, 0)


def test_alert_only_reports_again_at_every_check_until_someone_acts(
    run: Run, configure: Any, voice: FakeChimeSdkVoice, events: FakeEvents
) -> None:
    configure(search(repair=False))
    voice.streaming[VC] = {"Disabled": False, "DataRetentionInHours": 24}
    run()
    run()
    assert len(events.entries) == 2
    attach_ours(voice)
    run()
    assert len(events.entries) == 2


# -- several connectors and searches ------------------------------------------------------------------


def test_each_connector_of_the_search_is_checked_and_only_those(
    run: Run, configure: Any, voice: FakeChimeSdkVoice, events: FakeEvents
) -> None:
    other_search = search("c8" + "2" * 40, vcs=(VC3,), arn=OTHER_CONFIGURATION_ARN)
    configure(search(vcs=(VC, VC2)), other_search)
    attach_ours(voice, VC)
    voice.streaming[VC2] = {"Disabled": False, "DataRetentionInHours": 24}
    assert run() == {"searchId": SEARCH_ID, "checked": 2, "detached": 1, "repaired": 1, "failed": 0}
    assert {call["VoiceConnectorId"] for _, call in voice.calls} == {VC, VC2}
    assert [detail["voiceConnectorId"] for detail in events.details()] == [VC2]


def test_a_retention_given_as_a_deploy_time_token_arrives_as_a_string(
    run: Run, configure: Any, voice: FakeChimeSdkVoice
) -> None:
    configure(search(hours="72"))
    run()
    assert voice.streaming[VC]["DataRetentionInHours"] == 72


# -- forged and malformed invocations --------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        {"searchId": "c8" + "9" * 40},
        {"searchId": "anything at all, +12065550100"},
        {"searchId": 42},
        {},
        [{"searchId": SEARCH_ID}],
        "c8" + "1" * 40,
        None,
    ],
    ids=["unknown-search", "not-a-search-id", "not-a-string", "no-search-id", "list", "string", "none"],
)
def test_an_invoke_naming_no_search_of_the_stack_is_refused_without_a_call(
    run: Run,
    voice: FakeChimeSdkVoice,
    events: FakeEvents,
    emf: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    event: Any,
) -> None:
    guard = load("index")
    context = None
    assert guard.handler(event, context) == {"refused": "the input names no search of this stack"}
    assert voice.calls == [] and events.calls == [] and emf.getvalue() == ""
    [record] = logged(caplog, "guard_input_refused")
    assert "+12065550100" not in caplog.text  # whatever the invoker chose is not logged
    if isinstance(event, dict) and event.get("searchId") == "c8" + "9" * 40:
        assert record.searchId == event["searchId"]  # a well-formed ID helps find the invoker
    else:
        assert record.searchId is None


def test_the_input_selects_a_search_and_nothing_else(
    run: Run, voice: FakeChimeSdkVoice, events: FakeEvents
) -> None:
    forged = {
        "searchId": SEARCH_ID,
        "vcs": [VC3],
        "voiceConnectorIds": [VC3],
        "arn": OTHER_CONFIGURATION_ARN,
        "name": "contact-centre-transcription",
        "repair": True,
        "bus": "attacker-bus",
    }
    voice.streaming[VC] = {"Disabled": False, "DataRetentionInHours": 24}
    run(forged)
    assert {call["VoiceConnectorId"] for _, call in voice.calls} == {VC}
    assert voice.streaming[VC]["MediaInsightsConfiguration"]["ConfigurationArn"] == CONFIGURATION_ARN
    assert VC3 not in voice.streaming
    assert [entry["EventBusName"] for entry in events.entries] == [BUS]


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not json",
        "[]",
        '{"prefix": "arn:", "searches": [42]}',
        '{"prefix": "arn:", "searches": [{"id": "c8"}]}',
    ],
    ids=["empty", "not-json", "not-an-object", "not-a-search", "bad-entry"],
)
def test_a_malformed_environment_fails_the_invocation_loudly(
    run: Run, configure: Any, voice: FakeChimeSdkVoice, caplog: pytest.LogCaptureFixture, raw: str
) -> None:
    configure(raw=raw)
    with pytest.raises(load("guard_searches").MisconfiguredError):
        run()
    assert voice.calls == []
    assert logged(caplog, "guard_misconfigured")
