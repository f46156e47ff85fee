"""The stack's attachment guard: one scheduled function that keeps each search's configuration attached.

``PutVoiceConnectorStreamingConfiguration`` replaces a connector's whole streaming configuration, and
other tools write it without a ``MediaInsightsConfiguration`` (cdklabs' ``ChimeVoiceConnector`` with its
``streaming`` prop, on every create and update of its connector; the console; other stacks). The
search's configuration is then detached for good, without any error. The guard
(lambda/attachment_guard/) checks each connector on a schedule, re-attaches the configuration with the
streaming association's own merge rules and publishes ``Analytics Configuration Detached``.

One function per stack however many searches (:meth:`AttachmentGuard.of`); each ``SpeakerSearch`` adds
an EventBridge rule (:meth:`AttachmentGuard.watch`) whose input names only the search. The function's
environment, written lazily when the app is synthesized, lists each search with its connectors, its
configuration's ARN, its retention, its bus and whether to repair: that list, not the input, says what
the function may touch, and its role may read and write the streaming configuration of exactly those
connectors.
"""

from __future__ import annotations

import json
from typing import Any

import jsii
from aws_cdk import Duration, Lazy, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct, IValidation

from ._lazy import StringProducer
from ._shared import function_role, python_function
from .event_bus_perimeter import EventBusPerimeter
from .event_types import CONFIGURATION_DETACHED_DETAIL_TYPE, RESULT_EVENT_SOURCE
from .voice_analytics_configuration import VoiceAnalyticsConfiguration, _association_id
from .voice_connector import IVoiceConnector

#: How often each search's connectors are checked by default. AWS takes about 5 minutes to bring an
#: attachment to new calls, so a detachment costs the calls of up to this long plus those 5 minutes;
#: checking more often than that shortens the gap by little and multiplies the invocations (at 5
#: minutes: 8,640 a month per search, each one read per connector: cents a month).
DEFAULT_CHECK_INTERVAL = Duration.minutes(5)
#: The function's timeout: each connector's check gets at most 30 s of it (index.py's CONNECTOR_BUDGET_S).
GUARD_TIMEOUT = Duration.minutes(2)
#: Lambda allows 4 KB of environment variables per function; the guard's list of searches must fit
#: beside the library's version variable.
ENVIRONMENT_BUDGET = 3_900
ENVIRONMENT_VARIABLE = "GUARD_SEARCHES"
# Lengths assumed for values that are deploy-time tokens when the size is estimated: a Voice Connector
# ID, a bus name (an imported one's: CloudFormation's own names are known), a configuration name (at most
# 64), the retention, and the ARN prefix in the longest partition and Region names.
_TOKEN_LENGTHS = {"vc": 22, "bus": 128, "name": 64, "hours": 5, "prefix": 90}


def configuration_arn_prefix(scope: Construct) -> str:
    """``arn:<partition>:chime:<region>:<account>:media-insights-pipeline-configuration/``: the ARN of
    the stack's configurations up to the name (what the streaming associations attach is this plus
    the configuration's name, as ``VoiceAnalyticsConfiguration.configuration_arn``)."""
    stack = Stack.of(scope)
    return (
        f"arn:{stack.partition}:chime:{stack.region}:{stack.account}:media-insights-pipeline-configuration/"
    )


def _bus_name_length(bus: events.IEventBus) -> int:
    """The length of the bus's name once deployed: known for the default bus and a bus of the app whose
    name CloudFormation gets at synth; otherwise the longest likely."""
    name = bus.event_bus_name
    if not Token.is_unresolved(name):
        return len(name)
    resource = bus.node.default_child if isinstance(bus, events.EventBus) else None
    if isinstance(resource, events.CfnEventBus):
        resolved = Stack.of(bus).resolve(resource.name)
        if isinstance(resolved, str):
            return len(resolved)
    return _TOKEN_LENGTHS["bus"]


def check_interval(prop: str, value: Duration | None) -> Duration:
    """The check interval: whole minutes, 1 minute to 1 day (an EventBridge rate); a ``ValueError`` names
    ``prop`` otherwise."""
    interval = value or DEFAULT_CHECK_INTERVAL
    if interval.is_unresolved():
        raise ValueError(
            f"{prop}: a deploy-time token is not supported; give a Duration of 1 to 1440 minutes"
        )
    minutes = interval.to_seconds() / 60
    if minutes != int(minutes) or not 1 <= minutes <= 1440:
        raise ValueError(
            f"{prop}: {interval.to_human_string()} is not allowed; expected whole minutes, 1 minute to 1 day"
        )
    return interval


