"""VoiceConnector, VoiceProfileDomain and VoiceAnalyticsConfiguration in synthesized templates."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs

from chime_speaker_search import (
    VoiceAnalyticsConfiguration,
    VoiceConnector,
    VoiceProfileDomain,
)
from tests.conftest import ENV, IMPORTED_IDS, Synthesized, synthesize


def _statements(synth: Synthesized, role_part: str) -> list[dict[str, Any]]:
    """Every statement of every policy attached to the role(s) whose logical ID contains ``role_part``."""
    roles = [{"Ref": k} for k in synth.resources("AWS::IAM::Role") if role_part in k]
    assert roles, role_part
    out: list[dict[str, Any]] = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        if any(role in policy["Properties"]["Roles"] for role in roles):
            out += policy["Properties"]["PolicyDocument"]["Statement"]
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _by_actions(statements: list[dict[str, Any]]) -> dict[tuple[str, ...], dict[str, Any]]:
    return {tuple(sorted(_as_list(s["Action"]))): s for s in statements}


# --- VoiceConnector -------------------------------------------------------------------------


def test_created_connector_requires_encryption(callee_with_options: Synthesized) -> None:
    (connector,) = callee_with_options.resources("AWS::Chime::VoiceConnector").values()
    assert connector["Properties"]["RequireEncryption"] is True
    assert connector["Properties"]["AwsRegion"] == "us-east-1"


def test_imported_connector_arn_and_grant() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    connector = VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])
    assert stack.resolve(connector.voice_connector_arn) == {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, f":chime:us-east-1:111122223333:vc/{IMPORTED_IDS[0]}"],
        ]
    }
    role = iam.Role(stack, "R", assumed_by=iam.AccountRootPrincipal())
    connector.grant_speaker_search(role)
    (statement,) = stack.resolve(role.node.find_child("DefaultPolicy").document)["Statement"]
    assert statement["Action"] == [
        "chime:StartSpeakerSearchTask",
        "chime:GetSpeakerSearchTask",
        "chime:StopSpeakerSearchTask",
    ]
    assert statement["Resource"] == stack.resolve(connector.voice_connector_arn)


def test_unencrypted_connector_warns() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    VoiceConnector(stack, "Plain", require_encryption=False)
    warnings = cdk.assertions.Annotations.from_stack(stack).find_warning(
        "*", cdk.assertions.Match.any_value()
    )
    assert any("unencrypted" in json.dumps(w.entry.data) for w in warnings)


# --- VoiceProfileDomain ---------------------------------------------------------------------


def test_default_domain_key_rotates_and_is_retained_unless_its_first_deployment_fails(
    single: Synthesized,
) -> None:
    keys = {k: v for k, v in single.resources("AWS::KMS::Key").items() if "VoiceProfileDomain" in k}
    (key,) = keys.values()
    assert key["Properties"]["EnableKeyRotation"] is True
    (domain,) = single.resources("Custom::ChimeVoiceProfileDomain").values()
    assert domain["Properties"]["KmsKeyArn"] == {"Fn::GetAtt": [next(iter(keys)), "Arn"]}
    # RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE: a rollback of the deployment that created them deletes
    # both (a Region holds 3 domains); a stack delete or a replacement keeps both.
    for resource in (domain, key):
        assert resource["DeletionPolicy"] == "RetainExceptOnCreate"
        assert resource["UpdateReplacePolicy"] == "Retain"


def _domain_policies(removal_policy: cdk.RemovalPolicy | None) -> tuple[list[tuple[str, str]], list[str]]:
    """(DeletionPolicy, UpdateReplacePolicy) of the domain and of its key, and the warnings."""
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    kwargs = {} if removal_policy is None else {"removal_policy": removal_policy}
    VoiceProfileDomain(stack, "Domain", **kwargs)
    template = cdk.assertions.Template.from_stack(stack).to_json()["Resources"]
    policies = [
        (v["DeletionPolicy"], v["UpdateReplacePolicy"])
        for k, v in template.items()
        if v["Type"] in ("Custom::ChimeVoiceProfileDomain", "AWS::KMS::Key") and k.startswith("Domain")
    ]
    warnings = cdk.assertions.Annotations.from_stack(stack).find_warning(
        "*", cdk.assertions.Match.any_value()
    )
    return policies, [json.dumps(w.entry.data) for w in warnings]


@pytest.mark.parametrize(
    ("removal_policy", "rendered", "warns"),
    [
        (None, ("RetainExceptOnCreate", "Retain"), False),
        (cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE, ("RetainExceptOnCreate", "Retain"), False),
        (cdk.RemovalPolicy.RETAIN, ("Retain", "Retain"), False),
        (cdk.RemovalPolicy.DESTROY, ("Delete", "Delete"), True),
    ],
)
def test_each_removal_policy_renders_on_the_domain_and_its_key(
    removal_policy: cdk.RemovalPolicy | None, rendered: tuple[str, str], warns: bool
) -> None:
    policies, warnings = _domain_policies(removal_policy)
    assert policies == [rendered, rendered]
    assert any("every voiceprint" in w for w in warnings) is warns


def test_a_removal_policy_the_domain_cannot_honour_is_refused() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    with pytest.raises(
        ValueError, match=r"removal_policy: .* allowed values are RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE"
    ):
        VoiceProfileDomain(stack, "Domain", removal_policy=cdk.RemovalPolicy.SNAPSHOT)


def test_domain_handler_kms_access_is_scoped_to_the_key(single: Synthesized) -> None:
    key_id = next(k for k in single.resources("AWS::KMS::Key") if "VoiceProfileDomain" in k)
    by_actions = _by_actions(_statements(single, "CustomResourceProviderOnEventRole"))
    key_actions = by_actions[("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey")]
    assert key_actions["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
    # No kms:GrantIsForAWSResource condition: its value for Chime's grant is undocumented, and a
    # false one would fail the first deploy (facts part 3); the exact key ARN is the scope.
    assert "Condition" not in key_actions
    assert by_actions[("chime:CreateVoiceProfileDomain",)]["Resource"] == "*"
    assert not any(
        a.startswith("kms:") and s.get("Resource") == "*" for a_s, s in by_actions.items() for a in a_s
    )


def test_destroy_policy_warns_and_destroys_key_with_domain() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "S", env=ENV)
    domain = VoiceProfileDomain(stack, "Domain", removal_policy=cdk.RemovalPolicy.DESTROY)
    template = app.synth().get_stack_by_name("S").template
    resources = template["Resources"]
    custom = next(v for v in resources.values() if v["Type"] == "Custom::ChimeVoiceProfileDomain")
    assert custom["DeletionPolicy"] == "Delete"
    warnings = cdk.assertions.Annotations.from_stack(stack).find_warning(
        "*", cdk.assertions.Match.any_value()
    )
    assert any("every voiceprint" in json.dumps(w.entry.data) for w in warnings)
    assert domain.encryption_key is not None


def test_given_key_is_used_and_alias_is_refused() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    key = kms.Key(stack, "Mine", enable_key_rotation=True)
    domain = VoiceProfileDomain(
        stack, "Domain", encryption_key=key, voice_profile_domain_name="Contact centre"
    )
    assert domain.encryption_key is key
    with pytest.raises(ValueError, match="encryption_key: the construct 'S/A' is a KMS alias"):
        VoiceProfileDomain(
            stack, "ByAlias", encryption_key=kms.Alias.from_alias_name(stack, "A", "alias/mine")
        )
    arn = "arn:aws:kms:us-east-1:111122223333:alias/mine"
    with pytest.raises(ValueError, match="alias ARN"):
        VoiceProfileDomain(stack, "ByAliasArn", encryption_key=kms.Key.from_key_arn(stack, "K", arn))


def test_imported_domain() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    domain = VoiceProfileDomain.from_voice_profile_domain_id(
        stack, "D", "3f3b5b3e-4c2a-4d6b-9a55-2c1b8f0e7a10"
    )
    assert domain.voice_profile_domain_id == "3f3b5b3e-4c2a-4d6b-9a55-2c1b8f0e7a10"
    assert "voice-profile-domain/3f3b5b3e" in json.dumps(stack.resolve(domain.voice_profile_domain_arn))
    with pytest.raises(ValueError, match="voice_profile_domain_id"):
        VoiceProfileDomain.from_voice_profile_domain_id(
            stack, "Bad", "arn:aws:chime:us-east-1:1:voice-profile-domain/x"
        )


# --- VoiceAnalyticsConfiguration ------------------------------------------------------------


def test_resource_access_role_trust_is_limited_to_this_account_and_region(single: Synthesized) -> None:
    roles = {k: v for k, v in single.resources("AWS::IAM::Role").items() if "ResourceAccessRole" in k}
    (role,) = roles.values()
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "mediapipelines.chime.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "111122223333"}
    source_arn = json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])
    assert ":chime:us-east-1:111122223333:*" in source_arn


def test_resource_access_role_writes_only_to_its_own_sinks(single: Synthesized) -> None:
    statements = _statements(single, "ResourceAccessRole")
    queue_id = next(k for k in single.resources("AWS::SQS::Queue") if "NotificationQueue" in k)
    stream_id = next(iter(single.resources("AWS::Kinesis::Stream")))
    for statement in statements:
        actions = _as_list(statement["Action"])
        resources = json.dumps(statement["Resource"])
        if any(a.startswith("sqs:") for a in actions):
            assert resources == json.dumps({"Fn::GetAtt": [queue_id, "Arn"]})
        elif any(a.startswith("kinesis:") for a in actions):
            assert resources == json.dumps({"Fn::GetAtt": [stream_id, "Arn"]})
        elif any(a.startswith("kinesisvideo:") for a in actions):
            assert f"stream/ChimeVoiceConnector-{IMPORTED_IDS[0]}-*" in resources
        elif any(a.startswith("kms:") for a in actions):
            assert resources.startswith('{"Fn::GetAtt"')
        else:
            pytest.fail(f"unexpected statement {statement}")


def test_configuration_handler_passes_only_the_resource_access_role(single: Synthesized) -> None:
    by_actions = _by_actions(_statements(single, "CustomResourceProviderOnEventRole"))
    pass_role = by_actions[("iam:PassRole",)]
    role_id = next(k for k in single.resources("AWS::IAM::Role") if "ResourceAccessRole" in k)
    assert pass_role["Resource"] == {"Fn::GetAtt": [role_id, "Arn"]}
    # No iam:PassedToService condition: the value IAM sees for this API is undocumented, and a
    # wrong one would fail the first deploy; the exact role ARN is the scope.
    assert "Condition" not in pass_role
    update = by_actions[
        (
            "chime:GetMediaInsightsPipelineConfiguration",
            "chime:PutVoiceConnectorStreamingConfiguration",
            "chime:TagResource",
            "chime:UpdateMediaInsightsPipelineConfiguration",
        )
    ]
    assert ":media-insights-pipeline-configuration/" in _flatten(update["Resource"])
    assert "*" not in json.dumps(update["Resource"])
    removal = by_actions[
        (
            "chime:DeleteMediaInsightsPipelineConfiguration",
            "chime:GetMediaInsightsPipelineConfiguration",
            "chime:ListTagsForResource",
        )
    ]
    assert _flatten(removal["Resource"]).endswith(":media-insights-pipeline-configuration/*")


def test_configurations_carry_their_stacks_owner_tag(single: Synthesized) -> None:
    (configuration,) = single.resources("Custom::ChimeMediaInsightsPipelineConfiguration").values()
    assert configuration["Properties"]["Tags"] == [
        {"Key": "chime-speaker-search:stack", "Value": {"Ref": "AWS::StackId"}}
    ]


def test_owner_tags_are_read_only_on_this_accounts_domains_and_configurations(single: Synthesized) -> None:
    statements = _statements(single, "CustomResourceProviderOnEventRole")
    reads = [s for s in statements if "chime:ListTagsForResource" in _as_list(s["Action"])]
    resources = sorted(_flatten(r) for s in reads for r in _as_list(s["Resource"]))
    assert resources == [
        "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/*",
        "arn:aws:chime:us-east-1:111122223333:voice-profile-domain/*",
    ]


def test_streaming_handler_permissions_and_the_service_linked_role(many: Synthesized) -> None:
    statements = _statements(many, "CustomResourceProviderOnEventRole")
    puts = [s for s in statements if "chime:PutVoiceConnectorStreamingConfiguration" in _as_list(s["Action"])]
    (streaming,) = [s for s in puts if not isinstance(s["Resource"], list)]
    (attach,) = [s for s in puts if isinstance(s["Resource"], list)]
    # One statement for every connector of the stack, present and future (see the removal test).
    assert _flatten(streaming["Resource"]) == "arn:aws:chime:us-east-1:111122223333:vc/*"
    # Put is also allowed on exactly the configurations it attaches (in case IAM checks them too).
    assert "chime:GetMediaInsightsPipelineConfiguration" in attach["Action"]
    assert len(attach["Resource"]) == 2  # the two configurations of the stack, by name
    assert all("/*" not in _flatten(r) for r in attach["Resource"])
    slr = _by_actions(statements)[("iam:CreateServiceLinkedRole",)]
    assert slr["Condition"] == {"StringEquals": {"iam:AWSServiceName": "voiceconnector.chime.amazonaws.com"}}
    assert "AWSServiceRoleForAmazonChimeVoiceConnector" in json.dumps(slr["Resource"])


def _flatten(value: Any) -> str:
    """A resolved ARN as text (partition filled in), so patterns can be matched against it."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_flatten(part) for part in parts)
    if value == {"Ref": "AWS::Partition"}:
        return "aws"
    return json.dumps(value)


