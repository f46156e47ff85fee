"""Operations wiring: voice tone result rule and IAM, the pipeline health rule, metrics, alarms, dashboard."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import aws_cdk as cdk
import pytest

from chime_speaker_search import SpeakerSearch, VoiceConnector, monitoring
from chime_speaker_search.event_types import CONFIGURATION_DETACHED_DETAIL_TYPE, RESULT_EVENT_SOURCE
from chime_speaker_search.speaker_search import VOICE_TONE_EVENT_DETAIL_TYPE
from tests.conftest import IMPORTED_IDS, Synthesized, synthesize
from tests.support import REPO_ROOT, add_handler_paths, import_path

FAILURE_EVENT_TYPES = [
    "chime:MediaInsightsCreateFailed",
    "chime:MediaInsightsTemporaryFailure",
    "chime:MediaInsightsPermanentFailure",
]


def _voice_tone_stack(stack: cdk.Stack) -> dict[str, Any]:
    connectors = [
        VoiceConnector(stack, "Created"),
        VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[2]),
    ]
    dashboard = cdk.aws_cloudwatch.Dashboard(stack, "Ops")
    search = SpeakerSearch(
        stack,
        "SpeakerSearch",
        voice_connectors=connectors[:1],
        voice_tone_analysis=True,
        enable_alarms=True,
        dashboard=dashboard,
    )
    search.add_voice_connector(connectors[1])  # the health rule and IAM follow later additions
    search.on_voice_tone_result("Tone")
    return {"search": search, "connectors": connectors, "dashboard": dashboard}


@pytest.fixture(scope="module")
def tone() -> Synthesized:
    return synthesize(_voice_tone_stack)


def _rules(synth: Synthesized, part: str) -> list[dict[str, Any]]:
    return [v["Properties"] for k, v in synth.resources("AWS::Events::Rule").items() if part in k]


def _connector_ids(synth: Synthesized) -> list[Any]:
    created = synth.stack.get_logical_id(synth.constructs["connectors"][0].node.default_child)
    return [{"Fn::GetAtt": [created, "VoiceConnectorId"]}, IMPORTED_IDS[2]]


def test_voice_tone_rule_matches_only_this_constructs_tone_results(tone: Synthesized) -> None:
    (rule,) = _rules(tone, "Tone")
    assert rule["EventBusName"] == "default"
    assert rule["EventPattern"] == {
        "source": ["chime-speaker-search"],
        "detail-type": ["Voice Tone Analysis Result"],
        "detail": {"searchId": [tone.constructs["search"].search_id]},
    }


def test_health_rule_pattern_on_the_default_bus(tone: Synthesized) -> None:
    (rule,) = _rules(tone, "PipelineHealthRule")
    assert "EventBusName" not in rule  # the pipeline publishes on the default bus only
    assert rule["EventPattern"] == {
        "source": ["aws.chime"],
        "detail-type": ["Media Insights State Change"],
        "detail": {
            # A failure event type, or an element failure of a multi-element pipeline; for either,
            # only this search's connectors (the connector list is outside the $or: both branches).
            "$or": [
                {"eventType": FAILURE_EVENT_TYPES},
                {
                    "eventType": ["chime:MediaInsightsInProgress"],
                    "mediaInsightsPipelineElementStatuses": {"status": ["Failed"]},
                },
            ],
            "voiceConnectorId": _connector_ids(tone),
        },
    }


def test_health_rule_stays_on_the_default_bus_with_a_custom_bus(callee_with_options: Synthesized) -> None:
    (rule,) = _rules(callee_with_options, "PipelineHealthRule")
    assert "EventBusName" not in rule
    assert len(rule["EventPattern"]["detail"]["voiceConnectorId"]) == 2


def test_health_rule_delivers_no_personal_data_to_the_queue(tone: Synthesized) -> None:
    (rule,) = _rules(tone, "PipelineHealthRule")
    (target,) = rule["Targets"]
    queue_id = next(k for k in tone.resources("AWS::SQS::Queue") if "NotificationQueue" in k)
    assert target["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    paths = target["InputTransformer"]["InputPathsMap"]
    assert "$.detail.failureReason" in paths.values()
    assert "$.detail.eventType" in paths.values()
    for personal in ("fromNumber", "toNumber", "callId"):
        assert not any(personal in path for path in paths.values()), personal
    assert "$.detail" not in paths.values()  # never the whole detail
    template = json.loads(re.sub(r"<[\w-]+>", "null", target["InputTransformer"]["InputTemplate"]))
    assert template["detail-type"] is None and set(template["detail"]) == set(
        monitoring.PIPELINE_EVENT_FIELDS
    )


def test_two_rules_more_and_no_metric_filter(single: Synthesized) -> None:
    # Resource budget: the health rule and the attachment check's schedule are the only additions;
    # EMF replaced the log metric filter.
    rules = list(single.resources("AWS::Events::Rule"))
    assert len(rules) == 3
    for part in ("PipelineHealthRule", "Results", "AttachmentCheckSchedule"):
        assert [k for k in rules if part in k], part
    assert single.resources("AWS::Logs::MetricFilter") == {}


def test_pipeline_failures_alarm_watches_only_the_failures_that_need_action(tone: Synthesized) -> None:
    """Create, permanent and element failures: one is enough. Temporary failures ("no action is
    required", AWS retries them) are counted by kind, never alarmed on."""
    alarms = [a["Properties"] for a in tone.resources("AWS::CloudWatch::Alarm").values()]
    assert not [a for a in alarms if a["MetricName"] == "TriggeredRules"]
    (alarm,) = [a for a in alarms if a["MetricName"] == "PipelineFailuresNeedingAction"]
    assert alarm["Namespace"] == "ChimeSpeakerSearch"
    assert alarm["Dimensions"] == [{"Name": "SearchId", "Value": tone.constructs["search"].search_id}]
    assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["EvaluationPeriods"] == 1
    assert alarm["TreatMissingData"] == "notBreaching"
    assert tone.constructs["search"].pipeline_failures_alarm is not None


@pytest.mark.parametrize(
    ("attribute", "metric_name"),
    [
        ("configuration_detached_alarm", "ConfigurationDetached"),
        ("attachment_check_failures_alarm", "AttachmentCheckFailures"),
        # Forgery attempts: the handler's total of every refused input (no Status dimension).
        ("inputs_refused_alarm", "InputsRefused"),
    ],
)
def test_the_attachment_guards_and_perimeter_alarms(
    tone: Synthesized, attribute: str, metric_name: str
) -> None:
    search = tone.constructs["search"]
    assert getattr(search, attribute) is not None
    alarms = [a["Properties"] for a in tone.resources("AWS::CloudWatch::Alarm").values()]
    (alarm,) = [a for a in alarms if a["MetricName"] == metric_name]
    assert (alarm["Namespace"], alarm["Statistic"], alarm["Threshold"]) == ("ChimeSpeakerSearch", "Sum", 1)
    assert alarm["Dimensions"] == [{"Name": "SearchId", "Value": search.search_id}]
    assert alarm["TreatMissingData"] == "notBreaching"


def test_voice_tone_iam_only_on_its_connectors(tone: Synthesized) -> None:
    handler = next(
        v
        for v in tone.resources("AWS::Lambda::Function").values()
        if v["Properties"].get("Handler") == "index.handler"
    )
    role = handler["Properties"]["Role"]["Fn::GetAtt"][0]
    assert handler["Properties"]["Environment"]["Variables"]["VOICE_TONE_ANALYSIS"] == "true"
    statements = [
        s
        for p in tone.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    tone_statements = [s for s in statements if "VoiceToneAnalysisTask" in json.dumps(s["Action"])]
    (statement,) = tone_statements
    # Stop only with require_consent (a late "declined" stops the task), as for speaker search.
    assert statement["Action"] == "chime:StartVoiceToneAnalysisTask"
    assert len(statement["Resource"]) == 2
    assert "*" not in json.dumps(statement["Resource"])


def test_no_voice_tone_permission_without_voice_tone(single: Synthesized) -> None:
    text = json.dumps(single.resources("AWS::IAM::Policy"))
    assert "VoiceTone" not in text
    handler = next(
        v
        for v in single.resources("AWS::Lambda::Function").values()
        if v["Properties"].get("Handler") == "index.handler"
    )
    assert handler["Properties"]["Environment"]["Variables"]["VOICE_TONE_ANALYSIS"] == "false"


def test_grant_read_results_includes_voice_tone_tasks_only_with_voice_tone() -> None:
    stack = cdk.Stack(cdk.App(), "Grants")
    for voice_tone, expected in ((False, ["chime:GetSpeakerSearchTask"]), (True, None)):
        connector = VoiceConnector.from_voice_connector_id(
            stack, f"Vc{voice_tone}", IMPORTED_IDS[3 + voice_tone]
        )
        search = SpeakerSearch(
            stack, f"S{voice_tone}", voice_connectors=[connector], voice_tone_analysis=voice_tone
        )
        role = cdk.aws_iam.Role(stack, f"Reader{voice_tone}", assumed_by=cdk.aws_iam.AccountRootPrincipal())
        search.grant_read_results(role)
        (statement,) = stack.resolve(role.node.find_child("DefaultPolicy").document)["Statement"]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert actions == (expected or ["chime:GetSpeakerSearchTask", "chime:GetVoiceToneAnalysisTask"])


METRIC_METHODS = [
    ("metric_starts", "SpeakerSearchStarted", "Sum"),
    ("metric_duplicate_starts", "SpeakerSearchDuplicateStarts", "Sum"),
    ("metric_failed_starts", "SpeakerSearchFailedStarts", "Sum"),
    ("metric_start_latency", "SpeakerSearchStartLatency", "p50"),
    ("metric_results", "SpeakerSearchResults", "Sum"),
    ("metric_voice_tone_starts", "VoiceToneStarted", "Sum"),
    ("metric_voice_tone_duplicate_starts", "VoiceToneDuplicateStarts", "Sum"),
    ("metric_voice_tone_failed_starts", "VoiceToneFailedStarts", "Sum"),
    ("metric_voice_tone_start_latency", "VoiceToneStartLatency", "p50"),
    ("metric_voice_tone_results", "VoiceToneResults", "Sum"),
    ("metric_pipeline_failures_needing_action", "PipelineFailuresNeedingAction", "Sum"),
    ("metric_configuration_detached", "ConfigurationDetached", "Sum"),
    ("metric_configuration_repaired", "ConfigurationRepaired", "Sum"),
    ("metric_attachment_check_failures", "AttachmentCheckFailures", "Sum"),
]


@pytest.mark.parametrize(("method", "name", "statistic"), METRIC_METHODS)
def test_handler_metrics(tone: Synthesized, method: str, name: str, statistic: str) -> None:
    search = tone.constructs["search"]
    metric = getattr(search, method)()
    assert (metric.namespace, metric.metric_name, metric.statistic) == ("ChimeSpeakerSearch", name, statistic)
    assert metric.dimensions == {"SearchId": search.search_id}
    assert metric.period.to_minutes() == 5
    assert getattr(search, method)(period=cdk.Duration.minutes(1)).period.to_minutes() == 1


def test_results_by_status_add_the_status_dimension(tone: Synthesized) -> None:
    search = tone.constructs["search"]
    metric = search.metric_results(status="IdentificationSuccessful")
    assert metric.dimensions == {"SearchId": search.search_id, "Status": "IdentificationSuccessful"}
    tone_metric = search.metric_voice_tone_results(status="VoiceToneAnalysisCompleted")
    assert tone_metric.dimensions["Status"] == "VoiceToneAnalysisCompleted"


@pytest.mark.parametrize(
    ("method", "argument", "value", "allowed"),
    [
        ("metric_results", "status", "Identified", "'IdentificationSuccessful', "),
        ("metric_voice_tone_results", "status", "Completed", "'VoiceToneAnalysisSuccessful', "),
        ("metric_calls_not_searched", "reason", "refused", "'declined', 'ended'"),
        ("metric_calls_not_searched", "reason", None, "'declined', 'ended'"),
        ("metric_pipeline_failures", "kind", "Temporary", "'CreateFailed', 'PermanentFailure', "),
    ],
)
def test_a_status_the_handler_never_emits_is_refused(
    tone: Synthesized, method: str, argument: str, value: str | None, allowed: str
) -> None:
    """A misspelt status would give a metric with no data, and an alarm on it would never fire."""
    message = rf"^{argument}: {value!r} is not allowed; allowed values are {allowed}"
    with pytest.raises(ValueError, match=message):
        getattr(tone.constructs["search"], method)(**{argument: value})


@pytest.mark.parametrize("kind", ["CreateFailed", "PermanentFailure", "ElementFailure", "TemporaryFailure"])
def test_pipeline_failures_by_kind_are_the_handlers_count(tone: Synthesized, kind: str) -> None:
    search = tone.constructs["search"]
    metric = search.metric_pipeline_failures(kind=kind)
    assert (metric.namespace, metric.metric_name, metric.statistic) == (
        "ChimeSpeakerSearch",
        "PipelineFailures",
        "Sum",
    )
    assert metric.dimensions == {"SearchId": search.search_id, "Status": kind}
    assert search.metric_pipeline_failures(kind=kind, period=cdk.Duration.minutes(1)).period.to_minutes() == 1


def test_pipeline_failures_and_throttles_metrics(tone: Synthesized) -> None:
    search = tone.constructs["search"]
    failures = search.metric_pipeline_failures()
    assert (failures.namespace, failures.metric_name, failures.statistic) == (
        "AWS/Events",
        "TriggeredRules",
        "Sum",
    )
    assert tone.stack.resolve(failures.dimensions["RuleName"]) == tone.stack.resolve(
        search.pipeline_health_rule.rule_name
    )
    assert search.metric_handler_throttles().metric_name == "Throttles"


def _dashboard_metrics(synth: Synthesized) -> list[list[Any]]:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = "".join(p if isinstance(p, str) else json.dumps(json.dumps(p))[1:-1] for p in parts)
    widgets = json.loads(body)["widgets"]
    return [m for w in widgets for m in w["properties"].get("metrics", [])]


def test_dashboard_holds_every_operator_metric(tone: Synthesized) -> None:
    metrics = _dashboard_metrics(tone)
    search_id = tone.constructs["search"].search_id

    def has(namespace: str, name: str, *, stat: str | None = None, status: str | None = None) -> bool:
        for m in metrics:
            if m[0] != namespace or m[1] != name:
                continue
            options = m[-1] if isinstance(m[-1], dict) else {}
            if stat is not None and options.get("stat") != stat:
                continue
            if namespace == "ChimeSpeakerSearch" and search_id not in m:
                continue
            if status is not None and status not in m:
                continue
            return True
        return False

    for name in ("SpeakerSearchStarted", "SpeakerSearchDuplicateStarts", "SpeakerSearchFailedStarts"):
        assert has("ChimeSpeakerSearch", name), name
    for name in ("VoiceToneStarted", "VoiceToneDuplicateStarts", "VoiceToneFailedStarts"):
        assert has("ChimeSpeakerSearch", name), name
    for name in ("SpeakerSearchStartLatency", "VoiceToneStartLatency"):
        assert has("ChimeSpeakerSearch", name, stat="p50") and has("ChimeSpeakerSearch", name, stat="p99"), (
            name
        )
    for status in monitoring.SPEAKER_SEARCH_RESULT_STATUSES:
        assert has("ChimeSpeakerSearch", "SpeakerSearchResults", status=status), status
    for status in monitoring.VOICE_TONE_RESULT_STATUSES:
        assert has("ChimeSpeakerSearch", "VoiceToneResults", status=status), status
    assert has("AWS/SQS", "ApproximateNumberOfMessagesVisible", stat="Maximum")
    assert has("AWS/Events", "TriggeredRules")
    for kind in monitoring.PIPELINE_FAILURE_KINDS:
        assert has("ChimeSpeakerSearch", "PipelineFailures", status=kind), kind
    for name in ("ConfigurationDetached", "ConfigurationRepaired", "AttachmentCheckFailures"):
        assert has("ChimeSpeakerSearch", name), name
    assert has("AWS/Lambda", "Errors") and has("AWS/Lambda", "Throttles")


def test_add_to_dashboard_without_voice_tone_leaves_voice_tone_out() -> None:
    def build(stack: cdk.Stack) -> dict[str, Any]:
        connector = VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[4])
        search = SpeakerSearch(stack, "SpeakerSearch", voice_connectors=[connector])
        dashboard = cdk.aws_cloudwatch.Dashboard(stack, "Ops")
        search.add_to_dashboard(dashboard)
        return {"search": search}

    names = {m[1] for m in _dashboard_metrics(synthesize(build))}
    assert "SpeakerSearchStarted" in names and "TriggeredRules" in names
    assert not {n for n in names if n.startswith("VoiceTone")}


def test_construct_and_handler_agree_on_metric_names_statuses_and_event_types() -> None:
    lambda_dir = REPO_ROOT / "lambda" / "speaker_search"
    handler_metrics = import_path("obs_handler_metrics", lambda_dir / "metrics.py")
    assert monitoring.METRIC_NAMESPACE == handler_metrics.NAMESPACE
    for name in (
        "SPEAKER_SEARCH_STARTED",
        "SPEAKER_SEARCH_DUPLICATE_STARTS",
        "SPEAKER_SEARCH_FAILED_STARTS",
        "SPEAKER_SEARCH_START_LATENCY",
        "SPEAKER_SEARCH_RESULTS",
        "VOICE_TONE_STARTED",
        "VOICE_TONE_DUPLICATE_STARTS",
        "VOICE_TONE_FAILED_STARTS",
        "VOICE_TONE_START_LATENCY",
        "VOICE_TONE_RESULTS",
    ):
        assert getattr(monitoring, name) == getattr(handler_metrics, name), name
    add_handler_paths("speaker_search")
    results = import_path("results", lambda_dir / "results.py")
    health = import_path("health", lambda_dir / "health.py")
    assert set(monitoring.SPEAKER_SEARCH_RESULT_STATUSES) == set(results.RESULT_STATUSES.values())
    assert set(monitoring.VOICE_TONE_RESULT_STATUSES) == results.VOICE_TONE_STATUSES
    assert set(monitoring.PIPELINE_FAILURE_EVENT_TYPES) == health.FAILURE_EVENT_TYPES
    assert results.VOICE_TONE_DETAIL_TYPE == VOICE_TONE_EVENT_DETAIL_TYPE
    assert health.PIPELINE_DETAIL_TYPE == monitoring.PIPELINE_EVENT_DETAIL_TYPE
    # Pipeline failures by kind (health.py) and the attachment guard's metrics (guard_report.py).
    assert (health.PIPELINE_FAILURES, health.PIPELINE_FAILURES_NEEDING_ACTION) == (
        monitoring.PIPELINE_FAILURES,
        monitoring.PIPELINE_FAILURES_NEEDING_ACTION,
    )
    assert {*health.FAILURE_KINDS.values(), health.ELEMENT_FAILURE_KIND} == set(
        monitoring.PIPELINE_FAILURE_KINDS
    )
    assert set(monitoring.PIPELINE_FAILURE_KINDS_NEEDING_ACTION) == health.KINDS_NEEDING_ACTION
    assert (health.ELEMENT_FAILURE_EVENT_TYPE, health.FAILED_ELEMENT_STATUS) == (
        monitoring.PIPELINE_ELEMENT_FAILURE_EVENT_TYPE,
        monitoring.PIPELINE_ELEMENT_FAILED_STATUS,
    )
    add_handler_paths("attachment_guard")
    guard_report = import_path("guard_report", REPO_ROOT / "lambda" / "attachment_guard" / "guard_report.py")
    assert guard_report.NAMESPACE == monitoring.METRIC_NAMESPACE
    for name in ("CONFIGURATION_DETACHED", "CONFIGURATION_REPAIRED", "ATTACHMENT_CHECK_FAILURES"):
        assert getattr(guard_report, name) == getattr(monitoring, name), name
    assert guard_report.DETAIL_TYPE == CONFIGURATION_DETACHED_DETAIL_TYPE
    assert guard_report.SOURCE == RESULT_EVENT_SOURCE
    emitted = {
        reason
        for source in lambda_dir.glob("*.py")
        for reason in re.findall(r'CALLS_NOT_SEARCHED, status="(\w+)"', source.read_text(encoding="utf-8"))
    }
    assert emitted == set(monitoring.CALLS_NOT_SEARCHED_REASONS)


def test_every_metric_the_handler_emits_has_a_metric_method(tone: Synthesized) -> None:
    """A metric the handler emits but no ``metric_*`` method returns is one users cannot alarm on."""
    handler_metrics = import_path(
        "obs_handler_metrics", REPO_ROOT / "lambda" / "speaker_search" / "metrics.py"
    )
    emitted = {
        value
        for name, value in vars(handler_metrics).items()
        if name.isupper() and isinstance(value, str) and name not in {"NAMESPACE", "COUNT", "MILLISECONDS"}
    }
    search = tone.constructs["search"]
    offered = {
        getattr(search, name)().metric_name
        for name in dir(search)
        if name.startswith("metric_") and callable(getattr(search, name))
    }
    assert emitted, "no metric names found in the handler's metrics.py"
    assert emitted <= offered, sorted(emitted - offered)


def test_aws_metric_methods_take_metric_options(tone: Synthesized) -> None:
    search = tone.constructs["search"]
    for method, default in (
        ("metric_dead_letter_queue_depth", "Maximum"),
        ("metric_handler_errors", "Sum"),
        ("metric_handler_throttles", "Sum"),
        ("metric_pipeline_failures", "Sum"),
    ):
        metric = getattr(search, method)()
        assert metric.statistic == default, method
        custom = getattr(search, method)(statistic="Average", period=cdk.Duration.minutes(15), label="x")
        assert (custom.statistic, custom.period.to_minutes(), custom.label) == ("Average", 15, "x"), method


def test_only_the_health_rule_may_send_to_the_queue(tone: Synthesized) -> None:
    [policy] = [v for k, v in tone.resources("AWS::SQS::QueuePolicy").items() if "NotificationQueue" in k]
    allows = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    rule_id = next(k for k in tone.resources("AWS::Events::Rule") if "PipelineHealthRule" in k)
    assert allows == [
        {
            "Action": "sqs:SendMessage",
            "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}},
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Resource": allows[0]["Resource"],
        }
    ]
    key = next(v for k, v in tone.resources("AWS::KMS::Key").items() if "ChimeSpeakerSearchDataKey" in k)
    [statement] = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s["Principal"] == {"Service": "events.amazonaws.com"}
    ]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "111122223333"}


