"""The state table, request rules, queue/key policies and IAM of require_consent / enable_enrollment."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam

from chime_speaker_search import SpeakerSearch, VoiceConnector
from tests.conftest import IMPORTED_IDS, Synthesized, synthesize


def _both(stack: cdk.Stack) -> dict[str, Any]:
    connector = VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])
    search = SpeakerSearch(
        stack, "SpeakerSearch", voice_connectors=[connector], require_consent=True, enable_enrollment=True
    )
    search.add_voice_connector(VoiceConnector.from_voice_connector_id(stack, "Later", IMPORTED_IDS[1]))
    ivr = iam.Role(stack, "Ivr", assumed_by=iam.AccountRootPrincipal())
    search.grant_send_requests(ivr)
    return {"search": search, "ivr": ivr}


@pytest.fixture(scope="module")
def both() -> Synthesized:
    return synthesize(_both)


def _statements(synth: Synthesized, role_fragment: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        if any(role_fragment in r["Ref"] for r in policy["Properties"]["Roles"]):
            out += policy["Properties"]["PolicyDocument"]["Statement"]
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_one_state_table_on_demand_encrypted_with_the_stack_key_and_ttl(single: Synthesized) -> None:
    [table] = single.resources("AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert props["SSESpecification"]["SSEType"] == "KMS"
    key_id = next(k for k in single.resources("AWS::KMS::Key") if "ChimeSpeakerSearchDataKey" in k)
    assert props["SSESpecification"]["KMSMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_defaults_add_no_rule_and_no_voice_profile_permissions(single: Synthesized) -> None:
    rules = single.resources("AWS::Events::Rule")
    assert not any("RequestRule" in k for k in rules)
    actions = [a for s in _statements(single, "SpeakerSearchHandlerRole") for a in _as_list(s["Action"])]
    assert not any("VoiceProfile" in a or a == "chime:StopSpeakerSearchTask" for a in actions)


def test_handler_environment_names_the_table_queue_and_features(both: Synthesized) -> None:
    [fn] = [v for k, v in both.resources("AWS::Lambda::Function").items() if "SpeakerSearchHandler" in k]
    env = fn["Properties"]["Environment"]["Variables"]
    assert (env["REQUIRE_CONSENT"], env["ENABLE_ENROLLMENT"]) == ("true", "true")
    assert env["REQUEST_SOURCE"] == "chime-speaker-search.requests"
    assert "Ref" in env["STATE_TABLE_NAME"]
    assert "Ref" in env["DEAD_LETTER_QUEUE_URL"]


def test_consent_rule_matches_this_constructs_connectors_only(both: Synthesized) -> None:
    [rule] = [v for k, v in both.resources("AWS::Events::Rule").items() if "ConsentRequestRule" in k]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["chime-speaker-search.requests"]
    assert pattern["detail-type"] == ["Speaker Search Consent"]
    # Connectors added after construction are matched too.
    assert pattern["detail"] == {"voiceConnectorId": IMPORTED_IDS[:2]}
    queue_id = next(k for k in both.resources("AWS::SQS::Queue") if "NotificationQueue" in k)
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}


def test_enrollment_rule_matches_this_constructs_search_id(both: Synthesized) -> None:
    [rule] = [v for k, v in both.resources("AWS::Events::Rule").items() if "EnrollmentRequestRule" in k]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["Enroll Voice Profile", "Update Voice Profile", "Delete Voice Profile"]
    assert pattern["detail"] == {"searchId": [both.constructs["search"].search_id]}


def test_queue_policy_lets_only_these_rules_deliver(both: Synthesized) -> None:
    [policy] = [v for k, v in both.resources("AWS::SQS::QueuePolicy").items() if "NotificationQueue" in k]
    allows = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    # The request rules and the pipeline health rule (which delivers failures without personal data).
    rule_ids = sorted(
        k for k in both.resources("AWS::Events::Rule") if "RequestRule" in k or "PipelineHealthRule" in k
    )
    assert sorted(s["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0] for s in allows) == rule_ids
    assert all(s["Principal"] == {"Service": "events.amazonaws.com"} for s in allows)
    assert all(s["Action"] == "sqs:SendMessage" for s in allows)


def test_key_policy_lets_event_bridge_encrypt_for_this_accounts_rules_only(both: Synthesized) -> None:
    key = next(v for k, v in both.resources("AWS::KMS::Key").items() if "ChimeSpeakerSearchDataKey" in k)
    [statement] = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Sid") == "AllowEventBridgeRulesOfThisAccountAndRegion"
    ]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "111122223333"}
    assert "rule/*" in json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])


def test_handler_iam_for_consent_and_enrollment(both: Synthesized) -> None:
    statements = _statements(both, "SpeakerSearchHandlerRole")
    by_action = {a: s for s in statements for a in _as_list(s["Action"])}
    assert by_action["chime:CreateVoiceProfile"]["Resource"] == "*"  # no resource type in IAM
    profiles = json.dumps(by_action["chime:DeleteVoiceProfile"]["Resource"])
    assert ":chime:us-east-1:111122223333:voice-profile/*" in profiles
    assert "VoiceProfileDomain" in json.dumps(by_action["chime:ListVoiceProfiles"]["Resource"])
    stop = _as_list(by_action["chime:StopSpeakerSearchTask"]["Resource"])
    assert len(stop) == 2 and all(":vc/" in json.dumps(r) for r in stop)
    # An enroll reads the task's voiceprint status, on this construct's connectors only.
    assert (
        by_action["chime:GetSpeakerSearchTask"]["Resource"]
        == by_action["chime:StopSpeakerSearchTask"]["Resource"]
    )
    ddb = by_action["dynamodb:UpdateItem"]
    assert sorted(_as_list(ddb["Action"])) == [
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ]


def test_grant_send_requests_is_conditioned_on_source_and_detail_types(both: Synthesized) -> None:
    [statement] = _statements(both, "Ivr")
    assert statement["Action"] == "events:PutEvents"
    assert statement["Condition"] == {
        "StringEquals": {
            "events:source": "chime-speaker-search.requests",
            "events:detail-type": [
                "Speaker Search Consent",
                "Enroll Voice Profile",
                "Update Voice Profile",
                "Delete Voice Profile",
            ],
        }
    }
    # The construct's own bus: with requests, the default bus could not deny forgeries.
    bus_id = next(iter(both.resources("AWS::Events::EventBus")))
    assert statement["Resource"] == {"Fn::GetAtt": [bus_id, "Arn"]}


def test_grant_send_requests_without_requests_to_serve_is_an_error(single: Synthesized) -> None:
    role = iam.Role(cdk.Stack(), "R", assumed_by=iam.AccountRootPrincipal())
    with pytest.raises(ValueError, match="grant_send_requests"):
        single.constructs["search"].grant_send_requests(role)


@pytest.mark.parametrize("source", ["", "aws.chime", "AWS.partner", "x" * 257, "chime-speaker-search"])
def test_request_source_is_validated(source: str) -> None:
    stack = cdk.Stack()
    connector = VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])
    with pytest.raises(ValueError, match="request_source"):
        SpeakerSearch(stack, "S", voice_connectors=[connector], request_source=source)


def test_metrics_for_the_audit_trail(single: Synthesized) -> None:
    search = single.constructs["search"]
    for metric, name in [
        (search.metric_voice_profiles_enrolled(), "VoiceProfilesEnrolled"),
        (search.metric_voice_profiles_updated(), "VoiceProfilesUpdated"),
        (search.metric_voice_profiles_deleted(), "VoiceProfilesDeleted"),
        (search.metric_consents_granted(), "ConsentGranted"),
        (search.metric_consents_declined(), "ConsentDeclined"),
        (search.metric_voice_profile_requests_failed(), "VoiceProfileRequestsFailed"),
        (search.metric_calls_not_searched(), "CallsNotSearched"),
    ]:
        assert (metric.namespace, metric.metric_name) == ("ChimeSpeakerSearch", name)
        assert metric.dimensions["SearchId"] == search.search_id
    assert search.metric_calls_not_searched(reason="ended").dimensions["Status"] == "ended"


def test_the_consent_and_enrollment_template_passes_cfn_lint(both: Synthesized) -> None:
    from cfnlint.api import ManualArgs, lint

    matches = lint(
        json.dumps(both.template), config=ManualArgs(regions=["us-east-1"], ignore_checks=["W3005"])
    )
    assert [f"{m.rule.id} {m.message}" for m in matches] == []


def test_request_rules_deliver_the_event_with_its_ingestion_time(both: Synthesized) -> None:
    """Consent is ordered by EventBridge's ingestion time, which the producer cannot set."""
    for rule_id in ("ConsentRequestRule", "EnrollmentRequestRule"):
        [rule] = [v for k, v in both.resources("AWS::Events::Rule").items() if rule_id in k]
        [target] = rule["Properties"]["Targets"]
        transformer = target["InputTransformer"]
        assert transformer["InputPathsMap"] == {"f1": "$"}
        assert json.loads(transformer["InputTemplate"].replace("<f1>", '{"the": "event"}')) == {
            "envelope": "chime-speaker-search/request",
            "ingestionTime": "<aws.events.event.ingestion-time>",
            "event": {"the": "event"},
        }


