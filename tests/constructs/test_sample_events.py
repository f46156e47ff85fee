"""The sample events shipped in the package: complete, free of personal data, valid against AWS's
models, and (the ``.delivered`` ones) exactly what the construct's rules put on the queue.

tests/runtime/test_sample_events.py feeds them through the handler.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import aws_cdk as cdk
import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from botocore.validate import ParamValidator

from chime_speaker_search import SpeakerSearch, VoiceConnector, event_types, sample_events
from tests.conftest import ENV
from tests.event_patterns import matches

REQUESTS = {
    "speaker-search-consent": event_types.CONSENT_REQUEST_DETAIL_TYPE,
    "enroll-voice-profile": event_types.ENROLL_VOICE_PROFILE_DETAIL_TYPE,
    "update-voice-profile": event_types.UPDATE_VOICE_PROFILE_DETAIL_TYPE,
    "delete-voice-profile": event_types.DELETE_VOICE_PROFILE_DETAIL_TYPE,
}
NOTIFICATIONS = {
    "analytics-ready": event_types.VOICE_ANALYTICS_STATUS_DETAIL_TYPE,
    "speaker-search-status-identification": event_types.SPEAKER_SEARCH_STATUS_DETAIL_TYPE,
    "speaker-search-status-voiceprint": event_types.SPEAKER_SEARCH_STATUS_DETAIL_TYPE,
    "voice-tone-analysis-status": event_types.VOICE_TONE_ANALYSIS_STATUS_DETAIL_TYPE,
    "media-insights-state-change-failure": event_types.PIPELINE_EVENT_DETAIL_TYPE,
}
#: Keys that would carry personal data: phone numbers, SIP headers, caller names.
PERSONAL_KEYS = {"fromNumber", "toNumber", "inviteHeaders", "updateHeaders", "siprecMetadata", "sipHeaders"}
#: E.164, North American with separators, the local 555-01XX form, SIP URIs and addresses.
PHONE_OR_SIP = re.compile(r"\+\d{7,15}|\(?\b\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b|\b555[ .-]?01\d\d\b|sip:|@")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value, *(_strings(json.loads(value)) if value.startswith("{") else [])]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _keys(value: Any) -> set[str]:
    if isinstance(value, str) and value.startswith("{"):
        return _keys(json.loads(value))
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


# --- the accessor ----------------------------------------------------------------------------------


def test_every_sample_the_library_promises_is_there() -> None:
    expected = {
        *NOTIFICATIONS,
        "media-insights-state-change-failure.delivered",
        "get-speaker-search-task-response",
        *(f"{name}.{form}" for name in REQUESTS for form in ("sent", "delivered")),
    }
    assert set(sample_events.names()) == expected


def test_load_returns_a_fresh_copy_and_names_the_samples_for_an_unknown_name() -> None:
    first = sample_events.load("analytics-ready")
    first["detail"]["voiceConnectorId"] = "changed"
    assert sample_events.load("analytics-ready")["detail"]["voiceConnectorId"] != "changed"
    with pytest.raises(ValueError, match=r"^name: 'analytics_ready' is not a sample event; the samples are "):
        sample_events.load("analytics_ready")


@pytest.mark.parametrize("name", sample_events.names())
def test_no_sample_carries_personal_data(name: str) -> None:
    sample = sample_events.load(name)
    assert not _keys(sample) & PERSONAL_KEYS
    assert [s for s in _strings(sample) if PHONE_OR_SIP.search(s)] == []


def test_the_personal_data_check_can_fail() -> None:
    leaks: list[dict[str, Any]] = [
        {"fromNumber": "x"},
        {"a": "+12065550100"},
        {"a": "sip:alice@example.com"},
        {"a": "(206) 555-0100"},
        {"a": "206.555.0100"},
        {"a": "call 555-0123"},
        {"a": json.dumps({"inviteHeaders": {}})},
    ]
    for leak in leaks:
        assert _keys(leak) & PERSONAL_KEYS or any(map(PHONE_OR_SIP.search, _strings(leak))), leak
    # IDs are not phone numbers.
    assert not PHONE_OR_SIP.search("daaeb6bf-2fe2-4e51-984e-d0fbf2f09436 written-release-0001")


# --- notifications and AWS's shapes ----------------------------------------------------------------


@pytest.mark.parametrize(("name", "detail_type"), sorted(NOTIFICATIONS.items()))
def test_each_notification_has_the_envelope_and_detail_type_aws_sends(name: str, detail_type: str) -> None:
    sample = sample_events.load(name)
    assert sample["detail-type"] == detail_type
    assert sample["source"] == event_types.VOICE_ANALYTICS_EVENT_SOURCE == event_types.PIPELINE_EVENT_SOURCE
    assert {"version", "id", "account", "time", "region", "detail"} <= set(sample)
    assert detail_type in event_types.READ_DETAIL_TYPES


def test_the_task_response_is_valid_for_botocores_model() -> None:
    """Stubber checks a response against the chime-sdk-voice service model."""
    client = boto3.client(
        "chime-sdk-voice", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    response = sample_events.load("get-speaker-search-task-response")
    task = response["SpeakerSearchTask"]
    assert task["SpeakerSearchDetails"]["VoiceprintGenerationStatus"] == "VoiceprintGenerationSuccess"
    with Stubber(client) as stubber:
        stubber.add_response("get_speaker_search_task", response)
        answer = client.get_speaker_search_task(
            VoiceConnectorId=task["CallDetails"]["VoiceConnectorId"],
            SpeakerSearchTaskId=task["SpeakerSearchTaskId"],
        )
    assert answer["SpeakerSearchTask"]["SpeakerSearchTaskId"] == task["SpeakerSearchTaskId"]


@pytest.mark.parametrize("name", REQUESTS)
def test_each_sent_request_is_a_valid_put_events_entry(name: str) -> None:
    entry = sample_events.load(f"{name}.sent")
    model = botocore.session.get_session().get_service_model("events")
    report = ParamValidator().validate({"Entries": [entry]}, model.operation_model("PutEvents").input_shape)
    assert not report.has_errors(), report.generate_report()
    assert (entry["Source"], entry["DetailType"]) == (event_types.DEFAULT_REQUEST_SOURCE, REQUESTS[name])
    assert isinstance(json.loads(entry["Detail"]), dict)


# --- .delivered is what the construct's rules make of the event -------------------------------------


@pytest.fixture(scope="module")
def rules() -> dict[str, Any]:
    """The rule resources of a search that serves every request, for the samples' connector."""
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    connector_id = sample_events.load("analytics-ready")["detail"]["voiceConnectorId"]
    pbx = VoiceConnector.from_voice_connector_id(stack, "Pbx", connector_id)
    search = SpeakerSearch(
        stack, "Search", voice_connectors=[pbx], require_consent=True, enable_enrollment=True
    )
    template = cdk.assertions.Template.from_stack(stack).to_json()
    found = {
        name.split("Search", 1)[1].split("Rule")[0]: resource["Properties"]
        for name, resource in template["Resources"].items()
        # The attachment guard's schedule has no pattern: it routes nothing to the queue.
        if resource["Type"] == "AWS::Events::Rule" and "EventPattern" in resource["Properties"]
    }
    assert set(found) == {"ConsentRequest", "EnrollmentRequest", "PipelineHealth"}
    return {**found, "searchId": search.search_id}