def _allowed(statements: list[dict[str, Any]], action: str, arn: str) -> bool:
    import fnmatch

    return any(
        action in _as_list(s["Action"])
        and any(fnmatch.fnmatchcase(arn, _flatten(r)) for r in _as_list(s["Resource"]))
        for s in statements
    )


def test_permissions_a_removed_resource_needs_survive_its_removal() -> None:
    """CloudFormation deletes what left the template only after updating every other resource,
    including the handlers' policies; the Delete of a removed connector's association, of a
    removed configuration and of a removed domain must still be allowed by the updated policy."""
    from chime_speaker_search import SpeakerSearch

    def build(with_removed: bool) -> Synthesized:
        def stack_content(stack: cdk.Stack) -> dict[str, Any]:
            kept = [VoiceConnector.from_voice_connector_id(stack, "KeptPbx", IMPORTED_IDS[0])]
            if with_removed:
                kept.append(VoiceConnector.from_voice_connector_id(stack, "Dropped", IMPORTED_IDS[1]))
                gone = VoiceConnector.from_voice_connector_id(stack, "Gone", IMPORTED_IDS[2])
                SpeakerSearch(stack, "Removed", voice_connectors=[gone])
            SpeakerSearch(stack, "Kept", voice_connectors=kept)
            return {}

        return synthesize(stack_content)

    before, after = build(True), build(False)
    removed = {k: v for k, v in before.template["Resources"].items() if k not in after.template["Resources"]}
    association_role = _statements(after, "CustomResourceProviderOnEventRole")
    configuration_role = _statements(after, "CustomResourceProviderOnEventRole")
    domain_role = _statements(after, "CustomResourceProviderOnEventRole")
    checked = 0
    for resource in removed.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "Custom::ChimeVoiceConnectorStreamingAssociation":
            arn = f"arn:aws:chime:us-east-1:111122223333:vc/{props['VoiceConnectorId']}"
            for action in ("Get", "Put", "Delete"):
                assert _allowed(association_role, f"chime:{action}VoiceConnectorStreamingConfiguration", arn)
            # A Delete reads the owner tag of the configuration the connector has attached.
            configuration = "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/x"
            assert _allowed(association_role, "chime:ListTagsForResource", configuration)
        elif resource["Type"] == "Custom::ChimeMediaInsightsPipelineConfiguration":
            arn = (
                f"arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/{props['Name']}"
            )
            for action in ("Get", "Delete"):
                assert _allowed(configuration_role, f"chime:{action}MediaInsightsPipelineConfiguration", arn)
            assert _allowed(configuration_role, "chime:ListTagsForResource", arn)
        elif resource["Type"] == "Custom::ChimeVoiceProfileDomain":
            arn = "arn:aws:chime:us-east-1:111122223333:voice-profile-domain/3f3b5b3e-4c2a-4d6b"
            for action in (
                "chime:GetVoiceProfileDomain",
                "chime:ListTagsForResource",
                "chime:DeleteVoiceProfileDomain",
            ):
                assert _allowed(domain_role, action, arn)
        else:
            continue
        checked += 1
    assert checked == 4  # two associations, one configuration, one domain