def test_handler_is_told_which_queue_feeds_it(both: Synthesized) -> None:
    [fn] = [v for k, v in both.resources("AWS::Lambda::Function").items() if "SpeakerSearchHandler" in k]
    env = fn["Properties"]["Environment"]["Variables"]
    queue_id = next(k for k in both.resources("AWS::SQS::Queue") if "NotificationQueue" in k)
    assert env["NOTIFICATION_QUEUE_ARN"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert env["NOTIFICATION_QUEUE_URL"] == {"Ref": queue_id}
    [queue] = [v for k, v in both.resources("AWS::SQS::Queue").items() if k == queue_id]
    assert env["NOTIFICATION_VISIBILITY_TIMEOUT_S"] == str(queue["Properties"]["VisibilityTimeout"])


def _search_with(bus_factory: Any, **props: Any) -> tuple[cdk.App, cdk.Stack, SpeakerSearch]:
    app = cdk.App()
    stack = cdk.Stack(app, "S", env=cdk.Environment(account="111122223333", region="us-east-1"))
    connector = VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])
    search = SpeakerSearch(
        stack, "Search", voice_connectors=[connector], event_bus=bus_factory(stack), **props
    )
    return app, stack, search


def _warnings(app: cdk.App) -> list[str]:
    [stack] = [child for child in app.node.children if isinstance(child, cdk.Stack)]
    found = cdk.assertions.Annotations.from_stack(stack).find_warning("*", cdk.assertions.Match.any_value())
    return [str(message.entry.data) for message in found]


