"""The API a CDK user expects: current grants, metric options, rule patterns, type checks, importers."""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs

from chime_speaker_search import (
    SpeakerSearch,
    VoiceAnalyticsConfiguration,
    VoiceConnector,
    VoiceProfileDomain,
)
from tests.conftest import ENV, IMPORTED_IDS
from tests.support import REPO_ROOT

ARN = f"arn:aws:chime:us-east-1:111122223333:vc/{IMPORTED_IDS[3]}"
DOMAIN_ARN = "arn:aws:chime:us-east-1:111122223333:voice-profile-domain/3f3b5b3e-4c2a-4d6b-9a55-2c1b8f0e7a10"


@pytest.fixture
def stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "S", env=ENV)


def _search(stack: cdk.Stack, **kwargs: Any) -> SpeakerSearch:
    pbx = VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])
    return SpeakerSearch(stack, "Search", voice_connectors=[pbx], **kwargs)


def _statement_resources(template: dict[str, Any], action: str) -> list[Any]:
    found: list[Any] = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if action in actions:
                resources = statement["Resource"]
                found.extend(resources if isinstance(resources, list) else [resources])
    return found


# --- grants stay current -------------------------------------------------------------------------


def test_grants_made_before_add_voice_connector_cover_the_connector_added_later(stack: cdk.Stack) -> None:
    search = _search(stack)
    reader = iam.Role(stack, "Reader", assumed_by=iam.AccountRootPrincipal())
    enroller = iam.Role(stack, "Enroller", assumed_by=iam.AccountRootPrincipal())
    search.grant_read_results(reader)
    search.grant_enroll_voice_profiles(enroller)
    search.add_voice_connector(VoiceConnector.from_voice_connector_id(stack, "Later", IMPORTED_IDS[1]))
    template = assertions.Template.from_stack(stack).to_json()
    later = stack.resolve(stack.format_arn(service="chime", resource="vc", resource_name=IMPORTED_IDS[1]))
    first = stack.resolve(stack.format_arn(service="chime", resource="vc", resource_name=IMPORTED_IDS[0]))
    readable = _statement_resources(template, "chime:GetSpeakerSearchTask")
    # Once for the reader, once for the enroller: each sees both connectors.
    assert readable.count(later) == 2
    assert readable.count(first) == 2


# --- metric options ------------------------------------------------------------------------------


def test_metric_methods_accept_the_usual_metric_options(stack: cdk.Stack) -> None:
    search = _search(stack)
    five = cdk.Duration.minutes(5)
    failed = search.metric_failed_starts(statistic="Average", period=cdk.Duration.minutes(1), label="starts")
    assert (failed.statistic, failed.period.to_minutes(), failed.label) == ("Average", 1, "starts")
    assert failed.dimensions == {"SearchId": search.search_id}
    depth = search.metric_dead_letter_queue_depth(statistic="p99", color="#ff0000")
    assert (depth.statistic, depth.color, depth.period.to_minutes()) == ("p99", "#ff0000", 1)
    errors = search.metric_handler_errors(period=cdk.Duration.hours(1))
    assert (errors.statistic, errors.period.to_hours()) == ("Sum", 1)
    # Defaults stay when no option is given.
    assert search.metric_failed_starts().period.to_seconds() == five.to_seconds()
    assert search.metric_dead_letter_queue_depth().statistic == "Maximum"
    # The consent and enrollment metrics take the same options.
    declined = search.metric_calls_not_searched(reason="ended", statistic="SampleCount", label="late")
    assert (declined.statistic, declined.label, declined.dimensions["Status"]) == (
        "SampleCount",
        "late",
        "ended",
    )
    assert search.metric_voice_profiles_enrolled(period=cdk.Duration.hours(1)).period.to_hours() == 1


def test_an_unknown_metric_option_names_itself_and_the_allowed_ones(stack: cdk.Stack) -> None:
    search = _search(stack)
    with pytest.raises(TypeError, match=r"unexpected metric option\(s\) stat; .* are .*statistic"):
        search.metric_handler_errors(stat="Sum")


