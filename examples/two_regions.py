#!/usr/bin/env python3
"""Example: speaker search in both voice analytics Regions, one CDK Stage per Region.

Voice analytics runs only in us-east-1 and us-west-2, and voiceprints are regional: each Stage
has its own voice profile domain (enrol a caller in each Region that may carry their calls).
Calls fail over between the two Regions' Voice Connectors through a Voice Connector group,
which is created outside CloudFormation (see the README, "Two Regions"). Results of both
Regions land on one event bus in us-east-1: the us-west-2 Stage forwards its results there.

    cdk synth --app ".venv/bin/python examples/two_regions.py" \\
        -c eastVoiceConnectorId=abcdef1ghij2klmno3pqr4 -c westVoiceConnectorId=abcdef2ghij2klmno3pqr5
"""

from __future__ import annotations

import os
import sys

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from chime_speaker_search import SpeakerSearch, VoiceConnector

#: Name of the bus in us-east-1 that receives the results of both Regions.
RESULTS_BUS_NAME = "chime-speaker-search-results"
HOME_REGION = "us-east-1"


class SpeakerSearchStage(cdk.Stage):
    """Speaker search on one Region's Voice Connector, with that Region's own voice profile domain.

    :param voice_connector_id: The Region's connector (in us-west-2 CloudFormation cannot create one).
    :param results_bus_arn: A bus in another Region to forward results to. Default: results stay on
        this Region's results bus.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        voice_connector_id: str,
        results_bus_arn: str | None = None,
        env: cdk.Environment,
    ) -> None:
        super().__init__(scope, id, env=env)
        stack = cdk.Stack(self, "SpeakerSearch", description=f"Speaker search in {env.region}")
        pbx = VoiceConnector.from_voice_connector_id(stack, "Pbx", voice_connector_id)
        bus = None
        if results_bus_arn is None:
            bus = events.EventBus(stack, "ResultsBus", event_bus_name=RESULTS_BUS_NAME)
        self.search = SpeakerSearch(stack, "SpeakerSearch", voice_connectors=[pbx], event_bus=bus)
        if results_bus_arn is not None:
            # EventBridge delivers across Regions of one account with a role the target creates.
            home = events.EventBus.from_event_bus_arn(stack, "HomeResultsBus", results_bus_arn)
            self.search.on_speaker_search_result(
                "ToHomeRegion",
                target=targets.EventBus(home),
                description=f"Speaker search results of {env.region}, forwarded to {HOME_REGION}",
            )
        self.stack = stack


def build(
    app: cdk.App, *, account: str | None, east_connector: str, west_connector: str
) -> list[SpeakerSearchStage]:
    east = SpeakerSearchStage(
        app,
        "UsEast1",
        voice_connector_id=east_connector,
        env=cdk.Environment(account=account, region=HOME_REGION),
    )
    home_bus_arn = cdk.Arn.format(
        cdk.ArnComponents(
            partition="aws",
            service="events",
            region=HOME_REGION,
            account=account or cdk.Aws.ACCOUNT_ID,
            resource="event-bus",
            resource_name=RESULTS_BUS_NAME,
        )
    )
    west = SpeakerSearchStage(
        app,
        "UsWest2",
        voice_connector_id=west_connector,
        results_bus_arn=home_bus_arn,
        env=cdk.Environment(account=account, region="us-west-2"),
    )
    return [east, west]


def main() -> None:
    app = cdk.App()
    east_connector = app.node.try_get_context("eastVoiceConnectorId")
    west_connector = app.node.try_get_context("westVoiceConnectorId")
    if not east_connector or not west_connector:
        sys.exit("two_regions.py: give -c eastVoiceConnectorId=<id> -c westVoiceConnectorId=<id>")
    stages = build(
        app,
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
        east_connector=east_connector,
        west_connector=west_connector,
    )
    for stage in stages:
        cdk.Validations.of(stage).add_plugins(AwsSolutionsChecks(stage))
    app.synth()


if __name__ == "__main__":
    main()