@pytest.mark.parametrize(
    ("method", "metric_name", "reasons"),
    [
        ("metric_results_withheld", "ResultsWithheld", ("declined", "no-decision", "call-unknown")),
        (
            "metric_inputs_refused",
            "InputsRefused",
            ("raw-invocation", "foreign-queue", "invalid-receipt-handle", "no-envelope"),
        ),
    ],
)
def test_perimeter_and_consent_gate_metrics_in_total_and_by_reason(
    tone: Synthesized, method: str, metric_name: str, reasons: tuple[str, ...]
) -> None:
    """The handler emits each of these in total and by ``Status`` (lambda/speaker_search/perimeter.py,
    results.py): every reason it emits is offered, and one it never emits is refused."""
    search = tone.constructs["search"]
    total = getattr(search, method)()
    assert (total.metric_name, total.dimensions) == (metric_name, {"SearchId": search.search_id})
    for reason in reasons:
        assert getattr(search, method)(reason=reason).dimensions["Status"] == reason
    with pytest.raises(ValueError, match="reason"):
        getattr(search, method)(reason="something-else")


def test_the_reasons_offered_are_the_ones_the_handler_emits() -> None:
    """Each ``Status`` value the construct offers is a string constant of the handler's modules, so a
    method never returns a metric without data (and a renamed reason fails here)."""
    from chime_speaker_search import monitoring

    constants: set[str] = set()
    for path in (REPO_ROOT / "lambda" / "speaker_search").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            value = node.value if isinstance(node, ast.Assign) else None
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                constants.add(value.value)
    for reasons in (monitoring.RESULTS_WITHHELD_REASONS, monitoring.INPUTS_REFUSED_REASONS):
        assert set(reasons) <= constants, sorted(set(reasons) - constants)
