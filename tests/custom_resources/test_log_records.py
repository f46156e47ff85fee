"""The log records of the custom resource handlers: event names and their documented fields.

Operators query these records (CloudWatch Logs Insights on the ``message`` and the ``extra`` fields) to
see what a stack operation did to a Voice Connector, a configuration or a voice profile domain, so each
path's record is pinned by name and fields here. Records carry IDs and names only, never properties
such as key ARNs (see test_shared_behaviour.test_logs_carry_no_key_arn_or_token).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.custom_resources.conftest import FakeClock, Invoke
from tests.custom_resources.fakes import (
    FAILED_CREATE_PHYSICAL_ID,
    OWNED,
    FakeChimeSdkMediaPipelines,
    FakeChimeSdkVoice,
    OtherWriter,
    cfn_event,
)

KEY_A = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_B = "arn:aws:kms:us-east-1:111122223333:key/mrk-5678abcd12ab34cd56ef1234567890ab"
DOMAIN = {"Name": "callers", "KmsKeyArn": KEY_A}
ROLE = "arn:aws:iam::111122223333:role/telephony-MediaPipelinesRole-1A2B3C"
QUEUE = "arn:aws:sqs:us-east-1:111122223333:telephony-Notifications-AbC123"
NAME = "telephony-SpeakerSearch-1a2b3c4d"
CONFIGURATION = {"Name": NAME, "ResourceAccessRoleArn": ROLE, "SqsQueueArn": QUEUE}
VC = "abcdef1ghij2klmno3pqr4"
ARN = "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/telephony-SpeakerSearch"
FOREIGN = "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/someone-elses"
ASSOCIATION = {"VoiceConnectorId": VC, "ConfigurationArn": ARN, "DataRetentionInHours": "24"}
NONE_ADDED = f"{VC}|streaming=none|eventbridge=added|retention=none"

#: Handler modules whose records these tests read (the shared module logs "request" and "api_retried").
LOGGERS = (
    "cfn_custom_resource",
    "voice_profile_domain",
    "media_insights_configuration",
    "streaming_association",
)


class Records:
    """The records of one request: their messages in order, and the fields of one of them."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    def start(self) -> None:
        self._caplog.clear()

    def _ours(self) -> Iterator[logging.LogRecord]:
        # Under `make mutation` the logger names are path-derived (lambda._common.cfn_custom_resource).
        return (record for record in self._caplog.records if record.name.rsplit(".", 1)[-1] in LOGGERS)

    @property
    def messages(self) -> list[str]:
        return [record.getMessage() for record in self._ours()]

    def fields(self, message: str, *names: str) -> dict[str, Any]:
        (record,) = [record for record in self._ours() if record.getMessage() == message]
        assert record.levelno == logging.INFO
        return {name: record.__dict__.get(name, "<absent>") for name in names}


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Records:
    caplog.set_level(logging.INFO)
    return Records(caplog)


# -- the request record every handler writes first (cfn_custom_resource.dispatch) --------------------


@pytest.mark.parametrize("request_type", ["Create", "Update", "Delete"])
def test_every_request_is_logged_with_its_ids_and_time_left(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, logs: Records, request_type: str
) -> None:
    physical_id = invoke(domain_handler, voice, cfn_event("Create", DOMAIN))["PhysicalResourceId"]
    event = cfn_event(
        request_type,
        DOMAIN,
        physical_id=None if request_type == "Create" else physical_id,
        old_properties=DOMAIN if request_type == "Update" else None,
        logical_id="CallerDomain",
        request_id="req-1",
    )
    logs.start()

    invoke(domain_handler, voice, event, remaining_s=300.0)

    assert logs.messages[0] == "request"
    assert logs.fields(
        "request",
        "request_type",
        "logical_resource_id",
        "resource_type",
        "physical_resource_id",
        "time_left_s",
    ) == {
        "request_type": request_type,
        "logical_resource_id": "CallerDomain",
        "resource_type": "Custom::ChimeVoiceProfileDomain",
        "physical_resource_id": None if request_type == "Create" else physical_id,
        # 300 s of Lambda time less the 10 s safety margin, within the type's 120 s budget.
        "time_left_s": 120.0,
    }


def test_time_left_is_logged_rounded_to_a_tenth_of_a_second(shared: ModuleType, logs: Records) -> None:
    result = shared.dispatch(
        cfn_event("Delete", DOMAIN, physical_id="domain-1"),
        object(),
        shared.Deadline.after(12.3456),
        parse=lambda props: pytest.fail("Delete must not parse"),
        create=lambda *args: pytest.fail("not a Create"),
        update=lambda *args: pytest.fail("not an Update"),
        delete=lambda event, client, deadline: {"PhysicalResourceId": "deleted", "Data": {}},
    )

    assert result == {"PhysicalResourceId": "deleted", "Data": {}}
    assert logs.fields("request", "time_left_s") == {"time_left_s": 12.3}