def test_one_role_stays_within_the_inline_policy_limit_at_40_connectors() -> None:
    """IAM allows 10,240 characters of inline policy per role (all its policies together, as deployed)."""
    from chime_speaker_search import SpeakerSearch

    def forty(stack: cdk.Stack) -> dict[str, Any]:
        connectors = [
            VoiceConnector.from_voice_connector_id(stack, f"Pbx{n}", f"abcdefghij{n:02d}klmnopqrst")
            for n in range(40)
        ]
        SpeakerSearch(stack, "Search", voice_connectors=connectors)
        for n in range(9):
            other = VoiceConnector.from_voice_connector_id(stack, f"Other{n}", f"zyxwvuts{n:02d}rqponmlkjihg")
            SpeakerSearch(stack, f"More{n}", voice_connectors=[other])
        return {}

    synth = synthesize(forty)
    sizes: dict[str, int] = {}
    for policy in synth.resources("AWS::IAM::Policy").values():
        text = json.dumps(_deployed(policy["Properties"]["PolicyDocument"]), separators=(",", ":"))
        for role in policy["Properties"]["Roles"]:
            sizes[role["Ref"]] = sizes.get(role["Ref"], 0) + len(text)
    # The largest role (the resource access role: one stream prefix per connector) stays well under.
    assert max(sizes.values()) < 10_240 * 0.6, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def _deployed(value: Any) -> Any:
    """A policy document as IAM would store it: tokens replaced by values of realistic length."""
    if isinstance(value, list):
        return [_deployed(v) for v in value]
    if isinstance(value, dict):
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(str(_deployed(p)) for p in parts)
        if "Ref" in value:
            return {
                "AWS::Partition": "aws",
                "AWS::AccountId": "111122223333",
                "AWS::Region": "us-east-1",
            }.get(value["Ref"], "x" * 40)
        if "Fn::GetAtt" in value:
            return "arn:aws:service:us-east-1:111122223333:" + "x" * 60  # an ARN of typical length
        return {k: _deployed(v) for k, v in value.items()}
    return value


