"""Every call the handlers make, on real boto3 clients with botocore's Stubber.

botocore validates each request against the real service model before the Stubber compares it with the
expected parameters, and validates the canned responses too, so these tests pin the request shapes the
in-memory fakes only imitate.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.custom_resources.conftest import COMPLETION_KEY, Invoke, shared_module
from tests.custom_resources.fakes import OWNER_TAG, STACK_ID, cfn_event

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_2 = "arn:aws:kms:us-east-1:111122223333:key/5678abcd-12ab-34cd-56ef-1234567890ab"
DOMAIN_ID = "2b6b1d0c-4c4f-4f40-8d2a-0c6f6a7c1e11"
DOMAIN_ARN = f"arn:aws:chime:us-east-1:111122223333:voice-profile-domain/{DOMAIN_ID}"
ROLE = "arn:aws:iam::111122223333:role/MediaPipelinesRole"
STREAM = "arn:aws:kinesis:us-east-1:111122223333:stream/voice-analytics"
QUEUE = "arn:aws:sqs:us-east-1:111122223333:notifications"
CONFIG_NAME = "telephony-SpeakerSearch"
CONFIG_ARN = f"arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/{CONFIG_NAME}"
CONFIG_ID = "7d6e0c1a-1111-4222-8333-944455556666"
VC = "abcdef1ghij2klmno3pqr4"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
OWNER = {"Key": OWNER_TAG, "Value": STACK_ID}
#: ListTagsForResource's answer for a resource this stack created.
OWNED = {"Tags": [{"Key": "team", "Value": "voice"}, OWNER]}


def real_client(service: str) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=shared_module().client_config(),
    )


@pytest.fixture
def voice_stub(domain_handler: ModuleType) -> Iterator[tuple[Any, Stubber]]:
    client = real_client("chime-sdk-voice")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def pipelines_stub(configuration_handler: ModuleType) -> Iterator[tuple[Any, Stubber]]:
    client = real_client("chime-sdk-media-pipelines")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def domain(name: str = "callers", key: str = KEY, **extra: Any) -> dict[str, Any]:
    return {
        "VoiceProfileDomain": {
            "VoiceProfileDomainId": DOMAIN_ID,
            "VoiceProfileDomainArn": DOMAIN_ARN,
            "Name": name,
            "ServerSideEncryptionConfiguration": {"KmsKeyArn": key},
            "CreatedTimestamp": NOW,
            "UpdatedTimestamp": NOW,
            **extra,
        }
    }


def configuration(elements: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "MediaInsightsPipelineConfiguration": {
            "MediaInsightsPipelineConfigurationName": CONFIG_NAME,
            "MediaInsightsPipelineConfigurationArn": CONFIG_ARN,
            "ResourceAccessRoleArn": ROLE,
            "Elements": elements,
            "MediaInsightsPipelineConfigurationId": CONFIG_ID,
            "CreatedTimestamp": NOW,
            "UpdatedTimestamp": NOW,
        }
    }


# -- voice profile domain -------------------------------------------------------------------------------

DOMAIN_PROPS: dict[str, Any] = {
    "Name": "callers",
    "Description": "consenting callers",
    "KmsKeyArn": KEY,
    "Tags": [{"Key": "team", "Value": "voice"}],
}


def test_create_voice_profile_domain_request(
    domain_handler: ModuleType, voice_stub: tuple[Any, Stubber], invoke: Invoke
) -> None:
    client, stubber = voice_stub
    event = cfn_event("Create", DOMAIN_PROPS)
    stubber.add_response(
        "create_voice_profile_domain",
        domain(Description="consenting callers"),
        {
            "Name": "callers",
            "Description": "consenting callers",
            "ServerSideEncryptionConfiguration": {"KmsKeyArn": KEY},
            "ClientRequestToken": domain_handler.client_request_token(event),
            "Tags": [{"Key": "team", "Value": "voice"}, OWNER],
        },
    )

    result = invoke(domain_handler, client, event)

    assert result["Data"] == {"VoiceProfileDomainId": DOMAIN_ID, "VoiceProfileDomainArn": DOMAIN_ARN}


def test_update_voice_profile_domain_and_tag_requests(
    domain_handler: ModuleType, voice_stub: tuple[Any, Stubber], invoke: Invoke
) -> None:
    client, stubber = voice_stub
    new = {**DOMAIN_PROPS, "Name": "renamed", "Tags": [{"Key": "owner", "Value": "ops"}]}
    stubber.add_response("get_voice_profile_domain", domain(), {"VoiceProfileDomainId": DOMAIN_ID})
    stubber.add_response("list_tags_for_resource", OWNED, {"ResourceARN": DOMAIN_ARN})
    stubber.add_response(
        "update_voice_profile_domain",
        domain("renamed", Description="consenting callers"),
        {"VoiceProfileDomainId": DOMAIN_ID, "Name": "renamed", "Description": "consenting callers"},
    )
    stubber.add_response("untag_resource", {}, {"ResourceARN": DOMAIN_ARN, "TagKeys": ["team"]})
    stubber.add_response(
        "tag_resource", {}, {"ResourceARN": DOMAIN_ARN, "Tags": [{"Key": "owner", "Value": "ops"}]}
    )

    result = invoke(
        domain_handler, client, cfn_event("Update", new, physical_id=DOMAIN_ID, old_properties=DOMAIN_PROPS)
    )

    assert result["PhysicalResourceId"] == DOMAIN_ID


def test_key_change_requests_a_new_domain(
    domain_handler: ModuleType, voice_stub: tuple[Any, Stubber], invoke: Invoke
) -> None:
    client, stubber = voice_stub
    event = cfn_event(
        "Update",
        {"Name": "callers", "KmsKeyArn": KEY_2, "AllowReplacementOnKeyChange": "true"},
        physical_id=DOMAIN_ID,
        old_properties=DOMAIN_PROPS,
    )
    stubber.add_response("get_voice_profile_domain", domain(), {"VoiceProfileDomainId": DOMAIN_ID})
    stubber.add_response("list_tags_for_resource", OWNED, {"ResourceARN": DOMAIN_ARN})
    stubber.add_response(
        "create_voice_profile_domain",
        domain(key=KEY_2),
        {
            "Name": "callers",
            "ServerSideEncryptionConfiguration": {"KmsKeyArn": KEY_2},
            "ClientRequestToken": domain_handler.client_request_token(event),
            "Tags": [OWNER],
        },
    )

    invoke(domain_handler, client, event)


def test_delete_voice_profile_domain_request_and_not_found(
    domain_handler: ModuleType, voice_stub: tuple[Any, Stubber], invoke: Invoke
) -> None:
    client, stubber = voice_stub
    stubber.add_response("get_voice_profile_domain", domain(), {"VoiceProfileDomainId": DOMAIN_ID})
    stubber.add_response("list_tags_for_resource", OWNED, {"ResourceARN": DOMAIN_ARN})
    stubber.add_response("delete_voice_profile_domain", {}, {"VoiceProfileDomainId": DOMAIN_ID})
    stubber.add_client_error(
        "get_voice_profile_domain",
        "NotFoundException",
        http_status_code=404,
        expected_params={"VoiceProfileDomainId": DOMAIN_ID},
    )

    for _ in range(2):
        invoke(domain_handler, client, cfn_event("Delete", DOMAIN_PROPS, physical_id=DOMAIN_ID))


# -- media insights pipeline configuration --------------------------------------------------------------

CONFIG_PROPS: dict[str, Any] = {
    "Name": CONFIG_NAME,
    "ResourceAccessRoleArn": ROLE,
    "SpeakerSearch": "Enabled",
    "VoiceToneAnalysis": "Enabled",
    "KinesisDataStreamArn": STREAM,
    "SqsQueueArn": QUEUE,
    "Tags": [{"Key": "team", "Value": "voice"}],
}
ELEMENTS = [
    {
        "Type": "VoiceAnalyticsProcessor",
        "VoiceAnalyticsProcessorConfiguration": {
            "SpeakerSearchStatus": "Enabled",
            "VoiceToneAnalysisStatus": "Enabled",
        },
    },
    {"Type": "KinesisDataStreamSink", "KinesisDataStreamSinkConfiguration": {"InsightsTarget": STREAM}},
    {"Type": "SqsQueueSink", "SqsQueueSinkConfiguration": {"InsightsTarget": QUEUE}},
]


def test_create_media_insights_pipeline_configuration_request(
    configuration_handler: ModuleType, pipelines_stub: tuple[Any, Stubber], invoke: Invoke
) -> None:
    client, stubber = pipelines_stub
    event = cfn_event("Create", CONFIG_PROPS)
    stubber.add_response(
        "create_media_insights_pipeline_configuration",
        configuration(ELEMENTS),
        {
            "MediaInsightsPipelineConfigurationName": CONFIG_NAME,
            "ResourceAccessRoleArn": ROLE,
            "Elements": ELEMENTS,
            "ClientRequestToken": configuration_handler.client_request_token(event),
            "Tags": [{"Key": "team", "Value": "voice"}, OWNER],
        },
    )

    result = invoke(configuration_handler, client, event)

    assert result["Data"] == {
        "ConfigurationArn": CONFIG_ARN,
        "ConfigurationName": CONFIG_NAME,
        "ConfigurationId": CONFIG_ID,
    }


def test_update_media_insights_pipeline_configuration_and_tag_requests(
    configuration_handler: ModuleType, pipelines_stub: tuple[Any, Stubber], invoke: Invoke
) -> None:
    client, stubber = pipelines_stub
    new = {**CONFIG_PROPS, "SqsQueueArn": "", "Tags": [{"Key": "team", "Value": "data"}]}
    _reads_configuration(stubber)
    stubber.add_response(
        "update_media_insights_pipeline_configuration",
        configuration(ELEMENTS[:2]),
        {"Identifier": CONFIG_NAME, "ResourceAccessRoleArn": ROLE, "Elements": ELEMENTS[:2]},
    )
    stubber.add_response(
        "tag_resource", {}, {"ResourceARN": CONFIG_ARN, "Tags": [{"Key": "team", "Value": "data"}]}
    )

    invoke(
        configuration_handler,
        client,
        cfn_event("Update", new, physical_id=CONFIG_NAME, old_properties=CONFIG_PROPS),
    )


def test_unchanged_configuration_only_reads_it(
    configuration_handler: ModuleType, pipelines_stub: tuple[Any, Stubber], invoke: Invoke
) -> None:
    client, stubber = pipelines_stub
    _reads_configuration(stubber)

    event = cfn_event("Update", CONFIG_PROPS, physical_id=CONFIG_NAME, old_properties=CONFIG_PROPS)
    result = invoke(configuration_handler, client, event)

    assert result["Data"]["ConfigurationArn"] == CONFIG_ARN


def test_untag_configuration_request(
    configuration_handler: ModuleType, pipelines_stub: tuple[Any, Stubber], invoke: Invoke
) -> None:
    client, stubber = pipelines_stub
    new = {k: v for k, v in CONFIG_PROPS.items() if k != "Tags"}
    _reads_configuration(stubber)
    stubber.add_response("untag_resource", {}, {"ResourceARN": CONFIG_ARN, "TagKeys": ["team"]})

    invoke(
        configuration_handler,
        client,
        cfn_event("Update", new, physical_id=CONFIG_NAME, old_properties=CONFIG_PROPS),
    )


def _reads_configuration(stubber: Stubber) -> None:
    """The Get and the owner tag read that come before any change of a configuration."""
    stubber.add_response(
        "get_media_insights_pipeline_configuration", configuration(ELEMENTS), {"Identifier": CONFIG_NAME}
    )
    stubber.add_response("list_tags_for_resource", OWNED, {"ResourceARN": CONFIG_ARN})


@pytest.mark.parametrize(("code", "status"), [("ConflictException", 409), ("BadRequestException", 400)])
def test_delete_media_insights_pipeline_configuration_request(
    configuration_handler: ModuleType,
    pipelines_stub: tuple[Any, Stubber],
    invoke: Invoke,
    code: str,
    status: int,
) -> None:
    """In use (either answer): on_event makes one attempt; the isComplete call makes the next."""
    client, stubber = pipelines_stub
    _reads_configuration(stubber)
    stubber.add_client_error(
        "delete_media_insights_pipeline_configuration",
        code,
        http_status_code=status,
        expected_params={"Identifier": CONFIG_NAME},
    )
    _reads_configuration(stubber)
    stubber.add_response("delete_media_insights_pipeline_configuration", {}, {"Identifier": CONFIG_NAME})
    event = cfn_event("Delete", CONFIG_PROPS, physical_id=CONFIG_NAME)

    answer = invoke(configuration_handler, client, event)
    assert answer[COMPLETION_KEY]["Awaiting"] == "ConfigurationDeleted"

    assert invoke(configuration_handler, client, {**event, **answer}) == {"IsComplete": True}


# -- streaming association ------------------------------------------------------------------------------

ASSOCIATION_PROPS = {"VoiceConnectorId": VC, "ConfigurationArn": CONFIG_ARN, "DataRetentionInHours": "24"}


@pytest.fixture
def streaming_stub(association_handler: ModuleType) -> Iterator[tuple[Any, Stubber]]:
    client = real_client("chime-sdk-voice")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def tags_stub(association_handler: ModuleType) -> Iterator[tuple[Any, Stubber]]:
    """The media pipelines client with which an association reads its configuration's owner tag."""
    client = real_client("chime-sdk-media-pipelines")
    with Stubber(client) as stubber:
        stubber.add_response("list_tags_for_resource", OWNED, {"ResourceARN": CONFIG_ARN})
        yield client, stubber
        stubber.assert_no_pending_responses()