# -- voice profile domain -----------------------------------------------------------------------------


def test_domain_records(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, logs: Records
) -> None:
    created = invoke(domain_handler, voice, cfn_event("Create", DOMAIN))["PhysicalResourceId"]
    assert logs.messages == ["request", "domain_created"]
    assert logs.fields("domain_created", "voice_profile_domain_id") == {"voice_profile_domain_id": created}

    logs.start()
    new = {**DOMAIN, "KmsKeyArn": KEY_B, "AllowReplacementOnKeyChange": "true"}
    replaced = invoke(
        domain_handler, voice, cfn_event("Update", new, physical_id=created, old_properties=DOMAIN)
    )["PhysicalResourceId"]
    assert logs.messages == ["request", "domain_replaced_for_new_key", "domain_created"]
    assert logs.fields("domain_replaced_for_new_key", "old_voice_profile_domain_id") == {
        "old_voice_profile_domain_id": created
    }
    assert logs.fields("domain_created", "voice_profile_domain_id") == {"voice_profile_domain_id": replaced}

    logs.start()
    invoke(domain_handler, voice, cfn_event("Delete", new, physical_id=replaced))
    assert logs.messages == ["request", "domain_deleted"]
    assert logs.fields("domain_deleted", "voice_profile_domain_id") == {"voice_profile_domain_id": replaced}

    logs.start()
    invoke(domain_handler, voice, cfn_event("Delete", new, physical_id=replaced))
    assert logs.messages == ["request", "domain_already_gone"]
    assert logs.fields("domain_already_gone", "voice_profile_domain_id") == {
        "voice_profile_domain_id": replaced
    }

    logs.start()
    invoke(domain_handler, voice, cfn_event("Delete", new, physical_id=FAILED_CREATE_PHYSICAL_ID))
    assert logs.messages == ["request", "delete_skipped_not_a_domain_id"]


# -- media insights pipeline configuration -------------------------------------------------------------


def test_configuration_records(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke, logs: Records
) -> None:
    invoke(configuration_handler, pipelines, cfn_event("Create", CONFIGURATION))
    assert logs.messages == ["request", "configuration_created"]
    assert logs.fields("configuration_created", "configuration_name") == {"configuration_name": NAME}

    logs.start()
    renamed = {**CONFIGURATION, "Name": f"{NAME}-v2"}
    invoke(
        configuration_handler,
        pipelines,
        cfn_event("Update", renamed, physical_id=NAME, old_properties=CONFIGURATION),
    )
    assert logs.messages == ["request", "configuration_replaced_for_new_name", "configuration_created"]
    assert logs.fields("configuration_replaced_for_new_name", "old_configuration_name") == {
        "old_configuration_name": NAME
    }
    assert logs.fields("configuration_created", "configuration_name") == {"configuration_name": f"{NAME}-v2"}

    logs.start()
    invoke(configuration_handler, pipelines, cfn_event("Delete", CONFIGURATION, physical_id=NAME))
    assert logs.messages == ["request", "configuration_deleted"]
    assert logs.fields("configuration_deleted", "configuration_name") == {"configuration_name": NAME}

    logs.start()
    invoke(configuration_handler, pipelines, cfn_event("Delete", CONFIGURATION, physical_id=NAME))
    assert logs.messages == ["request", "configuration_already_gone"]
    assert logs.fields("configuration_already_gone", "configuration_name") == {"configuration_name": NAME}

    logs.start()
    invoke(
        configuration_handler,
        pipelines,
        cfn_event("Delete", CONFIGURATION, physical_id=FAILED_CREATE_PHYSICAL_ID),
    )
    assert logs.messages == ["request", "delete_skipped_not_a_configuration_name"]


# -- Voice Connector streaming association --------------------------------------------------------------


@pytest.fixture
def association_configuration(pipelines: FakeChimeSdkMediaPipelines) -> None:
    pipelines.seed("telephony-SpeakerSearch", tags=OWNED)


@pytest.mark.usefixtures("association_configuration")
def test_association_records_for_attach_and_detach(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, logs: Records
) -> None:
    voice.connectors.add(VC)
    voice.streaming[VC] = {"DataRetentionInHours": 0, "Disabled": True}

    physical_id = invoke(association_handler, voice, cfn_event("Create", ASSOCIATION))["PhysicalResourceId"]
    assert physical_id == f"{VC}|streaming=off|eventbridge=added|retention=0|targets=none"
    assert logs.messages == ["request", "configuration_attached"]
    assert logs.fields("configuration_attached", "voice_connector_id", "prior") == {
        "voice_connector_id": VC,
        "prior": physical_id,
    }

    logs.start()
    invoke(
        association_handler,
        voice,
        cfn_event("Update", ASSOCIATION, physical_id=physical_id, old_properties=ASSOCIATION),
    )
    assert logs.messages == ["request", "already_attached"]
    assert logs.fields("already_attached", "voice_connector_id") == {"voice_connector_id": VC}

    logs.start()
    invoke(association_handler, voice, cfn_event("Delete", ASSOCIATION, physical_id=physical_id))
    assert logs.messages == ["request", "configuration_detached"]
    assert logs.fields("configuration_detached", "voice_connector_id", "prior") == {
        "voice_connector_id": VC,
        "prior": physical_id,
    }