class WatchedSearch:
    """One search the guard checks: its schedule, and what goes into the function's environment."""

    def __init__(
        self,
        guard: AttachmentGuard,
        *,
        search_id: str,
        configuration: VoiceAnalyticsConfiguration,
        event_bus: events.IEventBus,
        repair: bool,
        schedule: events.Rule,
    ) -> None:
        self._guard = guard
        self.search_id = search_id
        self.configuration = configuration
        self.event_bus = event_bus
        self.repair = repair
        #: The rule that invokes the guard for this search.
        self.schedule = schedule

    def add_voice_connector(self, voice_connector: IVoiceConnector) -> None:
        """Check ``voice_connector`` too, once its streaming association exists (call after adding it)."""
        association = self.configuration.node.find_child(_association_id(voice_connector))
        # Not before the association attached the configuration: a check that ran first would attach
        # it itself, and the association would then record the attached state as the connector's own.
        # Deleted first too: a stack delete removes the schedule and the function before it detaches.
        self.schedule.node.add_dependency(association)
        self._guard.function.node.add_dependency(association)
        self._guard._allow_connector(voice_connector.voice_connector_arn)

    def entry(self) -> dict[str, Any]:
        """This search's item of ``GUARD_SEARCHES`` (lambda/attachment_guard/guard_searches.py)."""
        return {
            "id": self.search_id,
            "bus": self.event_bus.event_bus_name,
            "name": self.configuration.configuration_name,
            "hours": self.configuration.streaming_data_retention_hours,
            "repair": self.repair,
            "vcs": [vc.voice_connector_id for vc in self.configuration.voice_connectors],
        }


