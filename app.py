#!/usr/bin/env python3
"""Example app: a contact-centre telephony stack that identifies callers by voice.

Context values (``cdk synth -c name=value``):

- ``callLeg``: ``Caller`` (default) or ``Callee``, the leg whose voice is searched.
- ``voiceConnectorId``: an existing Voice Connector to use; without it the stack creates one
  (required in us-west-2, where CloudFormation cannot create one).
- ``region``: ``us-east-1`` (default) or ``us-west-2``, the Regions where voice analytics runs.
- ``nag``: ``true`` to run cdk-nag's AWS Solutions checks during synth (``make synth`` does);
  ``false`` (default) otherwise. The checks are a development gate (``make test`` runs them on this
  stack too), and loading and running them was the largest single cost this app added to an empty
  app's synth (docs/performance.md), so a plain ``cdk synth`` or ``cdk deploy`` does not pay for them.
"""

from __future__ import annotations

import os
import sys

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from chime_speaker_search import VOICE_ANALYTICS_REGIONS, CallLeg, SpeakerSearch, VoiceConnector


class TelephonyStack(cdk.Stack):
    """A Voice Connector whose callers are identified by voice, with results queued for a CRM."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        call_leg: CallLeg | str,
        voice_connector_id: str | None,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        if voice_connector_id:
            pbx = VoiceConnector.from_voice_connector_id(self, "Pbx", voice_connector_id)
        else:
            pbx = VoiceConnector(self, "Pbx")

        alerts = sns.Topic(
            self,
            "OpsAlerts",
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
            enforce_ssl=True,
        )
        search = SpeakerSearch(
            self,
            "SpeakerSearch",
            voice_connectors=[pbx],
            call_leg=call_leg,
            enable_alarms=True,
            # The alarms notify the operations team (AWS Control Tower's CT.CLOUDWATCH.PR.1
            # wants an action on every alarm).
            alarm_actions=[cloudwatch_actions.SnsAction(alerts)],
        )

        # Results wait in a queue for the CRM integration to pick up. Its dead-letter queue names
        # the inbox (CT.SQS.PR.1), so the inbox has a fixed name: its ARN is needed first.
        crm_inbox_name = cdk.Names.unique_resource_name(self, max_length=70, separator="-") + "-CrmInbox"
        crm_dead_letters = sqs.Queue(
            self,
            "CrmDeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
            redrive_allow_policy=sqs.RedriveAllowPolicy(
                redrive_permission=sqs.RedrivePermission.BY_QUEUE,
                source_queues=[
                    sqs.Queue.from_queue_arn(
                        self,
                        "CrmInboxArn",
                        self.format_arn(
                            service="sqs", resource=crm_inbox_name, arn_format=cdk.ArnFormat.NO_RESOURCE_NAME
                        ),
                    )
                ],
            ),
        )
        crm_inbox = sqs.Queue(
            self,
            "CrmInbox",
            queue_name=crm_inbox_name,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=crm_dead_letters, max_receive_count=5),
        )
        search.on_speaker_search_result(
            "ToCrm",
            target=targets.SqsQueue(crm_inbox, dead_letter_queue=crm_dead_letters),
            description="Speaker search results for the CRM",
        )

        cdk.CfnOutput(self, "VoiceConnectorId", value=pbx.voice_connector_id)
        cdk.CfnOutput(self, "VoiceProfileDomainId", value=search.voice_profile_domain.voice_profile_domain_id)
        cdk.CfnOutput(self, "CrmInboxUrl", value=crm_inbox.queue_url)


def _context_choice(app: cdk.App, key: str, allowed: list[str], default: str) -> str:
    value = app.node.try_get_context(key)
    if value is None:
        return default
    if isinstance(value, bool):  # cdk.json may hold a JSON boolean, -c gives a string
        value = str(value).lower()
    if value not in allowed:
        raise ValueError(
            f"context {key}: {value!r} is not allowed; allowed values are {', '.join(map(repr, allowed))}"
        )
    return str(value)


def main() -> None:
    app = cdk.App()
    call_leg = _context_choice(app, "callLeg", [leg.value for leg in CallLeg], CallLeg.CALLER.value)
    region = _context_choice(app, "region", list(VOICE_ANALYTICS_REGIONS), "us-east-1")
    nag = _context_choice(app, "nag", ["true", "false"], "false") == "true"
    voice_connector_id = app.node.try_get_context("voiceConnectorId")
    if region == "us-west-2" and not voice_connector_id:
        raise ValueError(
            "context voiceConnectorId is required in us-west-2: CloudFormation cannot create a Voice "
            "Connector there, so create one in the console or with the API and pass its ID"
        )
    TelephonyStack(
        app,
        "ChimeSpeakerSearchExample",
        call_leg=call_leg,
        voice_connector_id=voice_connector_id,
        env=cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=region),
        description="Example: Amazon Chime SDK speaker search on every Voice Connector call",
    )
    if nag:
        from cdk_nag import AwsSolutionsChecks  # noqa: PLC0415 (loading cdk-nag takes time: only when used)

        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    app.synth()


if __name__ == "__main__":
    try:
        main()
    except ValueError as error:
        # A bad context value is the user's typo, not a crash: one line, no traceback.
        sys.exit(f"app.py: {error}")