def test_one_provider_for_every_type_however_many_connectors_and_searches(many: Synthesized) -> None:
    functions = many.resources("AWS::Lambda::Function")
    on_event = [k for k, v in functions.items() if v["Properties"].get("Handler") == "index.on_event"]
    assert on_event == [
        next(k for k in functions if k.startswith("ChimeSpeakerSearchCustomResourceProviderOnEvent"))
    ]
    framework = [k for k in functions if "frameworkonEvent" in k]
    assert len(framework) == 1
    # Two searches: their two runtime handlers, plus the one provider's on_event function, the
    # framework's onEvent, isComplete and onTimeout functions, and the stack's one attachment guard.
    assert len(functions) == 7
    assert len([k for k in functions if k.startswith("ChimeSpeakerSearchAttachmentGuardFunction")]) == 1
    assert len(many.resources("AWS::StepFunctions::StateMachine")) == 1
    assert len(many.resources("Custom::ChimeVoiceConnectorStreamingAssociation")) == 11
    assert len(many.resources("Custom::ChimeMediaInsightsPipelineConfiguration")) == 2
    (token,) = {
        json.dumps(v["Properties"]["ServiceToken"])
        for v in many.template["Resources"].values()
        if v["Type"].startswith("Custom::")
    }
    assert framework[0] in token


