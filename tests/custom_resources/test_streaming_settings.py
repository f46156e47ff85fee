"""lambda/_common/streaming_settings.py: the merge rules every writer of a connector's streaming
configuration in this library uses (the association custom resource; a re-attaching guard next).

Pure functions, so they are tested directly here over many connector states; the custom resource's
lifecycle tests (test_streaming_association.py) test them again through the API fake.
"""

from __future__ import annotations

import ast
import copy
import itertools
import sys
from types import ModuleType
from typing import Any

import pytest

from tests.custom_resources.conftest import load
from tests.support import COMMON_ROOT

VC = "abcdef1ghij2klmno3pqr4"
ARN = "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/telephony-SpeakerSearch"
OTHER = "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/other"
EVENTBRIDGE = {"NotificationTarget": "EventBridge"}
SNS = {"NotificationTarget": "SNS"}
SQS = {"NotificationTarget": "SQS"}


@pytest.fixture
def rules() -> ModuleType:
    return load("streaming_settings")


def test_the_rules_use_the_standard_library_only() -> None:
    """Any function of the library may import them, with or without boto3."""
    tree = ast.parse((COMMON_ROOT / "streaming_settings.py").read_text())
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
        if not isinstance(node, ast.ImportFrom) or node.module
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def _states() -> list[dict[str, Any] | None]:
    """Connector states before an attachment: never configured, off or on, with any other targets,
    EventBridge already there or not, short and long retentions."""
    states: list[dict[str, Any] | None] = [None]
    for disabled, retention, others, eventbridge in itertools.product(
        (True, False), (0, 2, 24, 240), ([], [SNS], [SQS, SNS]), (False, True)
    ):
        targets = [*others, *([EVENTBRIDGE] if eventbridge else [])]
        state: dict[str, Any] = {"DataRetentionInHours": retention, "Disabled": disabled}
        if targets:
            state["StreamingNotificationTargets"] = targets
        states.append(state)
    return states


@pytest.mark.parametrize("before", _states(), ids=str)
@pytest.mark.parametrize("configured", [1, 24, 48])
def test_detach_after_attach_restores_what_was_there(
    rules: ModuleType, before: dict[str, Any] | None, configured: int
) -> None:
    """With nothing changed in between, detaching gives back the connector exactly as it was."""
    prior = rules.Prior.observe(VC, before)
    assert rules.Prior.parse(prior.physical_id()) == prior
    attached = rules.attach(before, ARN, rules.desired_retention(before, prior, configured))
    assert rules.is_attached(attached, ARN)
    assert rules.comparable(
        rules.attach(attached, ARN, attached["DataRetentionInHours"])
    ) == rules.comparable(attached)

    write = rules.detach(
        attached, prior=prior, configuration_arn=ARN, retention_set=rules.our_retention(prior, configured)
    )

    if before is None:
        assert write == rules.Write("delete")
    else:
        assert write == rules.Write("put", before)


@pytest.mark.parametrize("before", _states(), ids=str)
def test_attach_keeps_every_setting_it_does_not_own(rules: ModuleType, before: dict[str, Any] | None) -> None:
    attached = rules.attach(before, ARN, 24)

    if before is not None:
        kept = before.get("StreamingNotificationTargets", [])
        assert attached["StreamingNotificationTargets"][: len(kept)] == kept
        if not before["Disabled"]:
            # Via desired_retention: a longer retention of an enabled stream is never lowered.
            prior = rules.Prior.observe(VC, before)
            assert rules.desired_retention(before, prior, 24) == max(before["DataRetentionInHours"], 24)
    assert [t for t in attached["StreamingNotificationTargets"] if t == EVENTBRIDGE] == [EVENTBRIDGE]
    assert attached["MediaInsightsConfiguration"] == {"Disabled": False, "ConfigurationArn": ARN}
    assert attached["Disabled"] is False


@pytest.mark.parametrize(
    "current",
    [
        None,
        {"DataRetentionInHours": 24, "Disabled": False},
        {
            "DataRetentionInHours": 24,
            "Disabled": False,
            "MediaInsightsConfiguration": {"ConfigurationArn": OTHER},
        },
    ],
)
def test_detach_changes_nothing_that_is_not_attached(
    rules: ModuleType, current: dict[str, Any] | None
) -> None:
    prior = rules.Prior.observe(VC, None)
    assert rules.detach(current, prior=prior, configuration_arn=ARN, retention_set=24) is None


