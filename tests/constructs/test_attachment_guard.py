"""The attachment guard in the template: one function per stack, one schedule per search whose input names
only the search, an environment that lists what the function may touch, exact IAM, the bus perimeter,
ordering against the streaming associations, the interval prop's edges and the 4 KB environment limit."""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import pytest

from chime_speaker_search import CONFIGURATION_DETACHED_DETAIL_TYPE, SpeakerSearch, VoiceConnector
from chime_speaker_search.attachment_guard import ENVIRONMENT_BUDGET, AttachmentGuard
from tests.conftest import ENV, IMPORTED_IDS, Synthesized, synthesize
from tests.support import LAMBDA_ROOT, add_handler_paths, import_path


def _two_searches(stack: cdk.Stack) -> dict[str, Any]:
    first = SpeakerSearch(
        stack,
        "First",
        voice_connectors=[VoiceConnector.from_voice_connector_id(stack, "Pbx0", IMPORTED_IDS[0])],
        require_consent=True,  # its own bus, with the perimeter
        streaming_data_retention=cdk.Duration.hours(48),
    )
    created = VoiceConnector(stack, "Created")
    first.add_voice_connector(created)  # added later: checked and allowed too
    second = SpeakerSearch(
        stack,
        "Second",
        voice_connectors=[VoiceConnector.from_voice_connector_id(stack, "Pbx1", IMPORTED_IDS[1])],
        repair_detached_configuration=False,
        attachment_check_interval=cdk.Duration.minutes(15),
        enable_alarms=True,
    )
    second.on_configuration_detached("Detached")
    return {"first": first, "second": second, "created": created}


@pytest.fixture(scope="module")
def two() -> Synthesized:
    return synthesize(_two_searches)


def _guard_function(synth: Synthesized) -> tuple[str, dict[str, Any]]:
    [(logical_id, function)] = [
        (k, v)
        for k, v in synth.resources("AWS::Lambda::Function").items()
        if k.startswith("ChimeSpeakerSearchAttachmentGuardFunction")
    ]
    return logical_id, function


def _schedules(synth: Synthesized) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in synth.resources("AWS::Events::Rule").items() if "AttachmentCheckSchedule" in k}


def _statements(synth: Synthesized, role_prefix: str) -> list[dict[str, Any]]:
    [role] = [k for k in synth.resources("AWS::IAM::Role") if k.startswith(role_prefix)]
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _environment(synth: Synthesized) -> dict[str, Any]:
    """GUARD_SEARCHES with each deploy-time token replaced by a recognisable stand-in."""
    _, function = _guard_function(synth)
    return dict(json.loads(_rendered(function["Properties"]["Environment"]["Variables"]["GUARD_SEARCHES"])))