def _reads_streaming(stubber: Stubber, configuration: dict[str, Any] | None) -> None:
    if configuration is None:
        stubber.add_client_error(
            "get_voice_connector_streaming_configuration",
            "NotFoundException",
            http_status_code=404,
            expected_params={"VoiceConnectorId": VC},
        )
        return
    stubber.add_response(
        "get_voice_connector_streaming_configuration",
        {"StreamingConfiguration": configuration},
        {"VoiceConnectorId": VC},
    )


def test_put_streaming_configuration_request_on_create(
    association_handler: ModuleType,
    streaming_stub: tuple[Any, Stubber],
    tags_stub: tuple[Any, Stubber],
    invoke: Invoke,
) -> None:
    client, stubber = streaming_stub
    _reads_streaming(stubber, None)  # the read
    _reads_streaming(stubber, None)  # the re-read just before writing, after the owner tag read
    desired = {
        "DataRetentionInHours": 24,
        "Disabled": False,
        "StreamingNotificationTargets": [{"NotificationTarget": "EventBridge"}],
        "MediaInsightsConfiguration": {"Disabled": False, "ConfigurationArn": CONFIG_ARN},
    }
    stubber.add_response(
        "put_voice_connector_streaming_configuration",
        {"StreamingConfiguration": desired},
        {"VoiceConnectorId": VC, "StreamingConfiguration": desired},
    )
    _reads_streaming(stubber, desired)  # the re-read that confirms the write

    result = invoke(
        association_handler,
        client,
        cfn_event("Create", ASSOCIATION_PROPS),
        configuration_client=tags_stub[0],
    )

    assert result["PhysicalResourceId"] == f"{VC}|streaming=none|eventbridge=added|retention=none"