# --- on_* merges a user's event_pattern ----------------------------------------------------------


def test_on_speaker_search_result_merges_a_users_event_pattern(stack: cdk.Stack) -> None:
    search = _search(stack)
    rule = search.on_speaker_search_result(
        "Matches",
        event_pattern=events.EventPattern(
            source=["chime-speaker-search"],
            detail={"status": ["IdentificationSuccessful"]},
            region=["us-east-1"],
        ),
    )
    rules = assertions.Template.from_stack(stack).find_resources("AWS::Events::Rule")
    pattern = rules[stack.get_logical_id(rule.node.default_child)]["Properties"]["EventPattern"]
    assert pattern["source"] == ["chime-speaker-search"]
    assert pattern["detail-type"] == ["Speaker Search Result"]
    assert pattern["region"] == ["us-east-1"]
    assert pattern["detail"]["status"] == ["IdentificationSuccessful"]
    assert pattern["detail"]["searchId"] == [search.search_id]


def test_on_voice_tone_result_merges_a_users_event_pattern(stack: cdk.Stack) -> None:
    search = _search(stack)
    rule = search.on_voice_tone_result(
        "Negative", event_pattern=events.EventPattern(detail={"overall": {"label": ["NEGATIVE"]}})
    )
    rules = assertions.Template.from_stack(stack).find_resources("AWS::Events::Rule")
    pattern = rules[stack.get_logical_id(rule.node.default_child)]["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["Voice Tone Analysis Result"]
    assert pattern["detail"] == {"overall": {"label": ["NEGATIVE"]}, "searchId": [search.search_id]}


@pytest.mark.parametrize(
    ("pattern", "field"),
    [
        (events.EventPattern(source=["aws.chime"]), "source"),
        (events.EventPattern(detail_type=["Other"]), "detail_type"),
        (events.EventPattern(detail={"searchId": ["someone-else"]}), r"detail\.searchId"),
    ],
)
def test_on_speaker_search_result_refuses_a_pattern_that_matches_nothing(
    stack: cdk.Stack, pattern: events.EventPattern, field: str
) -> None:
    search = _search(stack)
    with pytest.raises(ValueError, match=rf"event_pattern: {field} .* would match nothing"):
        search.on_speaker_search_result("Bad", event_pattern=pattern)


# --- keys refuse aliases -------------------------------------------------------------------------


def _aliases(stack: cdk.Stack) -> dict[str, kms.IKey]:
    key = kms.Key(stack, "Key")
    return {
        "imported alias": kms.Alias.from_alias_name(stack, "Imported", "alias/speaker-search"),
        "created alias": kms.Alias(stack, "Created", alias_name="alias/created", target_key=key),
        "alias ARN": kms.Key.from_key_arn(stack, "ByArn", "arn:aws:kms:us-east-1:111122223333:alias/x"),
    }


@pytest.mark.parametrize("kind", ["imported alias", "created alias", "alias ARN"])
@pytest.mark.parametrize("construct", ["SpeakerSearch", "VoiceProfileDomain", "VoiceAnalyticsConfiguration"])
def test_every_key_prop_refuses_an_alias(stack: cdk.Stack, kind: str, construct: str) -> None:
    alias = _aliases(stack)[kind]
    build = {
        "SpeakerSearch": lambda: _search(stack, encryption_key=alias),
        "VoiceProfileDomain": lambda: VoiceProfileDomain(stack, "Domain", encryption_key=alias),
        "VoiceAnalyticsConfiguration": lambda: VoiceAnalyticsConfiguration(stack, "C", encryption_key=alias),
    }[construct]
    with pytest.raises(ValueError, match=r"^encryption_key: .*alias"):
        build()


def test_a_key_is_accepted(stack: cdk.Stack) -> None:
    key = kms.Key.from_key_arn(
        stack, "K", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    search = _search(stack, encryption_key=key)
    assert stack.resolve(search.queue.encryption_master_key.key_arn) == key.key_arn  # type: ignore[union-attr]


# --- voice_connectors of the wrong type ----------------------------------------------------------


def test_one_connector_instead_of_a_list_names_the_prop_and_the_fix(stack: cdk.Stack) -> None:
    pbx = VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])
    with pytest.raises(
        TypeError, match=r"^voice_connectors: got a single .*expected a list of IVoiceConnector"
    ):
        SpeakerSearch(stack, "Search", voice_connectors=pbx)  # type: ignore[arg-type]