class AttachmentGuard(Construct):
    """The stack's one attachment guard function (see the module docstring); use :meth:`of`."""

    CONSTRUCT_ID = "ChimeSpeakerSearchAttachmentGuard"

    @classmethod
    def of(cls, scope: Construct, *, log_key: kms.IKey) -> AttachmentGuard:
        """The guard of ``scope``'s stack, created on first use; its logs are encrypted with ``log_key``
        (the first search's key)."""
        stack = Stack.of(scope)
        existing = stack.node.try_find_child(cls.CONSTRUCT_ID)
        if isinstance(existing, AttachmentGuard):
            return existing
        return cls(stack, log_key=log_key)

    def __init__(self, scope: Stack, *, log_key: kms.IKey) -> None:
        super().__init__(scope, self.CONSTRUCT_ID)
        self._watched: list[WatchedSearch] = []
        self.function: lambda_.Function = python_function(
            self,
            "Function",
            function_folder="attachment_guard",
            handler="index.handler",
            description="chime-speaker-search: checks that each search's media insights configuration is "
            "still attached to its Voice Connectors, re-attaches it and reports",
            timeout=GUARD_TIMEOUT,
            environment={ENVIRONMENT_VARIABLE: Lazy.string(StringProducer(self._environment))},
            log_key=log_key,
            common_modules=("aws_calls.py", "streaming_settings.py"),
        )
        # The next scheduled check is the retry of a failed one.
        self.function.configure_async_invoke(retry_attempts=0)
        self.role = function_role(self.function)
        self._statements: dict[str, iam.PolicyStatement] = {}
        self._resources: dict[str, set[str]] = {}
        self.node.add_validation(_EnvironmentFits(self))

    def watch(
        self,
        search: Construct,
        *,
        search_id: str,
        configuration: VoiceAnalyticsConfiguration,
        event_bus: events.IEventBus,
        repair: bool,
        interval: Duration,
    ) -> WatchedSearch:
        """Check ``search``'s connectors every ``interval``; add each with
        :meth:`WatchedSearch.add_voice_connector`."""
        schedule = events.Rule(
            search,
            "AttachmentCheckSchedule",
            description="chime-speaker-search: checks that this search's configuration is still attached",
            schedule=events.Schedule.rate(interval),
        )
        schedule.add_target(
            targets.LambdaFunction(
                self.function,
                event=events.RuleTargetInput.from_object({"searchId": search_id}),
                # A check that could not be delivered within its interval is superseded by the next one.
                max_event_age=interval,
                retry_attempts=2,
            )
        )
        watched = WatchedSearch(
            self,
            search_id=search_id,
            configuration=configuration,
            event_bus=event_bus,
            repair=repair,
            schedule=schedule,
        )
        self._watched.append(watched)
        self._allow(
            "configuration",
            # Put checks the configuration it attaches (a dependent GetMediaInsightsPipelineConfiguration);
            # whether IAM also authorises Put against the configuration's ARN is undocumented: allowed here.
            ["chime:PutVoiceConnectorStreamingConfiguration", "chime:GetMediaInsightsPipelineConfiguration"],
            configuration.configuration_arn,
        )
        self._allow_publishing(event_bus)
        perimeter = EventBusPerimeter.of(event_bus, search)
        if perimeter is not None:
            perimeter.add_publisher(self.role)
        return watched

    def _allow_connector(self, voice_connector_arn: str) -> None:
        """Read and write the streaming configuration of exactly this connector (the guard never deletes)."""
        self._allow(
            "connectors",
            [
                "chime:GetVoiceConnectorStreamingConfiguration",
                "chime:PutVoiceConnectorStreamingConfiguration",
            ],
            voice_connector_arn,
        )

    def _allow_publishing(self, event_bus: events.IEventBus) -> None:
        """``events:PutEvents`` on the bus, only with the result source and the guard's one detail-type."""
        self._allow(
            "publish",
            ["events:PutEvents"],
            event_bus.event_bus_arn,
            {
                "StringEquals": {
                    "events:source": RESULT_EVENT_SOURCE,
                    "events:detail-type": CONFIGURATION_DETACHED_DETAIL_TYPE,
                }
            },
        )

    def _allow(
        self, key: str, actions: list[str], resource: str, conditions: dict[str, Any] | None = None
    ) -> None:
        """Add ``resource`` to the statement ``key`` (created with the first resource), once."""
        statement = self._statements.get(key)
        if statement is None:
            statement = iam.PolicyStatement(actions=actions, conditions=conditions)
            self._statements[key] = statement
            self._resources[key] = set()
            self.role.add_to_principal_policy(statement)
        # Two handles of one resource (the default bus imported by two searches) are one resource.
        identity = json.dumps(Stack.of(self).resolve(resource), sort_keys=True)
        if identity not in self._resources[key]:
            self._resources[key].add(identity)
            statement.add_resources(resource)

    def _environment(self) -> str:
        return Stack.of(self).to_json_string(
            {
                "prefix": configuration_arn_prefix(self),
                "searches": [watched.entry() for watched in self._watched],
            }
        )

    def estimated_environment_size(self) -> int:
        """The length of ``GUARD_SEARCHES`` once deployed, with deploy-time tokens at their likely length."""

        def length(value: Any, kind: str) -> Any:
            if isinstance(value, str) and Token.is_unresolved(value):
                return "x" * _TOKEN_LENGTHS[kind]
            return value

        entries = []
        for watched in self._watched:
            entry = watched.entry()
            entries.append(
                {
                    **entry,
                    "bus": _bus_name_length(watched.event_bus) * "x",
                    "name": length(entry["name"], "name"),
                    "hours": length(entry["hours"], "hours"),
                    "vcs": [length(vc, "vc") for vc in entry["vcs"]],
                }
            )
        value = {"prefix": "x" * _TOKEN_LENGTHS["prefix"], "searches": entries}
        return len(ENVIRONMENT_VARIABLE) + len(json.dumps(value, separators=(",", ":")))


@jsii.implements(IValidation)
class _EnvironmentFits:
    """Fail the synth, with what to do, when the guard's list of searches would not fit Lambda's 4 KB."""

    def __init__(self, guard: AttachmentGuard) -> None:
        self._guard = guard

    def validate(self) -> list[str]:
        size = self._guard.estimated_environment_size()
        if size <= ENVIRONMENT_BUDGET:
            return []
        watched = self._guard._watched
        connectors = sum(len(w.configuration.voice_connectors) for w in watched)
        return [
            f"chime-speaker-search: the attachment guard's list of {len(watched)} searches and "
            f"{connectors} Voice Connectors takes about {size} characters, more than the "
            f"{ENVIRONMENT_BUDGET} that Lambda's 4 KB of environment variables leave for it; put some of "
            "the searches in another stack"
        ]