def _transform(transformer: dict[str, Any], event: dict[str, Any], ingestion_time: str) -> Any:
    """EventBridge's input transformer: each ``<name>`` becomes the JSON value at its path (a missing
    path: null) and ``<aws.events.event.ingestion-time>`` the time EventBridge received the event."""

    def at(path: str) -> Any:
        node: Any = event
        for key in path.removeprefix("$").split(".")[1:]:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    text = transformer["InputTemplate"].replace("<aws.events.event.ingestion-time>", ingestion_time)
    for name, path in transformer["InputPathsMap"].items():
        text = text.replace(f"<{name}>", json.dumps(at(path)))
    return json.loads(text)


def _matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """An EventBridge pattern (exact-value lists, nested objects, ``$or``, fields in arrays of objects:
    all the library writes), as tests/event_patterns.py emulates it."""
    return matches(pattern, event)


@pytest.mark.parametrize("name", REQUESTS)
def test_delivered_is_the_sent_entry_as_the_rule_puts_it_on_the_queue(
    name: str, rules: dict[str, Any]
) -> None:
    sent, delivered = sample_events.load(f"{name}.sent"), sample_events.load(f"{name}.delivered")
    event = delivered["event"]
    # The event EventBridge made of the entry.
    assert (event["source"], event["detail-type"]) == (sent["Source"], sent["DetailType"])
    assert event["detail"] == json.loads(sent["Detail"])
    # The rule for its kind matches it (with this construct's searchId) and wraps it as the sample shows.
    rule = rules["ConsentRequest" if name == "speaker-search-consent" else "EnrollmentRequest"]
    routed = copy.deepcopy(event)
    if "searchId" in routed["detail"]:
        routed["detail"]["searchId"] = rules["searchId"]
        assert not _matches(rule["EventPattern"], event)  # another construct's searchId: not this rule's
    assert _matches(rule["EventPattern"], routed)
    (target,) = rule["Targets"]
    assert _transform(target["InputTransformer"], event, delivered["ingestionTime"]) == delivered
    assert delivered["envelope"] == event_types.REQUEST_ENVELOPE


def test_the_delivered_pipeline_failure_is_what_the_health_rule_makes_of_awss_event(
    rules: dict[str, Any],
) -> None:
    aws_event = sample_events.load("media-insights-state-change-failure")
    rule = rules["PipelineHealth"]
    assert _matches(rule["EventPattern"], aws_event)
    (target,) = rule["Targets"]
    delivered = _transform(target["InputTransformer"], aws_event, "unused")
    assert delivered == sample_events.load("media-insights-state-change-failure.delivered")
    assert delivered["detail"]["mediaInsightsPipelineArn"] is None  # a CreateFailed event has none


def test_the_transformer_model_can_fail() -> None:
    transformer = {
        "InputTemplate": '{"a":<f1>,"t":"<aws.events.event.ingestion-time>"}',
        "InputPathsMap": {"f1": "$.x"},
    }
    assert _transform(transformer, {"x": "v"}, "T") == {"a": "v", "t": "T"}
    assert _transform(transformer, {}, "T") == {"a": None, "t": "T"}
    assert not _matches({"detail": {"id": ["a"]}}, {"detail": {"id": "b"}})
