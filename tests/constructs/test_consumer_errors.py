"""Errors a new user meets: each names the prop, what was passed (never an internal class name) and
what to do; alarm actions without alarms; a connector listed twice; one connector, one call leg."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from chime_speaker_search import (
    CallLeg,
    SpeakerSearch,
    VoiceAnalyticsConfiguration,
    VoiceConnector,
)
from tests.conftest import ENV, IMPORTED_IDS

#: What must never reach a user: jsii's proxy classes, the library's private classes, Python reprs.
INTERNAL = re.compile(r"Proxy|_Imported|_VoiceConnector|jsii|object at 0x|<[\w.]+ object|aws_cdk\.")


@pytest.fixture
def stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "S", env=ENV)


def _pbx(stack: cdk.Stack, n: int = 0, id: str | None = None) -> Any:
    return VoiceConnector.from_voice_connector_id(stack, id or f"Pbx{n}", IMPORTED_IDS[n])


def _topic(stack: cdk.Stack, id: str = "Alerts") -> cloudwatch_actions.SnsAction:
    return cloudwatch_actions.SnsAction(sns.Topic(stack, id))


# --- alarm_actions without enable_alarms -----------------------------------------------------------


@pytest.mark.parametrize(("count", "text"), [(1, "1 action given"), (2, "2 actions given")])
def test_alarm_actions_without_enable_alarms_is_refused_with_the_fix(
    stack: cdk.Stack, count: int, text: str
) -> None:
    actions = [_topic(stack, f"T{n}") for n in range(count)]
    with pytest.raises(ValueError, match=rf"^alarm_actions: {text} while enable_alarms is False") as raised:
        SpeakerSearch(stack, "Search", voice_connectors=[_pbx(stack)], alarm_actions=actions)
    assert "pass enable_alarms=True" in str(raised.value)


def test_alarm_actions_with_enable_alarms_act_on_every_alarm(stack: cdk.Stack) -> None:
    search = SpeakerSearch(
        stack, "Search", voice_connectors=[_pbx(stack)], enable_alarms=True, alarm_actions=[_topic(stack)]
    )
    alarms = cdk.assertions.Template.from_stack(stack).find_resources("AWS::CloudWatch::Alarm")
    # dead letters, handler errors, pipeline failures, detached, failed checks, refused inputs
    assert len(alarms) == 6
    assert all(len(alarm["Properties"]["AlarmActions"]) == 1 for alarm in alarms.values())
    assert search.dead_letter_queue_alarm is not None


@pytest.mark.parametrize("enable_alarms", [True, False])
def test_no_alarm_actions_is_fine_either_way(stack: cdk.Stack, enable_alarms: bool) -> None:
    SpeakerSearch(
        stack, "Search", voice_connectors=[_pbx(stack)], enable_alarms=enable_alarms, alarm_actions=[]
    )
    alarms = cdk.assertions.Template.from_stack(stack).find_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == (6 if enable_alarms else 0)


# --- a connector listed twice ----------------------------------------------------------------------


def test_the_same_construct_twice_names_both_positions(stack: cdk.Stack) -> None:
    pbx, other = _pbx(stack, 0), _pbx(stack, 1)
    with pytest.raises(
        ValueError,
        match=rf"^voice_connectors: voice_connectors\[0\] and voice_connectors\[2\] are the same Voice "
        rf"Connector \('{IMPORTED_IDS[0]}' \(construct 'S/Pbx0'\)\); list each connector once$",
    ):
        SpeakerSearch(stack, "Search", voice_connectors=[pbx, other, pbx])


def test_one_connector_imported_twice_is_the_same_connector(stack: cdk.Stack) -> None:
    by_id = _pbx(stack, 0)
    by_arn = VoiceConnector.from_voice_connector_arn(
        stack, "ByArn", f"arn:aws:chime:us-east-1:111122223333:vc/{IMPORTED_IDS[0]}"
    )
    with pytest.raises(ValueError, match=r"voice_connectors\[1\] and voice_connectors\[2\] are the same"):
        VoiceAnalyticsConfiguration(
            stack,
            "C",
            voice_connectors=[_pbx(stack, 1), by_id, by_arn],
            notification_queue=sqs.Queue(stack, "Q"),
        )


def test_a_created_connector_twice_is_named_by_its_path(stack: cdk.Stack) -> None:
    created = VoiceConnector(stack, "Created")
    with pytest.raises(ValueError, match=r"\[0\] and voice_connectors\[1\] are .*\(construct 'S/Created'\)"):
        SpeakerSearch(stack, "Search", voice_connectors=[created, created])


def test_distinct_connectors_are_accepted(stack: cdk.Stack) -> None:
    search = SpeakerSearch(
        stack, "Search", voice_connectors=[_pbx(stack, 0), _pbx(stack, 1), VoiceConnector(stack, "C")]
    )
    assert len(search.voice_connectors) == 3


# --- one connector, one configuration, one call leg ------------------------------------------------


def test_a_second_search_of_the_other_leg_is_refused_without_a_false_fix(stack: cdk.Stack) -> None:
    pbx = _pbx(stack, 0)
    SpeakerSearch(stack, "CallerSearch", voice_connectors=[pbx], call_leg=CallLeg.CALLER)
    with pytest.raises(ValueError, match="is already associated") as raised:
        SpeakerSearch(
            stack, "CalleeSearch", voice_connectors=[_pbx(stack, 0, "Again")], call_leg=CallLeg.CALLEE
        )
    message = str(raised.value)
    assert message.startswith(f"voice_connectors: Voice Connector '{IMPORTED_IDS[0]}' (construct 'S/Again')")
    assert "'S/CallerSearch/Configuration'" in message
    # What is possible (more consumers of the searched leg) and what is not (the other leg).
    assert "on_speaker_search_result" in message
    assert "other leg of the same connector's calls as well is not possible" in message
    # The old advice, "share one SpeakerSearch", cannot give the other leg.
    assert "Share one SpeakerSearch" not in message


def test_adding_a_connector_twice_to_one_search_says_so(stack: cdk.Stack) -> None:
    search = SpeakerSearch(stack, "Search", voice_connectors=[_pbx(stack, 0)])
    with pytest.raises(
        ValueError, match=r"is already served by this configuration \('S/Search/Configuration'\)"
    ):
        search.add_voice_connector(_pbx(stack, 0, "Again"))


# --- never an internal class name ------------------------------------------------------------------


def _search(stack: cdk.Stack, **kwargs: Any) -> SpeakerSearch:
    return SpeakerSearch(stack, "Search", voice_connectors=[_pbx(stack)], **kwargs)


#: Error paths that format what the user passed: (name, call, expected start of the message).
CASES: list[tuple[str, Callable[[cdk.Stack], object], str]] = [
    (
        "an imported connector instead of a list",
        lambda s: SpeakerSearch(s, "X", voice_connectors=_pbx(s)),
        "voice_connectors: got a single Voice Connector (the construct 'S/Pbx0')",
    ),
    (
        "a key in the list",
        lambda s: SpeakerSearch(s, "X", voice_connectors=[kms.Key(s, "Key")]),
        "voice_connectors[0]: got the construct 'S/Key'",
    ),
    (
        "an imported event bus (a jsii interface proxy) in the list",
        lambda s: SpeakerSearch(
            s, "X", voice_connectors=[events.EventBus.from_event_bus_name(s, "Bus", "b")]
        ),
        "voice_connectors[0]: got the construct 'S/Bus'",
    ),
    (
        "a dict instead of a list",
        lambda s: VoiceAnalyticsConfiguration(s, "X", voice_connectors={"a": 1}),  # type: ignore[arg-type]
        "voice_connectors: got a dict; expected a list of IVoiceConnector",
    ),
    (
        "a number",
        lambda s: VoiceAnalyticsConfiguration(s, "X", voice_connectors=3),  # type: ignore[arg-type]
        "voice_connectors: got the number 3",
    ),
    (
        "a plain object",
        lambda s: _search(s).add_voice_connector(object()),  # type: ignore[arg-type]
        "voice_connector: got an object that is not a construct",
    ),
    (
        "an imported alias (a jsii interface proxy) as key",
        lambda s: _search(s, encryption_key=kms.Alias.from_alias_name(s, "Alias", "alias/x")),
        "encryption_key: the construct 'S/Alias' is a KMS alias",
    ),
    (
        "a construct as call leg",
        lambda s: _search(s, call_leg=kms.Key(s, "Leg")),
        "call_leg: the construct 'S/Leg' is not a call leg",
    ),
    (
        "an enum member as call leg",
        lambda s: _search(s, call_leg=cdk.RemovalPolicy.RETAIN),
        "call_leg: RemovalPolicy.RETAIN is not a call leg",
    ),
    (
        "an object as metric status",
        lambda s: _search(s).metric_results(status=object()),  # type: ignore[arg-type]
        "status: an object that is not a construct is not allowed",
    ),
    (
        "a construct as request source",
        lambda s: _search(s, require_consent=True, request_source=sqs.Queue(s, "Source")),
        "request_source: got the construct 'S/Source'",
    ),
    (
        "a group as consent sender",
        lambda s: _search(s, require_consent=True).grant_send_consent(iam.Group(s, "Group")),
        "grant_send_consent: the grantee (construct 'S/Group') is an AWS principal, not a role or user",
    ),
    (
        "a service principal as consent sender",
        lambda s: _search(s, require_consent=True).grant_send_consent(
            iam.ServicePrincipal("x.amazonaws.com")
        ),
        "grant_send_consent: the grantee is a service principal, not a role or user",
    ),
    (
        "an account as consent sender",
        lambda s: _search(s, require_consent=True).grant_send_consent(iam.AccountPrincipal("111122223333")),
        "grant_send_consent: the grantee is an account principal, not a role or user",
    ),
]


@pytest.mark.parametrize(("name", "call", "start"), CASES, ids=[c[0] for c in CASES])
def test_errors_name_what_was_passed_never_an_internal_class(
    stack: cdk.Stack, name: str, call: Callable[[cdk.Stack], object], start: str
) -> None:
    with pytest.raises((TypeError, ValueError)) as raised:
        call(stack)
    message = str(raised.value)
    assert message.startswith(start), message
    assert not INTERNAL.search(message), message


def test_the_internal_name_check_can_fail() -> None:
    leaks = [
        "got InterfaceDynamicProxy",
        "got _ImportedVoiceConnector",
        "<jsii._reference_map.InterfaceDynamicProxy object at 0x7f>",
        "<aws_cdk.aws_kms.Key object at 0x7f>",
    ]
    assert all(INTERNAL.search(leak) for leak in leaks)