def test_connector_ids_instead_of_connectors_point_to_the_importer(stack: cdk.Stack) -> None:
    with pytest.raises(
        TypeError, match=r"^voice_connectors\[0\]: 'abcdef.*' is a string; .*from_voice_connector_id"
    ):
        SpeakerSearch(stack, "Search", voice_connectors=[IMPORTED_IDS[0]])  # type: ignore[list-item]


@pytest.mark.parametrize("value", [None, IMPORTED_IDS[0], 3])
def test_a_non_list_names_the_prop_and_the_expected_type(stack: cdk.Stack, value: object) -> None:
    with pytest.raises(TypeError, match=r"^voice_connectors: got .*expected a list of IVoiceConnector"):
        VoiceAnalyticsConfiguration(stack, "Configuration", voice_connectors=value)  # type: ignore[arg-type]


def test_add_voice_connector_names_its_argument(stack: cdk.Stack) -> None:
    search = _search(stack)
    with pytest.raises(TypeError, match=r"^voice_connector: 'abc' is a string"):
        search.add_voice_connector("abc")  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"^voice_connector: got the construct 'S/NotAConnector'; expected an IVoiceConnector"
    ):
        search.add_voice_connector(kms.Key(stack, "NotAConnector"))  # type: ignore[arg-type]


# --- importers by ARN ----------------------------------------------------------------------------


def test_from_voice_connector_arn(stack: cdk.Stack) -> None:
    pbx = VoiceConnector.from_voice_connector_arn(stack, "Pbx", ARN)
    assert (pbx.voice_connector_id, pbx.voice_connector_arn) == (IMPORTED_IDS[3], ARN)
    search = SpeakerSearch(stack, "Search", voice_connectors=[pbx])
    template = assertions.Template.from_stack(stack)
    template.has_resource_properties(
        "Custom::ChimeVoiceConnectorStreamingAssociation", {"VoiceConnectorId": IMPORTED_IDS[3]}
    )
    assert ARN in _statement_resources(template.to_json(), "chime:StartSpeakerSearchTask")
    # The same connector imported by ID is recognised as the same one.
    with pytest.raises(ValueError, match="is already served by this configuration"):
        search.add_voice_connector(VoiceConnector.from_voice_connector_id(stack, "Again", IMPORTED_IDS[3]))


@pytest.mark.parametrize(
    "arn",
    [
        "abcdef1ghij2klmno3pqr4",
        "arn:aws:chime:us-east-1:111122223333:voice-profile-domain/abc",
        "arn:aws:sqs:us-east-1:111122223333:vc/abc",
    ],
)
def test_from_voice_connector_arn_refuses_another_arn(stack: cdk.Stack, arn: str) -> None:
    with pytest.raises(ValueError, match=r"^voice_connector_arn: .* expected arn:<partition>:chime:.*:vc/"):
        VoiceConnector.from_voice_connector_arn(stack, "Pbx", arn)


def test_an_arn_of_another_region_warns(stack: cdk.Stack) -> None:
    VoiceConnector.from_voice_connector_arn(stack, "Pbx", ARN.replace("us-east-1", "us-west-2"))
    VoiceProfileDomain.from_voice_profile_domain_arn(stack, "D", DOMAIN_ARN.replace("us-east-1", "us-west-2"))
    warnings = assertions.Annotations.from_stack(stack).find_warning(
        "*", assertions.Match.string_like_regexp("is in us-west-2, but this stack is in us-east-1")
    )
    assert len(warnings) == 2