@pytest.mark.usefixtures("association_configuration")
def test_association_records_for_deletes_that_change_little_or_nothing(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, logs: Records
) -> None:
    voice.connectors.add(VC)
    physical_id = invoke(association_handler, voice, cfn_event("Create", ASSOCIATION))["PhysicalResourceId"]
    assert physical_id == NONE_ADDED

    logs.start()
    voice.streaming[VC]["MediaInsightsConfiguration"]["ConfigurationArn"] = FOREIGN
    invoke(association_handler, voice, cfn_event("Delete", ASSOCIATION, physical_id=physical_id))
    assert logs.messages == ["request", "delete_left_unchanged_not_ours"]
    assert logs.fields("delete_left_unchanged_not_ours", "voice_connector_id") == {"voice_connector_id": VC}

    logs.start()
    voice.streaming[VC]["MediaInsightsConfiguration"]["ConfigurationArn"] = ARN
    invoke(association_handler, voice, cfn_event("Delete", ASSOCIATION, physical_id=physical_id))
    assert logs.messages == ["request", "streaming_configuration_deleted"]
    assert logs.fields("streaming_configuration_deleted", "voice_connector_id") == {"voice_connector_id": VC}

    logs.start()
    invoke(association_handler, voice, cfn_event("Delete", ASSOCIATION, physical_id=physical_id))
    assert logs.messages == ["request", "streaming_already_gone"]
    assert logs.fields("streaming_already_gone", "voice_connector_id") == {"voice_connector_id": VC}

    logs.start()
    invoke(
        association_handler, voice, cfn_event("Delete", ASSOCIATION, physical_id=FAILED_CREATE_PHYSICAL_ID)
    )
    assert logs.messages == ["request", "delete_skipped_unknown_physical_id"]


@pytest.mark.usefixtures("association_configuration")
def test_association_records_of_another_writer_between_our_calls(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, logs: Records
) -> None:
    voice.connectors.add(VC)
    before_write = OtherWriter(
        voice, VC, lambda c: {**(c or {}), "Disabled": True, "DataRetentionInHours": 6}
    )
    voice.before("GetVoiceConnectorStreamingConfiguration", before_write.read_and_write, nth=2)
    after_write = OtherWriter(voice, VC, lambda c: c)
    voice.before("PutVoiceConnectorStreamingConfiguration", after_write.read, nth=1)
    voice.before("GetVoiceConnectorStreamingConfiguration", after_write.write, nth=4)

    invoke(association_handler, voice, cfn_event("Create", ASSOCIATION))

    assert logs.messages == [
        "request",
        "streaming_changed_before_write",
        "streaming_write_lost",
        "configuration_attached",
    ]
    assert logs.fields("streaming_changed_before_write", "voice_connector_id", "round") == {
        "voice_connector_id": VC,
        "round": 1,
    }
    assert logs.fields("streaming_write_lost", "voice_connector_id", "round") == {
        "voice_connector_id": VC,
        "round": 2,
    }


def test_configuration_records_while_it_is_in_use_and_on_adoption(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    logs: Records,
    clock: FakeClock,
) -> None:
    invoke(configuration_handler, pipelines, cfn_event("Create", CONFIGURATION))
    pipelines.in_use.add(NAME)
    pipelines.in_use_answer = "BadRequestException"
    logs.start()

    answer = invoke(configuration_handler, pipelines, cfn_event("Delete", CONFIGURATION, physical_id=NAME))
    assert logs.messages == ["request", "configuration_in_use"]
    assert logs.fields("configuration_in_use", "configuration_name", "errorCode") == {
        "configuration_name": NAME,
        "errorCode": "BadRequestException",
    }

    logs.start()
    pipelines.in_use.clear()
    invoke(
        configuration_handler, pipelines, {**cfn_event("Delete", CONFIGURATION, physical_id=NAME), **answer}
    )
    assert logs.messages == ["configuration_deleted"]  # an isComplete call: no request record

    logs.start()
    pipelines.seed(NAME, role=CONFIGURATION["ResourceAccessRoleArn"])
    tagged = {
        **CONFIGURATION,
        "Tags": [{"Key": "chime-speaker-search:stack", "Value": OWNED["chime-speaker-search:stack"]}],
    }
    invoke(
        configuration_handler,
        pipelines,
        cfn_event("Update", tagged, physical_id=NAME, old_properties=CONFIGURATION),
    )
    assert logs.messages == ["request", "configuration_adopted"]
    assert logs.fields("configuration_adopted", "configuration_name") == {"configuration_name": NAME}