@pytest.mark.parametrize(
    "bus_factory",
    [
        lambda stack: cdk.aws_events.EventBus.from_event_bus_name(stack, "Default", "default"),
        lambda stack: cdk.aws_events.EventBus.from_event_bus_arn(
            stack, "Imported", "arn:aws:events:us-east-1:111122223333:event-bus/shared"
        ),
    ],
    ids=["default bus", "imported bus"],
)
@pytest.mark.parametrize("props", [{"require_consent": True}, {"enable_enrollment": True}])
def test_a_bus_without_perimeter_warns_what_can_be_forged(bus_factory: Any, props: dict[str, Any]) -> None:
    app, _, _ = _search_with(bus_factory, **props)
    [warning] = [w for w in _warnings(app) if "busWithoutPerimeter" in w]
    assert "Speaker Search Result" in warning
    assert "'chime-speaker-search.requests'" in warning


def test_the_default_bus_without_requests_does_not_warn() -> None:
    app, _, _ = _search_with(lambda stack: None)
    assert not [w for w in _warnings(app) if "busWithoutPerimeter" in w]


def test_a_bus_of_the_same_stack_gets_the_perimeter() -> None:
    app, stack, _ = _search_with(lambda stack: cdk.aws_events.EventBus(stack, "Mine"), require_consent=True)
    template = app.synth().get_stack_by_name(stack.stack_name).template
    policies = [
        r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Events::EventBusPolicy"
    ]
    assert sorted(p["StatementId"].split("-")[0] for p in policies) == [
        "DenyForgedSpeakerSearchEvents",
        "DenyUngrantedConsentRequests",
        "DenyUngrantedEnrollmentRequests",
    ]
    assert all(
        p["EventBusName"]
        == {
            "Ref": next(
                iter(k for k, v in template["Resources"].items() if v["Type"] == "AWS::Events::EventBus")
            )
        }
        for p in policies
    )
    assert not [w for w in _warnings(app) if "busWithoutPerimeter" in w]