def test_importers_accept_a_deploy_time_arn(stack: cdk.Stack) -> None:
    connector_arn = cdk.CfnParameter(stack, "ConnectorArn").value_as_string
    domain_arn = cdk.CfnParameter(stack, "DomainArn").value_as_string
    pbx = VoiceConnector.from_voice_connector_arn(stack, "Pbx", connector_arn)
    domain = VoiceProfileDomain.from_voice_profile_domain_arn(stack, "Domain", domain_arn)
    SpeakerSearch(stack, "Search", voice_connectors=[pbx], voice_profile_domain=domain)
    template = assertions.Template.from_stack(stack)
    template.has_resource_properties(
        "Custom::ChimeVoiceConnectorStreamingAssociation",
        {
            "VoiceConnectorId": {
                "Fn::Select": [1, {"Fn::Split": ["/", {"Fn::Select": [5, assertions.Match.any_value()]}]}]
            }
        },
    )


def test_from_voice_profile_domain_arn(stack: cdk.Stack) -> None:
    domain = VoiceProfileDomain.from_voice_profile_domain_arn(stack, "Domain", DOMAIN_ARN)
    assert domain.voice_profile_domain_id == "3f3b5b3e-4c2a-4d6b-9a55-2c1b8f0e7a10"
    assert domain.voice_profile_domain_arn == DOMAIN_ARN
    # An imported domain's key is unknown: there is no encryption_key attribute to misuse.
    assert not hasattr(domain, "encryption_key")
    with pytest.raises(
        ValueError, match=r"^voice_profile_domain_arn: 'arn:aws:chime:us-east-1:111122223333:vc/x'"
    ):
        VoiceProfileDomain.from_voice_profile_domain_arn(
            stack, "Bad", "arn:aws:chime:us-east-1:111122223333:vc/x"
        )


# --- log retention -------------------------------------------------------------------------------


def test_log_groups_keep_a_year_by_default_and_log_retention_sets_the_handlers(stack: cdk.Stack) -> None:
    search = _search(stack, log_retention=logs.RetentionDays.TWO_YEARS)
    log_groups = assertions.Template.from_stack(stack).find_resources("AWS::Logs::LogGroup")
    handler_logs = stack.get_logical_id(search.handler.log_group.node.default_child)  # type: ignore[arg-type]
    retention = {name: group["Properties"]["RetentionInDays"] for name, group in log_groups.items()}
    assert retention.pop(handler_logs) == 731
    assert retention
    assert set(retention.values()) == {365}


# --- the README's attributes are the classes' ----------------------------------------------------


def _readme_attributes(section: str) -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    body = text.split(f"### `{section}`", 1)[1].split("\n### ", 1)[0]
    sentence = body.split("Attributes", 1)[1].split("\n\n", 1)[0]
    sentence = re.split(r"Methods:|Consent and enrollment:|; `grant|`grant\(", sentence)[0]
    sentence = re.sub(r"\([^)]*\)", "", sentence)  # asides such as "(the alarms are None unless ...)"
    return re.findall(r"`([a-z_]+)`", sentence)


def test_readme_attributes_match_each_class(stack: cdk.Stack) -> None:
    search = _search(stack, enable_alarms=True)
    created = VoiceConnector(stack, "Created")
    imported_connector = VoiceConnector.from_voice_connector_arn(stack, "ByArn", ARN)
    imported_domain = VoiceProfileDomain.from_voice_profile_domain_arn(stack, "Domain", DOMAIN_ARN)
    cases: dict[str, list[object]] = {
        "SpeakerSearch": [search],
        "VoiceConnector` / `IVoiceConnector": [created, imported_connector],
        "VoiceProfileDomain` / `IVoiceProfileDomain": [search.voice_profile_domain, imported_domain],
        "VoiceAnalyticsConfiguration": [search.configuration],
    }
    for section, instances in cases.items():
        names = _readme_attributes(section)
        assert len(names) >= 2, section
        for instance in instances:
            missing = [n for n in names if not hasattr(instance, n) and n != "encryption_key"]
            assert missing == [], (section, type(instance).__name__, missing)
    # The one documented difference: only a created domain has its key.
    assert "encryption_key" in _readme_attributes("VoiceProfileDomain` / `IVoiceProfileDomain")
    assert hasattr(search.voice_profile_domain, "encryption_key")
    assert not hasattr(imported_domain, "encryption_key")
