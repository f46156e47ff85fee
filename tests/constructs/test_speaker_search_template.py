"""SpeakerSearch wiring in the synthesized template: queue, handler, rule, IAM scoping."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest

from chime_speaker_search import SpeakerSearch, VoiceConnector
from tests.conftest import IMPORTED_IDS, Synthesized


def _only(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    assert len(resources) == 1, list(resources)
    return next(iter(resources.values()))


def _handler(synth: Synthesized, path_part: str = "SpeakerSearch") -> dict[str, Any]:
    functions = {
        k: v
        for k, v in synth.resources("AWS::Lambda::Function").items()
        if v["Properties"].get("Handler") == "index.handler"
        and path_part in k
        # the stack's attachment guard (ChimeSpeakerSearchAttachmentGuard...) is not a search's handler
        and not k.startswith("ChimeSpeakerSearch")
    }
    return _only(functions)


def _policy_statements_of_role(synth: Synthesized, role_ref: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role_ref} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def _resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def test_handler_runtime_architecture_and_json_logs(single: Synthesized) -> None:
    handler = _handler(single)["Properties"]
    assert handler["Runtime"] == "python3.14"
    assert handler["Architectures"] == ["arm64"]
    assert handler["LoggingConfig"]["LogFormat"] == "JSON"
    assert handler["Timeout"] == 30
    assert handler["MemorySize"] == 256


def test_handler_environment(single: Synthesized) -> None:
    env = _handler(single)["Properties"]["Environment"]["Variables"]
    assert env["CALL_LEG"] == "Caller"
    assert env["VOICE_CONNECTOR_IDS"] == IMPORTED_IDS[0]
    assert env["EVENT_BUS_NAME"] == "default"
    assert env["SEARCH_ID"] == single.constructs["search"].search_id
    domain_id = next(iter(single.resources("Custom::ChimeVoiceProfileDomain")))
    assert env["VOICE_PROFILE_DOMAIN_ID"] == {"Fn::GetAtt": [domain_id, "VoiceProfileDomainId"]}


def test_callee_leg_and_every_connector_reach_the_handler(callee_with_options: Synthesized) -> None:
    env = _handler(callee_with_options)["Properties"]["Environment"]["Variables"]
    assert env["CALL_LEG"] == "Callee"
    joined = env["VOICE_CONNECTOR_IDS"]["Fn::Join"]
    assert joined[0] == ","
    assert IMPORTED_IDS[1] in joined[1]
    assert any(isinstance(part, dict) and "Fn::GetAtt" in part for part in joined[1])


def test_call_leg_from_a_parameter_is_passed_through(parameter_leg: Synthesized) -> None:
    env = _handler(parameter_leg)["Properties"]["Environment"]["Variables"]
    assert env["CALL_LEG"] == {"Ref": "CallLeg"}
    assert parameter_leg.template["Parameters"]["CallLeg"]["AllowedValues"] == ["Caller", "Callee"]


def test_queue_is_encrypted_tls_only_with_a_dead_letter_queue(single: Synthesized) -> None:
    queues = single.resources("AWS::SQS::Queue")
    assert len(queues) == 2
    main = next(q for k, q in queues.items() if "NotificationQueue" in k)["Properties"]
    dlq_id = next(k for k in queues if "DeadLetterQueue" in k)
    assert "FifoQueue" not in main
    assert main["KmsMasterKeyId"]
    assert main["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": 5,
    }
    assert main["VisibilityTimeout"] == 180
    assert queues[dlq_id]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    for policy in single.resources("AWS::SQS::QueuePolicy").values():
        deny = policy["Properties"]["PolicyDocument"]["Statement"][0]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_event_source_reports_partial_batch_failures(single: Synthesized) -> None:
    mapping = _only(single.resources("AWS::Lambda::EventSourceMapping"))["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 10


def test_configuration_sinks_are_the_queue_and_the_stream(single: Synthesized) -> None:
    config = _only(single.resources("Custom::ChimeMediaInsightsPipelineConfiguration"))["Properties"]
    queue_id = next(k for k in single.resources("AWS::SQS::Queue") if "NotificationQueue" in k)
    stream_id = next(iter(single.resources("AWS::Kinesis::Stream")))
    assert config["SqsQueueArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert config["KinesisDataStreamArn"] == {"Fn::GetAtt": [stream_id, "Arn"]}
    assert config["SpeakerSearch"] == "Enabled"
    assert config["VoiceToneAnalysis"] == "Disabled"


def test_voice_tone_and_retention_options(callee_with_options: Synthesized) -> None:
    config = _only(callee_with_options.resources("Custom::ChimeMediaInsightsPipelineConfiguration"))
    assert config["Properties"]["VoiceToneAnalysis"] == "Enabled"
    associations = callee_with_options.resources("Custom::ChimeVoiceConnectorStreamingAssociation")
    assert len(associations) == 2
    assert {a["Properties"]["DataRetentionInHours"] for a in associations.values()} == {"48"}


def test_result_rule_matches_only_this_constructs_results(single: Synthesized) -> None:
    rule = _only({k: v for k, v in single.resources("AWS::Events::Rule").items() if "Results" in k})[
        "Properties"
    ]
    assert rule["EventPattern"] == {
        "source": ["chime-speaker-search"],
        "detail-type": ["Speaker Search Result"],
        "detail": {"searchId": [single.constructs["search"].search_id]},
    }


def test_rule_is_created_on_the_given_bus(callee_with_options: Synthesized) -> None:
    search = callee_with_options.constructs["search"]
    rule = search.on_speaker_search_result("Late")
    assert rule.node.scope is search
    resolved = callee_with_options.stack.resolve(rule.node.default_child.event_bus_name)
    assert resolved == {
        "Ref": callee_with_options.stack.get_logical_id(
            callee_with_options.constructs["bus"].node.default_child
        )
    }


def _handler_role(synth: Synthesized, path_part: str = "SpeakerSearch") -> str:
    return _handler(synth, path_part)["Properties"]["Role"]["Fn::GetAtt"][0]


@pytest.mark.parametrize("fixture_name", ["single", "callee_with_options", "many"])
def test_handler_may_start_tasks_only_on_its_own_connectors(
    fixture_name: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(fixture_name)
    path_part = "First" if fixture_name == "many" else "SpeakerSearch"
    statements = _policy_statements_of_role(synth, _handler_role(synth, path_part))
    chime = [s for s in statements if any(a.startswith("chime:") for a in _actions(s))]
    voice_tone = synth.constructs["search" if fixture_name != "many" else "first"].voice_tone_analysis
    expected = [["chime:StartSpeakerSearchTask"]]
    if voice_tone:
        expected.append(["chime:StartVoiceToneAnalysisTask"])  # Stop only with require_consent
    assert [_actions(s) for s in chime] == expected
    for statement in chime:
        arns = _resources(statement)
        assert len(arns) == len(synth.constructs["connectors"])
        for arn in arns:
            text = json.dumps(arn)
            assert "*" not in text
            assert ":vc/" in text or "VoiceConnectorArn" in text


def test_handler_publishes_only_to_its_bus(callee_with_options: Synthesized) -> None:
    statements = _policy_statements_of_role(callee_with_options, _handler_role(callee_with_options))
    put = [s for s in statements if "events:PutEvents" in _actions(s)]
    assert len(put) == 1
    bus_id = callee_with_options.stack.get_logical_id(
        callee_with_options.constructs["bus"].node.default_child
    )
    assert _resources(put[0]) == [{"Fn::GetAtt": [bus_id, "Arn"]}]


def test_handler_reads_its_own_queue_and_only_sends_to_its_dead_letter_queue(single: Synthesized) -> None:
    statements = _policy_statements_of_role(single, _handler_role(single))
    sqs = [s for s in statements if any(a.startswith("sqs:") for a in _actions(s))]
    queue_id = next(k for k in single.resources("AWS::SQS::Queue") if "NotificationQueue" in k)
    dlq_id = next(k for k in single.resources("AWS::SQS::Queue") if "DeadLetterQueue" in k)
    by_resource = {json.dumps(_resources(s)): _actions(s) for s in sqs}
    assert len(sqs) == 2
    consume = by_resource[json.dumps([{"Fn::GetAtt": [queue_id, "Arn"]}])]
    assert "sqs:DeleteMessage" in consume
    assert "sqs:SendMessage" not in consume
    # Permanent errors go straight to the dead-letter queue: SendMessage there and nothing else.
    assert by_resource[json.dumps([{"Fn::GetAtt": [dlq_id, "Arn"]}])] == ["sqs:SendMessage"]


def test_alarms_are_opt_in(single: Synthesized, callee_with_options: Synthesized) -> None:
    assert single.resources("AWS::CloudWatch::Alarm") == {}
    alarms = callee_with_options.resources("AWS::CloudWatch::Alarm")
    assert sorted(a["Properties"]["MetricName"] for a in alarms.values()) == [
        "ApproximateNumberOfMessagesVisible",
        "AttachmentCheckFailures",
        "ConfigurationDetached",
        "Errors",
        "InputsRefused",
        "PipelineFailuresNeedingAction",
    ]
    search = callee_with_options.constructs["search"]
    assert search.dead_letter_queue_alarm is not None and search.handler_errors_alarm is not None
    assert search.pipeline_failures_alarm is not None
    assert search.configuration_detached_alarm is not None
    assert search.attachment_check_failures_alarm is not None
    assert search.inputs_refused_alarm is not None
    for attribute in (
        "pipeline_failures_alarm",
        "configuration_detached_alarm",
        "attachment_check_failures_alarm",
        "inputs_refused_alarm",
    ):
        assert getattr(single.constructs["search"], attribute) is None


def test_metrics_need_no_log_filter(single: Synthesized) -> None:
    # The handler emits EMF; a log metric filter would be one more resource for the same number.
    assert single.resources("AWS::Logs::MetricFilter") == {}
    search = single.constructs["search"]
    metric = search.metric_failed_starts()
    assert (metric.namespace, metric.metric_name) == ("ChimeSpeakerSearch", "SpeakerSearchFailedStarts")
    assert metric.dimensions == {"SearchId": search.search_id}
    assert search.metric_dead_letter_queue_depth().metric_name == "ApproximateNumberOfMessagesVisible"
    assert search.metric_handler_errors().metric_name == "Errors"


def test_a_default_domain_is_created_and_retained(single: Synthesized) -> None:
    domain = _only(single.resources("Custom::ChimeVoiceProfileDomain"))
    # Retained, except by the rollback of the deployment that created it.
    assert domain["DeletionPolicy"] == "RetainExceptOnCreate"
    assert domain["UpdateReplacePolicy"] == "Retain"


def test_a_given_domain_is_shared_not_duplicated(many: Synthesized) -> None:
    assert len(many.resources("Custom::ChimeVoiceProfileDomain")) == 1
    handlers = [
        v
        for v in many.resources("AWS::Lambda::Function").values()
        if v["Properties"].get("Handler") == "index.handler"
        and "GUARD_SEARCHES" not in v["Properties"]["Environment"]["Variables"]
    ]
    domain_ids = {
        json.dumps(h["Properties"]["Environment"]["Variables"]["VOICE_PROFILE_DOMAIN_ID"]) for h in handlers
    }
    assert len(handlers) == 2 and len(domain_ids) == 1


def test_grant_enroll_voice_profiles() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam

    from chime_speaker_search import SpeakerSearch, VoiceConnector

    stack = cdk.Stack(cdk.App(), "Consumer", env=cdk.Environment(account="111122223333", region="us-east-1"))
    connector = VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])
    search = SpeakerSearch(stack, "SpeakerSearch", voice_connectors=[connector])
    role = iam.Role(stack, "Crm", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    search.grant_enroll_voice_profiles(role)
    statements = stack.resolve(role.node.find_child("DefaultPolicy").document)["Statement"]
    by_action = {json.dumps(sorted(_actions(s))): s["Resource"] for s in statements}
    assert by_action['["chime:CreateVoiceProfile"]'] == "*"
    assert ":voice-profile/*" in json.dumps(
        by_action['["chime:DeleteVoiceProfile", "chime:GetVoiceProfile", "chime:UpdateVoiceProfile"]']
    )
    assert "vc/" + IMPORTED_IDS[0] in json.dumps(by_action['["chime:GetSpeakerSearchTask"]'])


def test_the_data_key_lets_cloudwatch_logs_encrypt_only_this_accounts_log_groups(single: Synthesized) -> None:
    keys = {k: v for k, v in single.resources("AWS::KMS::Key").items() if "DataKey" in k}
    ((key_id, key),) = keys.items()
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    (logs_statement,) = [s for s in statements if s.get("Sid") == "AllowCloudWatchLogsOfThisAccountAndRegion"]
    assert logs_statement["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert "kms:GenerateDataKey*" in logs_statement["Action"]
    context = json.dumps(logs_statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
    assert ":logs:us-east-1:111122223333:log-group:*" in context
    for logical_id, log_group in single.resources("AWS::Logs::LogGroup").items():
        assert log_group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}, logical_id


def test_a_given_key_also_lets_cloudwatch_logs_use_it(callee_with_options: Synthesized) -> None:
    # callee_with_options uses the stack data key; a key of the user's gets the same statement.
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account="111122223333", region="us-east-1"))
    key = cdk.aws_kms.Key(stack, "Mine", enable_key_rotation=True)
    pbx = VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])
    SpeakerSearch(stack, "Search", voice_connectors=[pbx], encryption_key=key)
    policy = stack.resolve(key.node.default_child.key_policy)  # type: ignore[union-attr]
    sids = [s.get("Sid") for s in policy["Statement"]]
    assert sids.count("AllowCloudWatchLogsOfThisAccountAndRegion") == 1


def test_stack_delete_keeps_only_the_voiceprints(single: Synthesized) -> None:
    """Transient data (queues, stream, logs, their key) goes with the stack; the domain and its key stay."""
    kept = ("Retain", "RetainExceptOnCreate")
    retained = sorted(
        v["Type"] for v in single.template["Resources"].values() if v.get("DeletionPolicy") in kept
    )
    assert retained == ["AWS::KMS::Key", "Custom::ChimeVoiceProfileDomain"]
    (domain_key,) = [
        k for k, v in single.resources("AWS::KMS::Key").items() if v.get("DeletionPolicy") in kept
    ]
    assert "VoiceProfileDomain" in domain_key


def test_connectors_added_later_are_served_by_the_handler_and_the_attachment_guard() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account="111122223333", region="us-east-1"))
    search = SpeakerSearch(
        stack,
        "Search",
        voice_connectors=[VoiceConnector.from_voice_connector_id(stack, "P0", IMPORTED_IDS[0])],
    )
    search.add_voice_connector(VoiceConnector.from_voice_connector_id(stack, "P1", IMPORTED_IDS[1]))
    search.configuration.add_voice_connector(
        VoiceConnector.from_voice_connector_id(stack, "P2", IMPORTED_IDS[2])
    )
    template = cdk.assertions.Template.from_stack(stack).to_json()
    (handler,) = [
        r
        for r in template["Resources"].values()
        if r["Properties"].get("Handler") == "index.handler"
        and "GUARD_SEARCHES" not in r["Properties"]["Environment"]["Variables"]
    ]
    assert handler["Properties"]["Environment"]["Variables"]["VOICE_CONNECTOR_IDS"] == ",".join(
        IMPORTED_IDS[:3]
    )
    role = handler["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in template["Resources"].values()
        if p["Type"] == "AWS::IAM::Policy" and {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    (start,) = [s for s in statements if s["Action"] == "chime:StartSpeakerSearchTask"]
    assert len(start["Resource"]) == 3
    # The attachment guard checks (and may write) the streaming settings of all three too.
    (guard,) = [
        r for r in template["Resources"].values() if "GUARD_SEARCHES" in json.dumps(r.get("Properties", {}))
    ]
    assert (
        json.dumps(guard["Properties"]["Environment"]).count("abcdef") == 3
    )  # and DependsOn each association
    assert len(guard["DependsOn"]) >= 3
    guard_role = guard["Properties"]["Role"]["Fn::GetAtt"][0]
    (streaming,) = [
        s
        for p in template["Resources"].values()
        if p["Type"] == "AWS::IAM::Policy" and {"Ref": guard_role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "chime:GetVoiceConnectorStreamingConfiguration" in s["Action"]
    ]
    assert len(streaming["Resource"]) == 3