def _rendered(value: Any) -> str:
    """A string of the template (a literal or an Fn::Join) with stand-ins for its tokens."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_rendered(part) for part in parts)
    if value == {"Ref": "AWS::Partition"}:
        return "aws"
    if "Ref" in value:
        return f"ref:{value['Ref']}"
    logical_id, attribute = value["Fn::GetAtt"]
    return f"{attribute}-of-{logical_id}"[:128]


def test_one_function_for_every_search_of_the_stack(two: Synthesized) -> None:
    _, function = _guard_function(two)
    props = function["Properties"]
    assert (props["Handler"], props["Runtime"], props["Architectures"]) == (
        "index.handler",
        "python3.14",
        ["arm64"],
    )
    assert props["Timeout"] == 120
    [invoke_config] = two.resources("AWS::Lambda::EventInvokeConfig").values()
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == 0  # the next check is the retry


def test_each_search_has_a_schedule_whose_input_names_only_the_search(two: Synthesized) -> None:
    first, second = two.constructs["first"], two.constructs["second"]
    logical_id, _ = _guard_function(two)
    by_search = {}
    for rule in _schedules(two).values():
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [logical_id, "Arn"]}
        assert "EventBusName" not in rule["Properties"]
        by_search[json.loads(target["Input"])["searchId"]] = (rule["Properties"], target)
        assert set(json.loads(target["Input"])) == {"searchId"}
    assert set(by_search) == {first.search_id, second.search_id}
    assert by_search[first.search_id][0]["ScheduleExpression"] == "rate(5 minutes)"
    assert by_search[second.search_id][0]["ScheduleExpression"] == "rate(15 minutes)"
    # A check that could not be delivered within its interval is superseded by the next one.
    assert by_search[second.search_id][1]["RetryPolicy"]["MaximumEventAgeInSeconds"] == 900
    assert first.attachment_check_rule is not None


def test_the_environment_lists_each_search_its_connectors_and_what_to_attach(two: Synthesized) -> None:
    first, second = two.constructs["first"], two.constructs["second"]
    environment = _environment(two)
    entries = {entry["id"]: entry for entry in environment["searches"]}
    created_id = two.stack.get_logical_id(two.constructs["created"].node.default_child)
    bus_id = two.stack.get_logical_id(first.event_bus.node.default_child)
    assert entries[first.search_id]["vcs"] == [IMPORTED_IDS[0], f"VoiceConnectorId-of-{created_id}"]
    assert (entries[first.search_id]["hours"], entries[first.search_id]["repair"]) == (48, True)
    assert entries[first.search_id]["bus"] == f"ref:{bus_id}"
    assert entries[second.search_id]["vcs"] == [IMPORTED_IDS[1]]
    assert (entries[second.search_id]["repair"], entries[second.search_id]["bus"]) == (False, "default")
    # What the guard compares with is exactly the configuration's ARN (what the associations attach).
    for search in (first, second):
        arn = _rendered(two.stack.resolve(search.configuration.configuration_arn))
        assert environment["prefix"] + entries[search.search_id]["name"] == arn
    # And the handler reads the variable as written.
    add_handler_paths("attachment_guard")
    searches = import_path("guard_searches", LAMBDA_ROOT / "attachment_guard" / "guard_searches.py")
    parsed = searches.parse(json.dumps(environment))
    assert set(parsed) == {first.search_id, second.search_id}
    assert parsed[first.search_id].configuration_arn == _rendered(
        two.stack.resolve(first.configuration.configuration_arn)
    )


def test_the_role_reads_and_writes_exactly_the_served_connectors(two: Synthesized) -> None:
    statements = _statements(two, "ChimeSpeakerSearchAttachmentGuardFunctionRole")
    [connectors] = [s for s in statements if "chime:GetVoiceConnectorStreamingConfiguration" in s["Action"]]
    assert sorted(connectors["Action"]) == [
        "chime:GetVoiceConnectorStreamingConfiguration",
        "chime:PutVoiceConnectorStreamingConfiguration",
    ]
    resources = two.stack.resolve(connectors["Resource"])
    created_id = two.stack.get_logical_id(two.constructs["created"].node.default_child)
    rendered = json.dumps(resources)
    for imported in IMPORTED_IDS[:2]:
        assert f":vc/{imported}" in rendered
    assert {"Fn::GetAtt": [created_id, "VoiceConnectorArn"]} in resources
    assert len(resources) == 3 and "*" not in rendered
    # Never Delete: the guard only reads and writes back.
    assert not any("Delete" in json.dumps(s["Action"]) for s in statements)


def test_the_role_may_put_only_with_the_searches_configurations(two: Synthesized) -> None:
    statements = _statements(two, "ChimeSpeakerSearchAttachmentGuardFunctionRole")
    [configurations] = [
        s for s in statements if "chime:GetMediaInsightsPipelineConfiguration" in json.dumps(s["Action"])
    ]
    rendered = json.dumps(configurations["Resource"])
    assert rendered.count("media-insights-pipeline-configuration/") == 2 and "*" not in rendered


def test_the_role_publishes_only_its_own_event(two: Synthesized) -> None:
    statements = _statements(two, "ChimeSpeakerSearchAttachmentGuardFunctionRole")
    [publish] = [s for s in statements if s["Action"] == "events:PutEvents"]
    assert publish["Condition"] == {
        "StringEquals": {
            "events:source": "chime-speaker-search",
            "events:detail-type": CONFIGURATION_DETACHED_DETAIL_TYPE,
        }
    }
    bus_id = two.stack.get_logical_id(two.constructs["first"].event_bus.node.default_child)
    assert {"Fn::GetAtt": [bus_id, "Arn"]} in publish["Resource"]
    assert any("event-bus/default" in json.dumps(r) for r in publish["Resource"])


def test_the_guard_joins_the_publishers_of_a_protected_bus(two: Synthesized) -> None:
    [results] = [
        v["Properties"]["Statement"]
        for k, v in two.resources("AWS::Events::EventBusPolicy").items()
        if "ResultsPerimeter" in k
    ]
    [role] = [
        k
        for k in two.resources("AWS::IAM::Role")
        if k.startswith("ChimeSpeakerSearchAttachmentGuardFunctionRole")
    ]
    assert {"Fn::GetAtt": [role, "Arn"]} in results["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]


def test_schedules_and_function_come_after_the_associations_and_go_before_them(two: Synthesized) -> None:
    """A check that ran before an association attached the configuration would attach it itself, and the
    association would record that as the connector's own state; at delete, the guard goes first."""
    associations = {
        k
        for k, v in two.template["Resources"].items()
        if v["Type"] == "Custom::ChimeVoiceConnectorStreamingAssociation"
    }
    assert len(associations) == 3
    _, function = _guard_function(two)
    assert associations <= set(function["DependsOn"])
    first, second = two.constructs["first"], two.constructs["second"]
    for search in (first, second):
        schedule_id = two.stack.get_logical_id(search.attachment_check_rule.node.default_child)
        depends = set(two.template["Resources"][schedule_id]["DependsOn"])
        own = {a for a in associations if a.startswith(search.node.id)}
        assert own and own <= depends and not (associations - own) & depends


