"""SpeakerSearch: run a speaker search on every call of one or more Voice Connectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, Fn, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from constructs import Construct

from . import _requests, monitoring
from ._metrics import merge_event_pattern, metric, metric_options
from ._regions import require_voice_analytics_region
from ._shared import (
    LOG_RETENTION,
    acknowledge,
    data_key,
    function_role,
    nag_resource_finding,
    python_function,
)
from ._state_table import state_table
from ._validation import check_choice, check_not_alias
from .attachment_guard import AttachmentGuard, WatchedSearch, check_interval
from .call_leg import CallLeg, resolve_call_leg
from .event_bus_perimeter import (
    REQUEST_KINDS,
    EventBusPerimeter,
    check_same_account,
    principal_arn,
    warn_without_perimeter,
)
from .event_types import (
    CONFIGURATION_DETACHED_DETAIL_TYPE,
    RESULT_EVENT_DETAIL_TYPE,
    RESULT_EVENT_SOURCE,
    VOICE_TONE_EVENT_DETAIL_TYPE,
)

__all__ = ["SpeakerSearch"]
from .notification_queues import NotificationQueues
from .voice_analytics_configuration import VoiceAnalyticsConfiguration
from .voice_connector import IVoiceConnector, check_voice_connector, voice_connector_list
from .voice_profile_domain import IVoiceProfileDomain, VoiceProfileDomain

#: CloudWatch namespace of the handler's metrics (Embedded Metric Format, dimension ``SearchId``).
METRIC_NAMESPACE = monitoring.METRIC_NAMESPACE


class SpeakerSearch(Construct):
    """Start a speaker search for every call on ``voice_connectors`` and publish the results.

    Composes a :class:`VoiceProfileDomain` (unless one is given), one
    :class:`VoiceAnalyticsConfiguration` for all the connectors, an encrypted SQS queue (the
    configuration's notification sink) with a dead-letter queue, and one Lambda handler. On
    each call's ``AnalyticsReady`` notification the handler calls ``StartSpeakerSearchTask``
    for ``call_leg``; each ``SpeakerSearchStatus`` becomes one ``Speaker Search Result`` event
    on ``event_bus`` (see :meth:`on_speaker_search_result`).

    AWS requires you to give notice and obtain consent before any speaker search; this
    construct does not do that for you.

    Voice analytics runs only in :data:`~chime_speaker_search.VOICE_ANALYTICS_REGIONS`: a stack in
    another Region raises ``ValueError`` at synth, and a stack whose Region is unknown at synth gets
    a CloudFormation rule that stops its deploy in another Region.

    :param voice_connectors: One or more connectors, each listed once and in the stack's Region; they
        share one configuration, queue and handler. A connector that another SpeakerSearch or
        VoiceAnalyticsConfiguration of the app already serves raises ``ValueError``: a connector
        has one media insights configuration.
    :param call_leg: The leg to search: ``CallLeg.CALLER`` (default) or ``CallLeg.CALLEE``, their
        exact strings ``"Caller"``/``"Callee"``, or a deploy-time token such as a
        ``CfnParameter`` value (validated again by the handler at run time).
    :param voice_profile_domain: The domain to match against. Default: a new, retained domain.
    :param voice_tone_analysis: Also start a voice tone analysis task for every call and publish
        each status as a ``Voice Tone Analysis Result`` event (see :meth:`on_voice_tone_result`).
        Default: ``False``.
    :param streaming_data_retention: Kinesis Video Streams retention of call audio. Default: 24 hours.
    :param event_bus: Where results are published and requests are sent. Default: with
        ``require_consent`` or ``enable_enrollment``, the construct's own bus (:attr:`event_bus`),
        whose policy denies results to every principal but the handler and requests to every
        principal not granted them (:meth:`grant_send_consent`, :meth:`grant_send_enrollment`);
        without them, the account's default bus. A bus created in the same stack gets the same
        policy statements; the default bus, an imported bus or one of another stack cannot, and with
        requests that warns at synth (what can then be forged). A bus of another account raises
        ``ValueError``.
    :param encryption_key: Key for the queues, the stream and the handler's logs. Default: the
        stack's chime-speaker-search data key (rotation on).
    :param kinesis_stream: See :class:`VoiceAnalyticsConfiguration`. Default: a new stream.
    :param enable_kinesis_sink: See :class:`VoiceAnalyticsConfiguration`. Default: ``True``.
    :param max_receive_count: Deliveries of a notification before it moves to the dead-letter
        queue, 1 to 1,000. Default: 5.
    :param handler_timeout: The handler's timeout, 30 seconds to 15 minutes; its retries of a
        throttled start stop in time. Default: 30 seconds.
    :param handler_memory_size: The handler's memory in MiB. Default: 256.
    :param max_concurrency: Most handler invocations the queue's event source runs at once (its
        ``maxConcurrency``), 2 to 1,000. Each invocation starts its batch's searches one after the
        other, so this bounds the burst of ``StartSpeakerSearchTask`` requests against the
        "Speaker search API rate" quota; notifications beyond it wait in the queue. With 20, every
        case of ``bench/burst.py`` that the quotas can sustain met its target, up to 40 TPS at
        300 ms per request (10 missed there); keep it above about 2 x TPS x API latency in
        seconds (docs/performance.md). Default: 20.
    :param enable_alarms: Create CloudWatch alarms on dead-letter queue depth, handler errors,
        media insights pipeline failures that need action (:meth:`metric_pipeline_failures_needing_action`:
        create, permanent and element failures, not temporary ones), a configuration found detached
        (:meth:`metric_configuration_detached`) and failed attachment checks
        (:meth:`metric_attachment_check_failures`). Default: ``False``.
    :param alarm_actions: Actions of every alarm the construct creates (e.g.
        ``aws_cloudwatch_actions.SnsAction(topic)``); only with ``enable_alarms=True`` (without it,
        ``ValueError``: there would be no alarm to act). Default: none; AWS Control Tower's
        CT.CLOUDWATCH.PR.1 refuses alarms without an action, so give one where it is enforced.
    :param dashboard: Add this search's widgets to a CloudWatch dashboard (see
        :meth:`add_to_dashboard`). Default: none.
    :param log_retention: How long the handler's log group keeps events. Default: one year, the
        least AWS Control Tower's CT.CLOUDWATCH.PR.2 allows (the logs hold IDs, never personal data).
    :param require_consent: Start no task for a call until a ``Speaker Search Consent`` event with
        ``consent: "granted"`` has arrived for its connector and transaction (before or after
        ``AnalyticsReady``); ``declined`` or no consent means the call is never searched.
        Default: ``False`` (every call is searched: consent is obtained outside this library).
    :param enable_enrollment: Serve ``Enroll``/``Update``/``Delete Voice Profile`` requests that
        carry this construct's ``search_id``. Default: ``False``.
    :param request_source: ``source`` of the request events on ``event_bus``; not ``aws.``-prefixed,
        and not the result source ``"chime-speaker-search"``. Default:
        ``"chime-speaker-search.requests"``.
    :param attachment_check_interval: How often the stack's attachment guard checks that the
        configuration is still attached to each of this search's connectors, whole minutes from 1
        minute to 1 day. Another tool that writes a connector's streaming settings (cdklabs'
        ``ChimeVoiceConnector`` with its ``streaming`` prop, the console, another stack) can detach
        it without any error; calls are then not searched until it is re-attached, and AWS takes
        about 5 minutes more to bring it to new calls. Each check reads each connector's streaming
        configuration once. Default: 5 minutes (8,640 checks a month, cents).
    :param repair_detached_configuration: When a check finds the configuration detached or
        streaming off, re-attach it with the streaming association's merge rules (other tools'
        notification targets and a longer retention are kept; streaming is turned back on) and
        publish ``Analytics Configuration Detached`` with ``repaired: true``; with ``False``, only
        publish it (alert-only). A connector with another configuration attached is never changed,
        either way. Default: ``True``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        voice_connectors: Sequence[IVoiceConnector],
        call_leg: CallLeg | str = CallLeg.CALLER,
        voice_profile_domain: IVoiceProfileDomain | None = None,
        voice_tone_analysis: bool = False,
        streaming_data_retention: Duration | None = None,
        event_bus: events.IEventBus | None = None,
        encryption_key: kms.IKey | None = None,
        kinesis_stream: kinesis.IStream | None = None,
        enable_kinesis_sink: bool = True,
        max_receive_count: int = 5,
        handler_timeout: Duration | None = None,
        handler_memory_size: int = 256,
        max_concurrency: int = 20,
        enable_alarms: bool = False,
        alarm_actions: Sequence[cloudwatch.IAlarmAction] = (),
        log_retention: logs.RetentionDays = LOG_RETENTION,
        require_consent: bool = False,
        enable_enrollment: bool = False,
        request_source: str = _requests.DEFAULT_REQUEST_SOURCE,
        dashboard: cloudwatch.Dashboard | None = None,
        attachment_check_interval: Duration | None = None,
        repair_detached_configuration: bool = True,
    ) -> None:
        super().__init__(scope, id)
        require_voice_analytics_region(self, "SpeakerSearch")
        connectors = voice_connector_list("voice_connectors", voice_connectors)
        check_not_alias("encryption_key", encryption_key)
        if not connectors:
            raise ValueError("voice_connectors: [] is empty; give at least one Voice Connector")
        _check_alarm_props(enable_alarms=enable_alarms, alarm_actions=alarm_actions)
        self.call_leg = resolve_call_leg(call_leg)
        timeout = _check_handler_props(
            max_receive_count=max_receive_count,
            handler_timeout=handler_timeout,
            max_concurrency=max_concurrency,
            handler_memory_size=handler_memory_size,
        )

        self.request_source = _requests.validate_request_source(request_source)
        self.require_consent = require_consent
        self.enable_enrollment = enable_enrollment
        #: Identifies this construct's results on the bus (``detail.searchId``).
        self.search_id = self.node.addr
        key = encryption_key or data_key(self)
        self.event_bus = self._event_bus(event_bus)
        self.voice_profile_domain = voice_profile_domain or VoiceProfileDomain(self, "VoiceProfileDomain")

        self._queues = NotificationQueues(
            self,
            key=key,
            # AWS's guidance for Lambda event sources: six times the function timeout.
            visibility_timeout=Duration.seconds(timeout.to_seconds() * 6),
            max_receive_count=max_receive_count,
        )
        self.dead_letter_queue = self._queues.dead_letter_queue
        self.queue = self._queues.queue
        #: Per-call start and consent state and enrollment progress (IDs only, TTL about a day).
        self.state_table: dynamodb.ITable = state_table(self, "StateTable", key=key)

        # Connectors are added below, once the handler that serves them exists.
        self.configuration = VoiceAnalyticsConfiguration(
            self,
            "Configuration",
            notification_queue=self.queue,
            kinesis_stream=kinesis_stream,
            enable_kinesis_sink=enable_kinesis_sink,
            voice_tone_analysis=voice_tone_analysis,
            streaming_data_retention=streaming_data_retention,
            encryption_key=key,
        )

        self._queues.allow_sender(self.configuration.resource_access_role.role_arn)

        self.handler = python_function(
            self,
            "Handler",
            function_folder="speaker_search",
            handler="index.handler",
            description="chime-speaker-search: starts a speaker search for each call and publishes results",
            timeout=timeout,
            memory_size=handler_memory_size,
            log_key=key,
            log_retention=log_retention,
            common_modules=("aws_calls.py",),
            environment={
                "VOICE_PROFILE_DOMAIN_ID": self.voice_profile_domain.voice_profile_domain_id,
                "CALL_LEG": self.call_leg,
                "EVENT_BUS_NAME": self.event_bus.event_bus_name,
                "SEARCH_ID": self.search_id,
                "STATE_TABLE_NAME": self.state_table.table_name,
                "DEAD_LETTER_QUEUE_URL": self.dead_letter_queue.queue_url,
                "REQUIRE_CONSENT": "true" if require_consent else "false",
                "ENABLE_ENROLLMENT": "true" if enable_enrollment else "false",
                "REQUEST_SOURCE": self.request_source,
                "VOICE_TONE_ANALYSIS": "true" if voice_tone_analysis else "false",
                # Records must come from this queue (its receipt handles prove it); other
                # invocations are refused.
                "NOTIFICATION_QUEUE_ARN": self.queue.queue_arn,
                "NOTIFICATION_QUEUE_URL": self.queue.queue_url,
                "NOTIFICATION_VISIBILITY_TIMEOUT_S": str(int(timeout.to_seconds() * 6)),
            },
        )
        self._queues.allow_consumer(function_role(self.handler))
        self.handler.add_event_source(
            event_sources.SqsEventSource(
                self.queue, batch_size=10, report_batch_item_failures=True, max_concurrency=max_concurrency
            )
        )
        self.event_bus.grant_put_events_to(self.handler)
        self._bus_perimeter = self._protect_event_bus()
        self._grant_handler_state_and_dead_letter_queue(key)
        if enable_enrollment:
            self._grant_handler_voice_profiles()
        _requests.add_request_rules(
            self,
            event_bus=self.event_bus,
            queue=self.queue,
            request_source=self.request_source,
            search_id=self.search_id,
            connector_ids=lambda: [vc.voice_connector_id for vc in self.voice_connectors],
            require_consent=require_consent,
            enable_enrollment=enable_enrollment,
        )
        self._start_statement: iam.PolicyStatement | None = None
        # Statements of grants on this construct's connectors, widened as connectors are added.
        self._connector_grants: list[iam.PolicyStatement] = []
        self.voice_tone_analysis = voice_tone_analysis
        self._voice_tone_statement: iam.PolicyStatement | None = None
        #: Rule on the account's default bus matching the pipeline failures of this search's
        #: connectors; see :meth:`metric_pipeline_failures`.
        self.pipeline_health_rule = monitoring.pipeline_health_rule(self, "PipelineHealthRule")
        self.pipeline_health_rule.add_target(
            _requests._QueueTarget(self.queue, message=monitoring.pipeline_event_input())
        )
        self._attachment = self._watch_attachment(
            key, attachment_check_interval, repair=repair_detached_configuration
        )
        self.configuration._when_voice_connector_added(self._serve)
        for voice_connector in connectors:
            self.configuration.add_voice_connector(voice_connector)

        self._add_alarms(alarm_actions if enable_alarms else None)
        if dashboard is not None:
            self.add_to_dashboard(dashboard)

        acknowledge(self.dead_letter_queue, "This queue is the dead-letter queue.", "AwsSolutions-SQS3")

    @property
    def _serves_requests(self) -> bool:
        return self.require_consent or self.enable_enrollment

    def _event_bus(self, given: events.IEventBus | None) -> events.IEventBus:
        """The bus of results and requests: ``given``, else the construct's own when it serves
        requests (their perimeter needs a bus whose policy it controls), else the default bus."""
        if given is not None:
            check_same_account(self, "event_bus", given)
            return given
        if self._serves_requests:
            return events.EventBus(self, "EventBus")
        return events.EventBus.from_event_bus_name(self, "DefaultBus", "default")

    def _protect_event_bus(self) -> EventBusPerimeter | None:
        """Let only the handler publish results on the bus and, with requests, only granted principals
        send them; where the bus's policy is not this stack's to change, warn what can be forged."""
        perimeter = EventBusPerimeter.of(self.event_bus, self)
        if perimeter is not None:
            perimeter.add_publisher(function_role(self.handler))
            if self._serves_requests:
                perimeter.protect_requests(self.request_source)
        elif self._serves_requests:
            warn_without_perimeter(self, self.event_bus, request_source=self.request_source)
        return perimeter

    def _watch_attachment(self, key: kms.IKey, interval: Duration | None, *, repair: bool) -> WatchedSearch:
        """Have the stack's attachment guard check this search's connectors every ``interval`` (validated
        here, before anything of the guard is made)."""
        checked = check_interval("attachment_check_interval", interval)
        #: Whether the attachment guard re-attaches a detached configuration (else it only reports).
        self.repair_detached_configuration = repair
        watched = AttachmentGuard.of(self, log_key=key).watch(
            self,
            search_id=self.search_id,
            configuration=self.configuration,
            event_bus=self.event_bus,
            repair=repair,
            interval=checked,
        )
        #: The rule that runs the stack's attachment guard for this search every
        #: ``attachment_check_interval``.
        self.attachment_check_rule = watched.schedule
        return watched

    def _add_alarms(self, actions: Sequence[cloudwatch.IAlarmAction] | None) -> None:
        """The six alarms of ``enable_alarms=True`` (README: Alarms), each with ``actions``; with
        ``actions`` None (alarms off) every alarm attribute is None."""
        self.dead_letter_queue_alarm: cloudwatch.Alarm | None = None
        self.handler_errors_alarm: cloudwatch.Alarm | None = None
        self.pipeline_failures_alarm: cloudwatch.Alarm | None = None
        self.configuration_detached_alarm: cloudwatch.Alarm | None = None
        self.attachment_check_failures_alarm: cloudwatch.Alarm | None = None
        self.inputs_refused_alarm: cloudwatch.Alarm | None = None
        if actions is None:
            return
        self.dead_letter_queue_alarm = self._alarm(
            "DeadLetterQueueAlarm",
            self.metric_dead_letter_queue_depth(),
            "Voice analytics notifications could not be handled and wait in the "
            "dead-letter queue; the handler's logs say why.",
        )
        self.handler_errors_alarm = self._alarm(
            "HandlerErrorsAlarm",
            self.metric_handler_errors(),
            "The speaker-search handler failed invocations.",
        )
        self.pipeline_failures_alarm = self._alarm(
            "PipelineFailuresAlarm",
            self.metric_pipeline_failures_needing_action(),
            "The media insights pipeline of a call on this search's Voice Connectors could not be "
            "created, failed, or lost an element (temporary failures, which AWS retries, are not "
            "counted); the handler's 'pipeline_failure' log lines carry the kind, the failureReason "
            "and the failed elements (README: Operations).",
        )
        self.configuration_detached_alarm = self._alarm(
            "ConfigurationDetachedAlarm",
            self.metric_configuration_detached(),
            "A Voice Connector of this search was found without the search's media insights "
            "configuration attached, or with streaming off: its calls were not searched. The "
            "'Analytics Configuration Detached' event says what was found and whether it was "
            "re-attached (README: Composing with other telephony constructs).",
        )
        self.attachment_check_failures_alarm = self._alarm(
            "AttachmentCheckFailuresAlarm",
            self.metric_attachment_check_failures(),
            "The attachment guard could not check a Voice Connector of this search; its "
            "'attachment_check_failed' log lines carry the AWS error code.",
        )
        self.inputs_refused_alarm = self._alarm(
            "InputsRefusedAlarm",
            self.metric_inputs_refused(),
            "The speaker-search handler refused input that did not come through its queue or its "
            "rules (a direct invocation, a forged record, a request without the construct's "
            "envelope): someone in the account tried to forge a result or a request. Its "
            "'input_refused' log lines carry why (docs/security.md).",
        )
        for alarm in (
            self.dead_letter_queue_alarm,
            self.handler_errors_alarm,
            self.pipeline_failures_alarm,
            self.configuration_detached_alarm,
            self.attachment_check_failures_alarm,
            self.inputs_refused_alarm,
        ):
            alarm.add_alarm_action(*actions)

    def _alarm(self, id: str, metric: cloudwatch.Metric, description: str) -> cloudwatch.Alarm:
        """An alarm that fires on one data point of at least 1 (missing data is fine); its actions
        are ``alarm_actions``."""
        return metric.create_alarm(
            self,
            id,
            alarm_description=description,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    @property
    def voice_connectors(self) -> list[IVoiceConnector]:
        return list(self.configuration.voice_connectors)

    def add_voice_connector(self, voice_connector: IVoiceConnector) -> None:
        """Run speaker search on ``voice_connector``'s calls too (same configuration and handler).

        Grants made earlier with :meth:`grant_read_results` or :meth:`grant_enroll_voice_profiles`
        cover it too.
        """
        check_voice_connector("voice_connector", voice_connector)
        self.configuration.add_voice_connector(voice_connector)

    def _serve(self, voice_connector: IVoiceConnector) -> None:
        """Let the handler start tasks on a connector the configuration has just been attached to."""
        if self._start_statement is None:
            actions = ["chime:StartSpeakerSearchTask"]
            if self.require_consent:  # a "declined" after the start stops the running task
                actions.append("chime:StopSpeakerSearchTask")
            if self.enable_enrollment:  # an enroll waits until the task's voiceprint is ready
                actions.append("chime:GetSpeakerSearchTask")
            self._start_statement = iam.PolicyStatement(actions=actions)
            function_role(self.handler).add_to_principal_policy(self._start_statement)
        self._start_statement.add_resources(voice_connector.voice_connector_arn)
        for statement in self._connector_grants:
            statement.add_resources(voice_connector.voice_connector_arn)
        if self.voice_tone_analysis:
            if self._voice_tone_statement is None:
                actions = ["chime:StartVoiceToneAnalysisTask"]
                if self.require_consent:  # as for speaker search: a late "declined" stops the task
                    actions.append("chime:StopVoiceToneAnalysisTask")
                self._voice_tone_statement = iam.PolicyStatement(actions=actions)
                function_role(self.handler).add_to_principal_policy(self._voice_tone_statement)
            self._voice_tone_statement.add_resources(voice_connector.voice_connector_arn)
        monitoring.watch_voice_connector(self.pipeline_health_rule, voice_connector.voice_connector_id)
        self._attachment.add_voice_connector(voice_connector)
        self.handler.add_environment(
            "VOICE_CONNECTOR_IDS", Fn.join(",", [vc.voice_connector_id for vc in self.voice_connectors])
        )

    def _grant_handler_state_and_dead_letter_queue(self, key: kms.IKey) -> None:
        """Item-level access to the state table, and SendMessage on the dead-letter queue only.

        The handler sends a notification that can never succeed (a permanent error) straight to
        the dead-letter queue instead of letting SQS redeliver it ``max_receive_count`` times.
        Both are encrypted with ``key``: DynamoDB and SQS use it on the handler's behalf.
        """
        self.state_table.grant(
            self.handler, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"
        )
        function_role(self.handler).add_to_principal_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.dead_letter_queue.queue_arn])
        )
        key.grant(self.handler, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")

    def _grant_handler_voice_profiles(self) -> None:
        """Enrollment: CreateVoiceProfile has no IAM resource type (``*``); the rest are scoped."""
        profiles = Stack.of(self).format_arn(service="chime", resource="voice-profile", resource_name="*")
        function_role(self.handler).add_to_principal_policy(
            iam.PolicyStatement(actions=["chime:CreateVoiceProfile"], resources=["*"])
        )
        function_role(self.handler).add_to_principal_policy(
            iam.PolicyStatement(
                actions=["chime:GetVoiceProfile", "chime:UpdateVoiceProfile", "chime:DeleteVoiceProfile"],
                resources=[profiles],
            )
        )
        # Only to find the profile of a CreateVoiceProfile whose response was lost (the API has
        # no idempotency token). [U] The resource type is assumed to be the domain; if IAM wants
        # "*", the lost-response check fails with a failure event and creates nothing.
        function_role(self.handler).add_to_principal_policy(
            iam.PolicyStatement(
                actions=["chime:ListVoiceProfiles"],
                resources=[self.voice_profile_domain.voice_profile_domain_arn],
            )
        )
        acknowledge(
            function_role(self.handler),
            "chime:CreateVoiceProfile has no resource type in IAM; the other voice profile actions "
            "are limited to this account's and Region's voice profiles.",
            "AwsSolutions-IAM5[Resource::*]",
            nag_resource_finding(self, profiles),
        )

    def grant_send_consent(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to send ``Speaker Search Consent`` requests, and nothing else.

        ``events:PutEvents`` on the construct's bus only with ``source`` = ``request_source`` and that
        detail-type (``events:source`` / ``events:detail-type`` conditions); on a bus the construct
        protects (its own, or one created in the same stack), ``grantee`` also becomes one of the
        principals that the bus's policy lets send consent at all. ``grantee`` must be a role or a
        user (a Lambda function: its role). Raises ``ValueError`` without ``require_consent``.
        """
        return self._grant_requests(grantee, ("consent",), prop="grant_send_consent")

    def grant_send_enrollment(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to send every voice profile request (enroll, update, delete), not consent.

        As :meth:`grant_send_consent`, for the voice profile detail-types. Whoever holds this grant
        can create, change and erase voiceprints: keep it narrow. Raises ``ValueError`` without
        ``enable_enrollment``.
        """
        return self._grant_requests(grantee, ("enrollment",), prop="grant_send_enrollment")

    def grant_send_requests(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to send every request this construct serves: :meth:`grant_send_consent`
        and :meth:`grant_send_enrollment` in one.

        Raises ``ValueError`` when neither ``require_consent`` nor ``enable_enrollment`` is on (there
        would be nothing to send).
        """
        kinds = ("consent",) * self.require_consent + ("enrollment",) * self.enable_enrollment
        if not kinds:
            raise ValueError(
                "grant_send_requests: this SpeakerSearch serves no requests; "
                "set require_consent=True or enable_enrollment=True"
            )
        return self._grant_requests(grantee, kinds, prop="grant_send_requests")

    def _grant_requests(self, grantee: iam.IGrantable, kinds: Sequence[str], *, prop: str) -> iam.Grant:
        enabled = {"consent": self.require_consent, "enrollment": self.enable_enrollment}
        for kind in kinds:
            if not enabled[kind]:
                flag = "require_consent" if kind == "consent" else "enable_enrollment"
                raise ValueError(f"{prop}: this SpeakerSearch serves no {kind} requests; set {flag}=True")
        arn = principal_arn(grantee, prop)
        if self._bus_perimeter is not None:
            for kind in kinds:
                self._bus_perimeter.add_request_sender(self.request_source, kind, arn)
        detail_types = [detail_type for kind in kinds for detail_type in REQUEST_KINDS[kind]]
        return _requests.grant_send_requests(
            grantee, event_bus=self.event_bus, request_source=self.request_source, detail_types=detail_types
        )

    def grant_redrive_dead_letters(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to move the dead-letter queue's messages back to the notification queue.

        ``sqs:StartMessageMoveTask`` (with what it needs) on the dead-letter queue and
        ``sqs:SendMessage`` on the notification queue, whose policy otherwise denies every sender but
        the voice analytics pipeline and the construct's rules. SQS authorises a move as a send by
        the caller, so whoever holds this grant can put any message on the queue, forged results and
        requests included: grant it to an operator role, not to an application.
        """
        return self._queues.grant_redrive(grantee, principal_arn(grantee, "grant_redrive_dead_letters"))

    def on_speaker_search_result(
        self,
        id: str,
        *,
        target: events.IRuleTarget | None = None,
        event_pattern: events.EventPattern | None = None,
        **rule_options: Any,
    ) -> events.Rule:
        """An EventBridge rule matching only this construct's speaker search results.

        ``event_pattern`` narrows it further (e.g. ``detail={"status": ["IdentificationSuccessful"]}``);
        it cannot widen it: a ``source``, ``detail_type`` or ``detail.searchId`` that excludes this
        construct's raises ``ValueError``. ``rule_options`` are passed to
        :class:`aws_cdk.aws_events.Rule` (``description``, ``rule_name``, ``enabled``...).
        The event's ``detail`` carries ``searchId``,
        ``voiceConnectorId``, ``transactionId``, ``callLeg``, ``taskId``, ``status``,
        ``matches`` (ranked), ``bestMatch``, ``voiceProfileDomainId``, ``notificationId``
        and ``notificationTime``.
        """
        return self._result_rule(id, RESULT_EVENT_DETAIL_TYPE, target, event_pattern, rule_options)

    def on_voice_tone_result(
        self,
        id: str,
        *,
        target: events.IRuleTarget | None = None,
        event_pattern: events.EventPattern | None = None,
        **rule_options: Any,
    ) -> events.Rule:
        """An EventBridge rule matching only this construct's ``Voice Tone Analysis Result`` events.

        Published only with ``voice_tone_analysis=True``. ``event_pattern`` and ``rule_options`` as
        for :meth:`on_speaker_search_result`. The event's ``detail`` carries
        ``searchId``, ``voiceConnectorId``, ``transactionId``, ``callLeg``, ``taskId``,
        ``status``, ``current`` and ``overall`` (each ``{label, scores: {positive, negative,
        neutral}, startTime, endTime}`` or null), ``notificationId`` and ``notificationTime``.
        """
        return self._result_rule(id, VOICE_TONE_EVENT_DETAIL_TYPE, target, event_pattern, rule_options)

    def on_configuration_detached(
        self,
        id: str,
        *,
        target: events.IRuleTarget | None = None,
        event_pattern: events.EventPattern | None = None,
        **rule_options: Any,
    ) -> events.Rule:
        """An EventBridge rule matching this search's ``Analytics Configuration Detached`` events.

        The stack's attachment guard publishes one for each connector a check finds without this
        search's configuration attached (or with streaming off), every ``attachment_check_interval``
        while it stays so. ``event_pattern`` and ``rule_options`` as for
        :meth:`on_speaker_search_result` (e.g. ``detail={"repaired": [False]}`` for the ones that need
        a person). The event's ``detail`` carries ``searchId``, ``voiceConnectorId``,
        ``configurationArn`` (this search's), ``problem`` (``streaming_not_configured``,
        ``other_configuration_attached``, ``streaming_off``, ``configuration_not_attached``,
        ``configuration_disabled`` or ``eventbridge_target_missing``), ``found`` (``streaming``:
        ``none``/``off``/``on``, the attached ``configurationArn`` or null, ``configurationDisabled``,
        ``notificationTargets``, ``dataRetentionInHours``), ``repaired``, ``notRepairedBecause``
        (null, ``alert_only``, ``other_configuration_attached``, ``changed_by_another_writer``,
        ``reattached_by_another_writer`` or an AWS error code) and ``checkedAt``.
        """
        return self._result_rule(id, CONFIGURATION_DETACHED_DETAIL_TYPE, target, event_pattern, rule_options)

    def _result_rule(
        self,
        id: str,
        detail_type: str,
        target: events.IRuleTarget | None,
        event_pattern: events.EventPattern | None,
        rule_options: dict[str, Any],
    ) -> events.Rule:
        rule = events.Rule(
            self,
            id,
            event_bus=self.event_bus,
            event_pattern=merge_event_pattern(
                events.EventPattern(
                    source=[RESULT_EVENT_SOURCE],
                    detail_type=[detail_type],
                    detail={"searchId": [self.search_id]},
                ),
                event_pattern,
            ),
            **rule_options,
        )
        if target is not None:
            rule.add_target(target)
        return rule

    def _handler_metric(
        self, metric_name: str, options: dict[str, Any], *, status: str | None = None, statistic: str = "Sum"
    ) -> cloudwatch.Metric:
        """One of the handler's EMF metrics for this construct (dimension ``SearchId``, plus ``Status``
        when given). ``options`` are those of :class:`aws_cdk.aws_cloudwatch.MetricOptions`
        (``statistic``, ``period``, ``label``...); default: ``statistic`` over 5 minutes."""
        dimensions = {"SearchId": self.search_id}
        if status is not None:
            dimensions["Status"] = status
        return metric(
            METRIC_NAMESPACE,
            metric_name,
            dimensions,
            options,
            statistic=statistic,
            period=Duration.minutes(5),
        )

    def metric_starts(self, **options: Any) -> cloudwatch.Metric:
        """Speaker search tasks started (new tasks, not duplicates), sum per period."""
        return self._handler_metric(monitoring.SPEAKER_SEARCH_STARTED, options)

    def metric_duplicate_starts(self, **options: Any) -> cloudwatch.Metric:
        """Starts that found the call's task already running (redeliveries, retries), sum per period."""
        return self._handler_metric(monitoring.SPEAKER_SEARCH_DUPLICATE_STARTS, options)

    def metric_failed_starts(self, **options: Any) -> cloudwatch.Metric:
        """Speaker search tasks the handler could not start (after its own retries), per period."""
        return self._handler_metric(monitoring.SPEAKER_SEARCH_FAILED_STARTS, options)

    def metric_start_latency(self, **options: Any) -> cloudwatch.Metric:
        """Milliseconds from the AnalyticsReady notification's ``time`` to the started task (default p50)."""
        return self._handler_metric(monitoring.SPEAKER_SEARCH_START_LATENCY, options, statistic="p50")

    def metric_results(self, *, status: str | None = None, **options: Any) -> cloudwatch.Metric:
        """Published Speaker Search Result events, all or those with one ``status``, sum per period."""
        check_choice("status", status, monitoring.SPEAKER_SEARCH_RESULT_STATUSES)
        return self._handler_metric(monitoring.SPEAKER_SEARCH_RESULTS, options, status=status)

    def metric_voice_tone_starts(self, **options: Any) -> cloudwatch.Metric:
        """Voice tone analysis tasks started (new tasks, not duplicates), sum per period."""
        return self._handler_metric(monitoring.VOICE_TONE_STARTED, options)

    def metric_voice_tone_duplicate_starts(self, **options: Any) -> cloudwatch.Metric:
        """Voice tone starts that found the call's task already running, sum per period."""
        return self._handler_metric(monitoring.VOICE_TONE_DUPLICATE_STARTS, options)

    def metric_voice_tone_failed_starts(self, **options: Any) -> cloudwatch.Metric:
        """Voice tone analysis tasks the handler could not start, sum per period."""
        return self._handler_metric(monitoring.VOICE_TONE_FAILED_STARTS, options)

    def metric_voice_tone_start_latency(self, **options: Any) -> cloudwatch.Metric:
        """Milliseconds from the AnalyticsReady notification's ``time`` to the started voice tone task
        (default p50)."""
        return self._handler_metric(monitoring.VOICE_TONE_START_LATENCY, options, statistic="p50")

    def metric_voice_tone_results(self, *, status: str | None = None, **options: Any) -> cloudwatch.Metric:
        """Published Voice Tone Analysis Result events, all or those with one ``status``."""
        check_choice("status", status, monitoring.VOICE_TONE_RESULT_STATUSES)
        return self._handler_metric(monitoring.VOICE_TONE_RESULTS, options, status=status)

    def metric_pipeline_failures(self, *, kind: str | None = None, **options: Any) -> cloudwatch.Metric:
        """Media insights pipeline failures on this search's connectors, sum per period.

        Without ``kind``: every failure event :attr:`pipeline_health_rule` matched, of all four kinds,
        temporary failures included (the rule's ``TriggeredRules``, counted by EventBridge whether or
        not the handler runs). With ``kind``, the failures of that kind the handler logged:
        ``"CreateFailed"`` (the Voice Connector could not create the pipeline), ``"PermanentFailure"``
        (a failure that needs action), ``"ElementFailure"`` (one element of the pipeline, e.g. the
        voice analytics processor or a sink, failed while the pipeline went on) or
        ``"TemporaryFailure"`` (AWS retries it; "no action is required"). The alarm of
        ``enable_alarms`` watches :meth:`metric_pipeline_failures_needing_action`.
        """
        if kind is None:
            return monitoring.triggered_rules_metric(self.pipeline_health_rule, **options)
        check_choice("kind", kind, monitoring.PIPELINE_FAILURE_KINDS)
        return self._handler_metric(monitoring.PIPELINE_FAILURES, options, status=kind)

    def metric_pipeline_failures_needing_action(self, **options: Any) -> cloudwatch.Metric:
        """Pipeline failures that need action (create failures, permanent failures and element
        failures; not temporary failures), as the handler logged them, sum per period. The
        pipeline-failures alarm of ``enable_alarms`` fires on one."""
        return self._handler_metric(monitoring.PIPELINE_FAILURES_NEEDING_ACTION, options)

    def metric_configuration_detached(self, **options: Any) -> cloudwatch.Metric:
        """Connectors the attachment guard found without this search's configuration attached (or
        with streaming off), sum per period; every check counts each such connector again."""
        return self._handler_metric(monitoring.CONFIGURATION_DETACHED, options)

    def metric_configuration_repaired(self, **options: Any) -> cloudwatch.Metric:
        """Of :meth:`metric_configuration_detached`, the connectors the guard re-attached."""
        return self._handler_metric(monitoring.CONFIGURATION_REPAIRED, options)

    def metric_attachment_check_failures(self, **options: Any) -> cloudwatch.Metric:
        """Connectors of this search the attachment guard could not check (an AWS error after its
        retries, or its deadline), sum per period."""
        return self._handler_metric(monitoring.ATTACHMENT_CHECK_FAILURES, options)

    def add_to_dashboard(self, dashboard: cloudwatch.Dashboard) -> None:
        """Add this search's widgets to ``dashboard``: starts, duplicates and failures, start
        latency p50/p99, results by status, dead-letter queue depth, pipeline failures (all and by
        kind), handler errors and throttles, and the attachment guard's findings (voice tone too,
        with ``voice_tone_analysis=True``)."""
        for row in monitoring.dashboard_rows(self, voice_tone=self.voice_tone_analysis):
            dashboard.add_widgets(*row)

    def metric_dead_letter_queue_depth(self, **options: Any) -> cloudwatch.Metric:
        """Notifications waiting in the dead-letter queue. Default: maximum over 1 minute."""
        return self.dead_letter_queue.metric_approximate_number_of_messages_visible(
            **metric_options(options, statistic="Maximum", period=Duration.minutes(1))
        )

    def metric_handler_errors(self, **options: Any) -> cloudwatch.Metric:
        """Failed invocations of the handler. Default: sum over 5 minutes."""
        return self.handler.metric_errors(
            **metric_options(options, statistic="Sum", period=Duration.minutes(5))
        )

    def metric_handler_throttles(self, **options: Any) -> cloudwatch.Metric:
        """Invocations of the handler that Lambda throttled. Default: sum over 5 minutes."""
        return self.handler.metric_throttles(
            **metric_options(options, statistic="Sum", period=Duration.minutes(5))
        )

    def grant_enroll_voice_profiles(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to read this construct's search tasks and enroll, read, update and delete
        voice profiles.

        ``CreateVoiceProfile`` has no resource type in IAM, so it is granted on ``*``; the
        profile actions are limited to this account and Region.
        """
        stack = Stack.of(self)
        create = iam.Grant.add_to_principal(
            grantee=grantee, actions=["chime:CreateVoiceProfile"], resource_arns=["*"]
        )
        manage = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["chime:GetVoiceProfile", "chime:UpdateVoiceProfile", "chime:DeleteVoiceProfile"],
            resource_arns=[stack.format_arn(service="chime", resource="voice-profile", resource_name="*")],
        )
        return create.combine(manage).combine(self.grant_read_results(grantee))

    def grant_read_results(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to read this construct's speaker search tasks (``GetSpeakerSearchTask``),
        and its voice tone analysis tasks (``GetVoiceToneAnalysisTask``) with ``voice_tone_analysis``.

        The grant covers connectors added later with :meth:`add_voice_connector` too.
        """
        actions = ["chime:GetSpeakerSearchTask"]
        if self.voice_tone_analysis:
            actions.append("chime:GetVoiceToneAnalysisTask")
        grant = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=actions,
            resource_arns=[vc.voice_connector_arn for vc in self.voice_connectors],
        )
        self._connector_grants.extend(grant.principal_statements)
        return grant

    def metric_voice_profiles_enrolled(self, **options: Any) -> cloudwatch.Metric:
        """Voice profiles created by ``Enroll Voice Profile`` requests (sum over the period)."""
        return self._handler_metric("VoiceProfilesEnrolled", options)

    def metric_voice_profiles_updated(self, **options: Any) -> cloudwatch.Metric:
        """Voice profiles updated by ``Update Voice Profile`` requests (sum over the period)."""
        return self._handler_metric("VoiceProfilesUpdated", options)

    def metric_voice_profiles_deleted(self, **options: Any) -> cloudwatch.Metric:
        """Voice profiles deleted by ``Delete Voice Profile`` requests (already gone included)."""
        return self._handler_metric("VoiceProfilesDeleted", options)

    def metric_voice_profile_requests_failed(self, **options: Any) -> cloudwatch.Metric:
        """Voice profile requests answered with ``Voice Profile Request Failed``."""
        return self._handler_metric("VoiceProfileRequestsFailed", options)

    def metric_consents_granted(self, **options: Any) -> cloudwatch.Metric:
        """``Speaker Search Consent`` requests recorded with ``"granted"`` (sum over the period)."""
        return self._handler_metric("ConsentGranted", options)

    def metric_consents_declined(self, **options: Any) -> cloudwatch.Metric:
        """``Speaker Search Consent`` requests recorded with ``"declined"`` (sum over the period)."""
        return self._handler_metric("ConsentDeclined", options)

    def metric_results_withheld(self, *, reason: str | None = None, **options: Any) -> cloudwatch.Metric:
        """Results (speaker search and voice tone) the consent gate kept from being published, all or
        by ``reason``: ``"declined"``, ``"no-decision"`` (none recorded for the call) or
        ``"call-unknown"`` (the result names no call this construct started). Only with
        ``require_consent``. Sum per period."""
        check_choice("reason", reason, monitoring.RESULTS_WITHHELD_REASONS)
        return self._handler_metric(monitoring.RESULTS_WITHHELD, options, status=reason)

    def metric_inputs_refused(self, *, reason: str | None = None, **options: Any) -> cloudwatch.Metric:
        """Inputs the handler refused without acting on them, all or by ``reason``:
        ``"raw-invocation"`` (a direct invoke), ``"foreign-queue"`` or ``"invalid-receipt-handle"`` (a
        record that is not a message of the notification queue), ``"no-envelope"`` (a request that did
        not come through the construct's rules). Any of them is someone trying to forge input; with
        ``enable_alarms`` it has an alarm (:attr:`inputs_refused_alarm`). Sum per period."""
        check_choice("reason", reason, monitoring.INPUTS_REFUSED_REASONS)
        return self._handler_metric(monitoring.INPUTS_REFUSED, options, status=reason)

    def metric_calls_not_searched(self, *, reason: str = "declined", **options: Any) -> cloudwatch.Metric:
        """Calls the consent gate kept from being searched: ``reason`` ``"declined"`` or ``"ended"``
        (consent arrived after the call was over). Calls that never got a decision are not counted:
        nothing happens for them."""
        # Required: the handler emits CallsNotSearched only with a Status, so a metric without
        # one would never have data.
        check_choice("reason", reason, monitoring.CALLS_NOT_SEARCHED_REASONS, optional=False)
        return self._handler_metric("CallsNotSearched", options, status=reason)


def _check_alarm_props(*, enable_alarms: bool, alarm_actions: Sequence[cloudwatch.IAlarmAction]) -> None:
    """``alarm_actions`` act only on the alarms of ``enable_alarms=True``: without them, say so."""
    actions = list(alarm_actions or ())
    if actions and not enable_alarms:
        count = f"{len(actions)} action" + ("s" * (len(actions) != 1))
        raise ValueError(
            f"alarm_actions: {count} given while enable_alarms is False, so there is no alarm for them to "
            "act on; pass enable_alarms=True to create the alarms, or leave alarm_actions out"
        )


def _check_handler_props(
    *,
    max_receive_count: int,
    handler_timeout: Duration | None,
    max_concurrency: int,
    handler_memory_size: int,
) -> Duration:
    """Validate the props of the queue and the handler; return the handler's timeout.

    A number that is a deploy-time token (a ``CfnParameter``'s ``value_as_number``) is passed through
    unchecked, as aws-cdk-lib does: CloudFormation and the service check it at deploy time. The
    handler's timeout cannot be one, because the queue's visibility timeout is computed from it.
    """

    def out_of_range(value: int, low: int, high: int) -> bool:
        # Token.is_unresolved is a call into Node.js: made only for a value that fails the check.
        return not low <= value <= high and not Token.is_unresolved(value)

    if out_of_range(max_receive_count, 1, 1000):
        raise ValueError(f"max_receive_count: {max_receive_count} is out of range; expected 1 to 1000")
    timeout = handler_timeout or Duration.seconds(30)
    if timeout.is_unresolved():
        raise ValueError(
            "handler_timeout: a deploy-time token is not supported; the queue's visibility timeout "
            "is derived from it, so give a concrete Duration (30 seconds to 15 minutes)"
        )
    # 30 s is the shortest timeout in which a continuously throttled start gets all of the
    # handler's 8 attempts: up to 16.2 s of backoff, no attempt started with less than 7 s
    # (connect + read timeout) left, and a 3 s margin before the deadline.
    if not 30 <= timeout.to_seconds() <= 900:
        raise ValueError(
            f"handler_timeout: {timeout.to_human_string()} is out of range; expected 30 seconds to 15 minutes"
        )
    if out_of_range(max_concurrency, 2, 1000):  # the range the event source mapping accepts
        raise ValueError(f"max_concurrency: {max_concurrency} is out of range; expected 2 to 1000")
    if out_of_range(handler_memory_size, 128, 10240):
        raise ValueError(
            f"handler_memory_size: {handler_memory_size} is out of range; expected 128 to 10240 MiB"
        )
    return timeout
