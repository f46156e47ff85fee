"""examples/two_regions.py: a Stage per voice analytics Region, each with its own domain, one results bus."""

from __future__ import annotations

from typing import Any

from chime_speaker_search import VOICE_ANALYTICS_REGIONS


def _of_type(template: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == resource_type]


def test_one_stage_per_voice_analytics_region(two_regions: dict[str, dict[str, Any]]) -> None:
    assert sorted(two_regions) == sorted(VOICE_ANALYTICS_REGIONS)


def test_each_region_has_its_own_voice_profile_domain(two_regions: dict[str, dict[str, Any]]) -> None:
    """Voiceprints are regional: a search matches only the domain of its own Region."""
    for template in two_regions.values():
        (domain,) = _of_type(template, "Custom::ChimeVoiceProfileDomain")
        assert domain["DeletionPolicy"] == "RetainExceptOnCreate"
        (association,) = _of_type(template, "Custom::ChimeVoiceConnectorStreamingAssociation")
        assert association["Properties"]["VoiceConnectorId"]


def test_results_of_both_regions_reach_the_bus_in_us_east_1(two_regions: dict[str, dict[str, Any]]) -> None:
    east, west = two_regions["us-east-1"], two_regions["us-west-2"]
    (bus,) = _of_type(east, "AWS::Events::EventBus")
    assert bus["Properties"]["Name"] == "chime-speaker-search-results"
    # The other rules in us-west-2 are the search's own pipeline-health rule (source aws.chime) and its
    # attachment guard's schedule (no pattern).
    (rule,) = [
        r
        for r in _of_type(west, "AWS::Events::Rule")
        if "EventPattern" in r["Properties"] and r["Properties"]["EventPattern"]["source"] != ["aws.chime"]
    ]
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == "arn:aws:events:us-east-1:111122223333:event-bus/chime-speaker-search-results"
    assert rule["Properties"]["EventPattern"]["source"] == ["chime-speaker-search"]
    # us-west-2's own results stay on its default bus until the rule forwards them.
    (handler,) = [
        f
        for f in _of_type(west, "AWS::Lambda::Function")
        if "speaker search for each call" in f["Properties"]["Description"]
    ]
    assert handler["Properties"]["Environment"]["Variables"]["EVENT_BUS_NAME"] == "default"