def test_on_configuration_detached_matches_only_this_searchs_events(two: Synthesized) -> None:
    second = two.constructs["second"]
    [rule] = [v["Properties"] for k, v in two.resources("AWS::Events::Rule").items() if "Detached" in k]
    assert rule["EventPattern"] == {
        "source": ["chime-speaker-search"],
        "detail-type": [CONFIGURATION_DETACHED_DETAIL_TYPE],
        "detail": {"searchId": [second.search_id]},
    }


@pytest.mark.parametrize(
    ("interval", "expression"),
    [
        (cdk.Duration.minutes(1), "rate(1 minute)"),
        (cdk.Duration.days(1), "rate(1 day)"),
        (cdk.Duration.hours(2), "rate(2 hours)"),
    ],
    ids=["one-minute", "one-day", "two-hours"],
)
def test_the_interval_at_its_edges(interval: cdk.Duration, expression: str) -> None:
    stack = cdk.Stack(cdk.App(), "Edges", env=ENV)
    search = SpeakerSearch(
        stack,
        "S",
        voice_connectors=[VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])],
        attachment_check_interval=interval,
    )
    rule = stack.resolve(search.attachment_check_rule.node.default_child.schedule_expression)  # type: ignore[union-attr]
    assert rule == expression


@pytest.mark.parametrize(
    "interval",
    [cdk.Duration.seconds(59), cdk.Duration.seconds(90), cdk.Duration.minutes(1441), cdk.Duration.days(2)],
    ids=["under-a-minute", "not-whole-minutes", "just-over-a-day", "two-days"],
)
def test_an_interval_out_of_range_is_refused_naming_the_prop(interval: cdk.Duration) -> None:
    stack = cdk.Stack(cdk.App(), "Refused", env=ENV)
    with pytest.raises(
        ValueError, match=r"^attachment_check_interval: .* expected whole minutes, 1 minute to 1 day"
    ):
        SpeakerSearch(
            stack,
            "S",
            voice_connectors=[VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])],
            attachment_check_interval=interval,
        )


def test_an_interval_token_is_refused() -> None:
    stack = cdk.Stack(cdk.App(), "Token", env=ENV)
    minutes = cdk.CfnParameter(stack, "Minutes", type="Number").value_as_number
    with pytest.raises(ValueError, match=r"^attachment_check_interval: a deploy-time token"):
        SpeakerSearch(
            stack,
            "S",
            voice_connectors=[VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])],
            attachment_check_interval=cdk.Duration.minutes(minutes),
        )