@pytest.mark.parametrize(
    ("change", "relied_on"),
    [
        ({}, False),
        ({"DataRetentionInHours": 25}, True),
        ({"StreamingNotificationTargets": [SQS, EVENTBRIDGE]}, False),  # SQS was there before
        ({"StreamingNotificationTargets": [SQS, EVENTBRIDGE, SNS]}, True),
        ({"StreamingNotificationTargets": [EVENTBRIDGE]}, False),  # a target removed: nobody new
    ],
)
def test_another_tool_relies_on_streaming_when_it_added_a_target_or_set_the_retention(
    rules: ModuleType, change: dict[str, Any], relied_on: bool
) -> None:
    before = {"DataRetentionInHours": 6, "Disabled": True, "StreamingNotificationTargets": [SQS]}
    prior = rules.Prior.observe(VC, before)
    current = {**rules.attach(before, ARN, 24), **change}

    assert rules.others_rely_on_streaming(current, prior, 24) is relied_on
    write = rules.detach(current, prior=prior, configuration_arn=ARN, retention_set=24)
    assert write.configuration["Disabled"] is not relied_on


def test_an_unknown_retention_counts_as_another_tools(rules: ModuleType) -> None:
    prior = rules.Prior.observe(VC, None)
    current = rules.attach(None, ARN, 24)

    assert rules.others_rely_on_streaming(current, prior, None) is True
    assert rules.detach(current, prior=prior, configuration_arn=ARN, retention_set=None) == rules.Write(
        "put", {"DataRetentionInHours": 24, "Disabled": False}
    )


@pytest.mark.parametrize(
    ("physical_id", "targets"),
    [
        (f"{VC}|streaming=off|eventbridge=added|retention=6", None),
        (f"{VC}|streaming=off|eventbridge=added|retention=6|targets=none", ()),
        (f"{VC}|streaming=on|eventbridge=present|retention=6|targets=SNS+SQS", ("SNS", "SQS")),
    ],
)
def test_ids_with_and_without_recorded_targets_parse_and_round_trip(
    rules: ModuleType, physical_id: str, targets: tuple[str, ...] | None
) -> None:
    prior = rules.Prior.parse(physical_id)

    assert prior.targets == targets
    assert prior.physical_id() == physical_id  # an Update returns the ID it was given


@pytest.mark.parametrize(
    "physical_id",
    [
        f"{VC}|streaming=off|eventbridge=added|retention=6|targets=",
        f"{VC}|streaming=off|eventbridge=added|retention=6|targets=SNS+SQS+EventBridge+X",
        f"{VC}|streaming=off|eventbridge=added|retention=6|targets=SNS|x",
    ],
)
def test_malformed_ids_do_not_parse(rules: ModuleType, physical_id: str) -> None:
    assert rules.Prior.parse(physical_id) is None


def test_comparable_reads_omitted_booleans_as_false_and_keeps_none(rules: ModuleType) -> None:
    assert rules.comparable(None) is None
    read = {"DataRetentionInHours": 1, "MediaInsightsConfiguration": {"ConfigurationArn": ARN}}
    written = {
        "DataRetentionInHours": 1,
        "Disabled": False,
        "MediaInsightsConfiguration": {"Disabled": False, "ConfigurationArn": ARN},
    }
    assert rules.comparable(read) == rules.comparable(written)
    assert rules.comparable({}) != rules.comparable(None)
    untouched = copy.deepcopy(read)
    rules.comparable(read)
    assert read == untouched


@pytest.mark.parametrize(
    "configuration",
    [
        None,
        {
            "Disabled": True,
            "StreamingNotificationTargets": [EVENTBRIDGE],
            "MediaInsightsConfiguration": {"ConfigurationArn": ARN},
        },
        {
            "Disabled": False,
            "StreamingNotificationTargets": [SNS],
            "MediaInsightsConfiguration": {"ConfigurationArn": ARN},
        },
        {
            "Disabled": False,
            "StreamingNotificationTargets": [EVENTBRIDGE],
            "MediaInsightsConfiguration": {"Disabled": True, "ConfigurationArn": ARN},
        },
        {
            "Disabled": False,
            "StreamingNotificationTargets": [EVENTBRIDGE],
            "MediaInsightsConfiguration": {"ConfigurationArn": OTHER},
        },
    ],
)
def test_a_configuration_is_attached_only_when_calls_reach_it(
    rules: ModuleType, configuration: dict[str, Any] | None
) -> None:
    assert rules.is_attached(configuration, ARN) is False