def test_two_searches_on_one_bus_share_one_perimeter() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "S", env=cdk.Environment(account="111122223333", region="us-east-1"))
    bus = cdk.aws_events.EventBus(stack, "Shared")
    for n in range(2):
        connector = VoiceConnector.from_voice_connector_id(stack, f"Pbx{n}", IMPORTED_IDS[n])
        SpeakerSearch(
            stack, f"Search{n}", voice_connectors=[connector], event_bus=bus, enable_enrollment=True
        )
    template = app.synth().get_stack_by_name(stack.stack_name).template
    [results] = [
        r["Properties"]["Statement"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Events::EventBusPolicy"
        and r["Properties"]["StatementId"] == "DenyForgedSpeakerSearchEvents"
    ]
    publishers = results["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    # Both handlers, and the stack's one attachment guard (it reports detached configurations).
    roles = sorted(p["Fn::GetAtt"][0] for p in publishers)
    prefixes = ["ChimeSpeakerSearchAttachmentGuardFunctionRole", "Search0HandlerRole", "Search1HandlerRole"]
    assert len(roles) == 3 and all(r.startswith(prefix) for r, prefix in zip(roles, prefixes, strict=True))


def test_a_bus_of_another_account_is_refused_at_synth() -> None:
    with pytest.raises(ValueError, match=r"event_bus: .* is in account 444455556666"):
        _search_with(
            lambda stack: cdk.aws_events.EventBus.from_event_bus_arn(
                stack, "Other", "arn:aws:events:us-east-1:444455556666:event-bus/central"
            )
        )


def test_grants_need_the_feature_they_send_to() -> None:
    _, stack, search = _search_with(lambda stack: None, enable_enrollment=True)
    role = iam.Role(stack, "R", assumed_by=iam.AccountRootPrincipal())
    with pytest.raises(ValueError, match=r"grant_send_consent: .*require_consent=True"):
        search.grant_send_consent(role)
    search.grant_send_enrollment(role)
    _, stack, search = _search_with(lambda stack: None, require_consent=True)
    with pytest.raises(ValueError, match=r"grant_send_enrollment: .*enable_enrollment=True"):
        search.grant_send_enrollment(iam.Role(stack, "R", assumed_by=iam.AccountRootPrincipal()))


@pytest.mark.parametrize(
    "principal",
    [
        iam.AccountRootPrincipal(),
        iam.AccountPrincipal("111122223333"),
        iam.ServicePrincipal("lambda.amazonaws.com"),
    ],
    ids=["account root", "account", "service"],
)
def test_grants_refuse_principals_the_bus_policy_cannot_name(principal: iam.IPrincipal) -> None:
    _, _, search = _search_with(lambda stack: None, require_consent=True)
    with pytest.raises(TypeError, match=r"grant_send_consent: .* not a role or user"):
        search.grant_send_consent(principal)