def _searches_on(stack: cdk.Stack, searches: int, connectors: int) -> list[SpeakerSearch]:
    return [
        SpeakerSearch(
            stack,
            f"S{s}",
            voice_connectors=[
                VoiceConnector.from_voice_connector_id(stack, f"Pbx{s}x{c}", f"{s:03d}{c:04d}ghij2klmno3pqr4")
                for c in range(connectors)
            ],
        )
        for s in range(searches)
    ]


def _guard_of(stack: cdk.Stack) -> AttachmentGuard:
    guard = stack.node.find_child(AttachmentGuard.CONSTRUCT_ID)
    assert isinstance(guard, AttachmentGuard)
    return guard


def test_an_environment_that_would_not_fit_4_kb_fails_the_synth_with_what_to_do() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Big", env=ENV)
    _searches_on(stack, 1, 160)
    assert _guard_of(stack).estimated_environment_size() > ENVIRONMENT_BUDGET
    with pytest.raises(RuntimeError, match=r"attachment guard's list of 1 searches and 160 Voice Connectors"):
        app.synth()


def test_the_estimate_is_at_least_the_deployed_length_and_a_large_stack_fits() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Large", env=ENV)
    _searches_on(stack, 1, 135)
    size = _guard_of(stack).estimated_environment_size()
    assert size <= ENVIRONMENT_BUDGET  # 135 connectors on one search fit
    template = app.synth().get_stack_by_name("Large").template
    [value] = [
        r["Properties"]["Environment"]["Variables"]["GUARD_SEARCHES"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and "GUARD_SEARCHES" in json.dumps(r)
    ]
    # The one deploy-time value is the partition, of the prefix: at most "aws-iso-b" once deployed.
    [token] = [p for p in value["Fn::Join"][1] if not isinstance(p, str)]
    assert token == {"Ref": "AWS::Partition"}
    literal = sum(len(p) for p in value["Fn::Join"][1] if isinstance(p, str))
    assert len("GUARD_SEARCHES") + literal + len("aws-iso-b") <= size


def test_ten_searches_with_fifty_connectors_fit() -> None:
    stack = cdk.Stack(cdk.App(), "Ten", env=ENV)
    _searches_on(stack, 10, 5)
    assert _guard_of(stack).estimated_environment_size() <= ENVIRONMENT_BUDGET


def test_two_searches_of_a_hundred_connectors_do_not_fit() -> None:
    stack = cdk.Stack(cdk.App(), "TwoHundred", env=ENV)
    _searches_on(stack, 2, 100)
    assert _guard_of(stack).estimated_environment_size() > ENVIRONMENT_BUDGET


def test_the_guard_is_the_same_for_every_search_and_counts_in_the_budget(many: Synthesized) -> None:
    functions = [k for k in many.resources("AWS::Lambda::Function") if "AttachmentGuard" in k]
    assert len(functions) == 1
    assert len(_schedules(many)) == 2


def test_the_guard_logs_to_an_encrypted_group_it_alone_writes(two: Synthesized) -> None:
    _, function = _guard_function(two)
    group_id = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    group = two.template["Resources"][group_id]["Properties"]
    assert "KmsKeyId" in group and group["RetentionInDays"] == 365
    assert re.match(r"ChimeSpeakerSearchAttachmentGuardFunctionLogs", group_id)


def test_the_guards_logs_use_the_first_searchs_key() -> None:
    def build(stack: cdk.Stack) -> dict[str, Any]:
        key = cdk.aws_kms.Key(stack, "OwnKey", enable_key_rotation=True)
        search = SpeakerSearch(
            stack,
            "S",
            voice_connectors=[VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])],
            encryption_key=key,
        )
        return {"key": key, "search": search}

    synth = synthesize(build)
    key_id = synth.stack.get_logical_id(synth.constructs["key"].node.default_child)
    _, function = _guard_function(synth)
    group = synth.template["Resources"][function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]]
    assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert synth.constructs["search"].repair_detached_configuration is True
