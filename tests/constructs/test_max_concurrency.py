"""SpeakerSearch(max_concurrency=...): the SQS event source's maximum concurrency."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import assertions

from chime_speaker_search import SpeakerSearch, VoiceConnector
from tests.conftest import ENV, IMPORTED_IDS, Synthesized


def _search(max_concurrency: int | None) -> cdk.Stack:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    pbx = VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])
    kwargs = {} if max_concurrency is None else {"max_concurrency": max_concurrency}
    SpeakerSearch(stack, "Search", voice_connectors=[pbx], **kwargs)
    return stack


def test_the_event_source_runs_at_most_20_invocations_by_default(single: Synthesized) -> None:
    (mapping,) = single.resources("AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": 20}


@pytest.mark.parametrize("value", [2, 1000])
def test_max_concurrency_reaches_the_event_source_mapping(value: int) -> None:
    template = assertions.Template.from_stack(_search(value))
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"ScalingConfig": {"MaximumConcurrency": value}}
    )


@pytest.mark.parametrize("value", [0, 1, 1001])
def test_max_concurrency_outside_what_the_event_source_accepts_is_rejected(value: int) -> None:
    with pytest.raises(ValueError, match=rf"max_concurrency: {value} is out of range; expected 2 to 1000"):
        _search(value)