def test_association_ids_follow_the_connector_not_the_list_order() -> None:
    def build(order: list[int]) -> list[str]:
        stack = cdk.Stack(cdk.App(), "S", env=ENV)
        connectors = [VoiceConnector.from_voice_connector_id(stack, f"P{n}", IMPORTED_IDS[n]) for n in order]
        queue = sqs.Queue(stack, "Q")
        config = VoiceAnalyticsConfiguration(
            stack, "C", voice_connectors=connectors, notification_queue=queue
        )
        return sorted(c.node.id for c in config.node.children if "StreamingAssociation" in c.node.id)

    assert build([0, 1, 2]) == build([2, 0, 1])
    assert build([0, 1, 2])[0] == f"StreamingAssociation-{IMPORTED_IDS[0]}"


def test_a_connector_cannot_be_associated_twice_in_one_app() -> None:
    app = cdk.App()
    one = cdk.Stack(app, "One", env=ENV)
    two = cdk.Stack(app, "Two", env=ENV)
    VoiceAnalyticsConfiguration(
        one,
        "C",
        voice_connectors=[VoiceConnector.from_voice_connector_id(one, "P", IMPORTED_IDS[0])],
        notification_queue=sqs.Queue(one, "Q"),
    )
    with pytest.raises(ValueError, match="already associated"):
        VoiceAnalyticsConfiguration(
            two,
            "C",
            voice_connectors=[VoiceConnector.from_voice_connector_id(two, "P", IMPORTED_IDS[0])],
            notification_queue=sqs.Queue(two, "Q"),
        )
    created = VoiceConnector(one, "Created")
    config = VoiceAnalyticsConfiguration(
        one, "C2", voice_connectors=[created], notification_queue=sqs.Queue(one, "Q2")
    )
    with pytest.raises(ValueError, match="already served by this configuration"):
        config.add_voice_connector(created)