def test_put_streaming_configuration_request_on_delete(
    association_handler: ModuleType,
    streaming_stub: tuple[Any, Stubber],
    tags_stub: tuple[Any, Stubber],
    invoke: Invoke,
) -> None:
    client, stubber = streaming_stub
    current = {
        "DataRetentionInHours": 24,
        "Disabled": False,
        "StreamingNotificationTargets": [
            {"NotificationTarget": "SNS"},
            {"NotificationTarget": "EventBridge"},
        ],
        "MediaInsightsConfiguration": {"Disabled": False, "ConfigurationArn": CONFIG_ARN},
    }
    restored = {
        "DataRetentionInHours": 2,
        "Disabled": False,
        "StreamingNotificationTargets": [{"NotificationTarget": "SNS"}],
    }
    _reads_streaming(stubber, current)
    _reads_streaming(stubber, current)
    stubber.add_response(
        "put_voice_connector_streaming_configuration",
        {"StreamingConfiguration": restored},
        {"VoiceConnectorId": VC, "StreamingConfiguration": restored},
    )
    _reads_streaming(stubber, restored)

    physical_id = f"{VC}|streaming=on|eventbridge=added|retention=2|targets=SNS"
    invoke(
        association_handler,
        client,
        cfn_event("Delete", ASSOCIATION_PROPS, physical_id=physical_id),
        configuration_client=tags_stub[0],
    )


def test_delete_streaming_configuration_request(
    association_handler: ModuleType,
    streaming_stub: tuple[Any, Stubber],
    tags_stub: tuple[Any, Stubber],
    invoke: Invoke,
) -> None:
    client, stubber = streaming_stub
    current = {
        "DataRetentionInHours": 24,
        "Disabled": False,
        "StreamingNotificationTargets": [{"NotificationTarget": "EventBridge"}],
        "MediaInsightsConfiguration": {"Disabled": False, "ConfigurationArn": CONFIG_ARN},
    }
    _reads_streaming(stubber, current)
    _reads_streaming(stubber, current)
    stubber.add_response("delete_voice_connector_streaming_configuration", {}, {"VoiceConnectorId": VC})
    _reads_streaming(stubber, None)

    physical_id = f"{VC}|streaming=none|eventbridge=added|retention=none"
    invoke(
        association_handler,
        client,
        cfn_event("Delete", ASSOCIATION_PROPS, physical_id=physical_id),
        configuration_client=tags_stub[0],
    )
