"""One Voice Connector ID pattern at synth and in the streaming association handler (at deploy).

The API documents only 1-128 non-blank characters; every ID AWS shows is 22 lowercase letters and
digits (``abcdef1ghij2klmno3pqr4`` in the API reference, the CLI examples and the console's outbound
host name ``<id>.voiceconnector.chime.aws``). An ID that passed synth and failed at deploy was the
snag; now both refuse the same IDs.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import aws_cdk as cdk
import pytest

from chime_speaker_search import VoiceConnector
from chime_speaker_search._validation import VOICE_CONNECTOR_ID_PATTERN
from tests.conftest import ENV
from tests.support import add_handler_paths

GOOD = ["abcdef1ghij2klmno3pqr4", "0123456789abcdefghijkl", "z" * 22]
BAD = [
    "abc",
    "abcdef1ghij2klmno3pqr",  # 21
    "abcdef1ghij2klmno3pqr45",  # 23
    "ABCDEF1GHIJ2KLMNO3PQR4",
    "abcdef1ghij2klmno3pq-4",
    "abcdef1ghij2klmno3pq_4",
    "abcdef1ghij2klmno3pq 4",
    "",
]
CONFIGURATION_ARN = (
    "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/speaker-search"
)


@pytest.fixture(scope="module")
def association() -> ModuleType:
    add_handler_paths("custom_resources")
    return importlib.import_module("streaming_association")


def _handler_accepts(association: ModuleType, voice_connector_id: str) -> bool:
    props = {
        "VoiceConnectorId": voice_connector_id,
        "ConfigurationArn": CONFIGURATION_ARN,
        "DataRetentionInHours": "24",
    }
    try:
        association.parse_properties(props)
    except ValueError as error:
        message = str(error)
    else:
        return True
    assert message.startswith("Invalid property VoiceConnectorId="), message
    return False


def _synth_accepts(voice_connector_id: str, *, by_arn: bool) -> bool:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    try:
        if by_arn:
            arn = f"arn:aws:chime:us-east-1:111122223333:vc/{voice_connector_id}"
            VoiceConnector.from_voice_connector_arn(stack, "Pbx", arn)
        else:
            VoiceConnector.from_voice_connector_id(stack, "Pbx", voice_connector_id)
    except ValueError:
        return False
    return True


def test_synth_and_handler_use_the_same_pattern(association: ModuleType) -> None:
    assert association.VC_ID_PATTERN.pattern == VOICE_CONNECTOR_ID_PATTERN


@pytest.mark.parametrize(
    ("voice_connector_id", "valid"), [(i, True) for i in GOOD] + [(i, False) for i in BAD]
)
def test_synth_and_handler_agree_on_every_id(
    association: ModuleType, voice_connector_id: str, valid: bool
) -> None:
    assert _handler_accepts(association, voice_connector_id) is valid
    assert _synth_accepts(voice_connector_id, by_arn=False) is valid
    assert _synth_accepts(voice_connector_id, by_arn=True) is valid


def test_a_short_id_fails_at_synth_showing_the_expected_form() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    with pytest.raises(
        ValueError,
        match=r"^voice_connector_id: 'abc' is not allowed; expected a Voice Connector ID of 22 lowercase "
        r"letters and digits, e.g. 'abcdef1ghij2klmno3pqr4'$",
    ):
        VoiceConnector.from_voice_connector_id(stack, "Pbx", "abc")
    with pytest.raises(
        ValueError,
        match=r"^voice_connector_arn: .*vc/<voice connector id>, the ID being a Voice Connector ID of 22 "
        r"lowercase",
    ):
        VoiceConnector.from_voice_connector_arn(stack, "ByArn", "arn:aws:chime:us-east-1:111122223333:vc/abc")


def test_a_deploy_time_id_is_left_to_the_handler() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    token = cdk.CfnParameter(stack, "ConnectorId").value_as_string
    assert VoiceConnector.from_voice_connector_id(stack, "Pbx", token).voice_connector_id == token