def test_a_first_connector_that_failed_does_not_skip_the_provider_statements() -> None:
    """The statements every connector needs are granted once; a first add that raised part-way
    (after the connector was listed) must not make the next connector skip them."""

    class Unreadable(cdk.Resource):  # a user's IVoiceConnector whose ID fails after the type check
        voice_connector_arn = "arn:aws:chime:us-east-1:111122223333:vc/unreadable"
        reads = 0

        @property
        def voice_connector_id(self) -> str:
            self.reads += 1
            if self.reads > 1:
                raise RuntimeError("unreadable")
            return "unreadable"

        def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
            raise NotImplementedError

        def grant_speaker_search(self, grantee: iam.IGrantable) -> iam.Grant:
            raise NotImplementedError

    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    config = VoiceAnalyticsConfiguration(stack, "C", notification_queue=sqs.Queue(stack, "Q"))
    with pytest.raises(RuntimeError, match="unreadable"):
        config.add_voice_connector(Unreadable(stack, "Unreadable"))
    config.add_voice_connector(VoiceConnector.from_voice_connector_id(stack, "P", IMPORTED_IDS[0]))
    policies = cdk.assertions.Template.from_stack(stack).find_resources("AWS::IAM::Policy")
    actions = {
        action
        for policy in policies.values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert {"iam:CreateServiceLinkedRole", "chime:GetVoiceConnectorStreamingConfiguration"} <= actions


def test_kinesis_sink_can_be_supplied_or_turned_off() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    queue = sqs.Queue(stack, "Q")
    config = VoiceAnalyticsConfiguration(
        stack, "NoStream", notification_queue=queue, enable_kinesis_sink=False
    )
    assert config.kinesis_stream is None
    stream = cdk.aws_kinesis.Stream(stack, "Mine")
    given = VoiceAnalyticsConfiguration(stack, "Given", notification_queue=queue, kinesis_stream=stream)
    assert given.kinesis_stream is stream
    template = cdk.assertions.Template.from_stack(stack)
    template.resource_count_is("AWS::Kinesis::Stream", 1)


@pytest.mark.parametrize(("region", "warned"), [("us-west-2", True), ("us-east-1", False)])
def test_created_connector_warns_where_cloudformation_has_no_type(region: str, warned: bool) -> None:
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account="111122223333", region=region))
    VoiceConnector(stack, "Pbx")
    warnings = cdk.assertions.Annotations.from_stack(stack).find_warning(
        "*", cdk.assertions.Match.any_value()
    )
    assert any("no AWS::Chime::VoiceConnector" in json.dumps(w.entry.data) for w in warnings) is warned


def test_generated_names_satisfy_the_api_patterns() -> None:
    """Names the constructs generate (from deep, long construct paths) fit the APIs' rules."""
    import re

    from aws_cdk import aws_sqs as sqs
    from constructs import Construct

    stack = cdk.Stack(cdk.App(), "AStackWithAVeryLongNameForTheTelephonyTeam", env=ENV)
    scope: Construct = stack
    for depth in range(6):
        scope = Construct(scope, f"Nested{depth}WithAnUnusuallyLongConstructIdentifier_and.dots")
    config = VoiceAnalyticsConfiguration(scope, "Configuration", notification_queue=sqs.Queue(scope, "Q"))
    domain = VoiceProfileDomain(scope, "Domain")
    connector = VoiceConnector(scope, "Pbx")
    assert re.fullmatch(r"[0-9a-zA-Z._-]{2,64}", config.configuration_name)
    (domain_props,) = [
        v["Properties"]
        for v in cdk.assertions.Template.from_stack(stack).to_json()["Resources"].values()
        if v["Type"] == "Custom::ChimeVoiceProfileDomain"
    ]
    assert re.fullmatch(r"[a-zA-Z0-9 _.-]{1,256}", domain_props["Name"])
    assert domain.voice_profile_domain_id
    name = stack.resolve(connector.node.default_child.name)  # type: ignore[union-attr]
    assert 1 <= len(name) <= 64


def test_kinesis_sink_off_warns() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    VoiceAnalyticsConfiguration(
        stack, "C", notification_queue=sqs.Queue(stack, "Q"), enable_kinesis_sink=False
    )
    warnings = cdk.assertions.Annotations.from_stack(stack).find_warning(
        "*", cdk.assertions.Match.any_value()
    )
    assert any("Kinesis data stream sink as required" in json.dumps(w.entry.data) for w in warnings)


def test_connectors_compare_by_path_for_implementations_outside_the_library() -> None:
    from chime_speaker_search.voice_connector import identity_key

    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    imported = VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])
    again = VoiceConnector.from_voice_connector_id(stack, "PbxAgain", IMPORTED_IDS[0])
    created = VoiceConnector(stack, "Created")
    assert identity_key(imported) == identity_key(again)
    assert identity_key(created) == "path:S/Created"


def test_domain_delete_is_limited_to_domains_this_stack_tagged(single: Synthesized) -> None:
    (domain,) = single.resources("Custom::ChimeVoiceProfileDomain").values()
    assert domain["Properties"]["Tags"][0] == {
        "Key": "chime-speaker-search:stack",
        "Value": {"Ref": "AWS::StackId"},
    }
    statements = _statements(single, "CustomResourceProviderOnEventRole")
    (delete,) = [s for s in statements if "chime:DeleteVoiceProfileDomain" in _as_list(s["Action"])]
    assert _as_list(delete["Action"]) == ["chime:DeleteVoiceProfileDomain"]
    assert delete["Condition"] == {
        "StringEquals": {"aws:ResourceTag/chime-speaker-search:stack": {"Ref": "AWS::StackId"}}
    }


def test_the_owner_tag_is_reserved() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    with pytest.raises(ValueError, match="tags: the key 'chime-speaker-search:stack' is reserved"):
        VoiceProfileDomain(stack, "D", tags={"chime-speaker-search:stack": "mine"})
