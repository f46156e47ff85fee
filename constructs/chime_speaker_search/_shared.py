"""Stack-level singletons: the custom-resource provider, the library's data key and insights stream.

Ten Voice Connectors, or ten ``SpeakerSearch`` constructs, in one stack must not multiply
Lambda functions: every custom-resource type is served by one Provider per stack, and every user
of it widens the same least-privilege policy statements with its own resource ARNs.
"""

from __future__ import annotations

import base64
import json
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import jsii
from aws_cdk import (
    Acknowledgment,
    ArnFormat,
    AspectPriority,
    Aspects,
    Aws,
    CfnResource,
    CustomResource,
    Duration,
    Fn,
    IAspect,
    Lazy,
    Names,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from ._assets import handler_code
from ._lazy import AnyProducer
from ._version import __version__

#: Runtime and architecture of every Python function the library deploys.
PYTHON_RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
#: How long the library's log groups keep events by default: one year, the least AWS Control
#: Tower's CT.CLOUDWATCH.PR.2 allows (the logs hold IDs and reasons only, no personal data).
LOG_RETENTION = logs.RetentionDays.ONE_YEAR

_DATA_KEY_ID = "ChimeSpeakerSearchDataKey"


def data_key(scope: Construct) -> kms.IKey:
    """The stack's customer-managed key for the library's queues, stream and log groups.

    One key per stack, not per construct: keys cost money each month and every user of this
    one is in the same stack and trust boundary. The voice profile domain has its own key.
    """
    stack = Stack.of(scope)
    existing = stack.node.try_find_child(_DATA_KEY_ID)
    if existing is not None:
        return cast(kms.IKey, existing)
    key = kms.Key(
        stack,
        _DATA_KEY_ID,
        description="chime-speaker-search: encrypts voice analytics notifications, "
        "the insights stream and logs",
        enable_key_rotation=True,
        # Everything it encrypts (queues, stream, log groups) is deleted with the stack too.
        removal_policy=RemovalPolicy.DESTROY,
    )
    deny_grants_except_for_aws_services(key)
    return key


def deny_grants_except_for_aws_services(key: kms.Key) -> None:
    """Deny ``kms:CreateGrant`` on ``key`` unless it is for an AWS resource or made by an AWS service.

    AWS Control Tower's CT.KMS.PR.3 requires exactly this statement (``BoolIfExists`` on both
    keys, nothing else). Services that create grants for their own resources (Chime for a
    voice profile domain, on the caller's behalf) pass with ``kms:GrantIsForAWSResource``, and
    a service principal with ``aws:PrincipalIsAWSService``; anyone else is refused.
    """
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="DenyCreateGrantUnlessForAWSResourceOrByAWSService",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["kms:CreateGrant"],
            resources=["*"],
            conditions={
                "BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}
            },
        )
    )


_STREAM_ID = "ChimeSpeakerSearchInsightsStream"


def insights_stream(scope: Construct, key: kms.IKey | None = None) -> kinesis.IStream:
    """The stack's Kinesis data stream sink for voice analytics notifications, one per key.

    Every configuration in the stack that uses the same key writes to this one stream: a stream
    costs about 11 USD a month per shard, and its records are only a copy of what the queues get.
    A configuration given another key gets one stream for that key (shared the same way).
    """
    stack = Stack.of(scope)
    key = key or data_key(scope)
    default = key.node.path == data_key(scope).node.path
    stream_id = _STREAM_ID if default else f"{_STREAM_ID}{Names.unique_id(key)}"
    existing = stack.node.try_find_child(stream_id)
    if existing is not None:
        return cast(kinesis.IStream, existing)
    stream = kinesis.Stream(
        stack,
        stream_id,
        shard_count=1,
        retention_period=Duration.hours(24),
        encryption=kinesis.StreamEncryption.KMS,
        encryption_key=key,
        # It holds only 24 hours of transient notifications.
        removal_policy=RemovalPolicy.DESTROY,
    )
    acknowledge(
        stream,
        "The stream is encrypted with a customer-managed key with rotation rather than aws/kinesis, "
        "so access to the notifications is governed by the key policy.",
        "AwsSolutions-KDS3",
    )
    return stream


# Keys whose policy already lets CloudWatch Logs use them (one statement per key).
_LOGS_ALLOWED: weakref.WeakSet[kms.IKey] = weakref.WeakSet()


def allow_cloudwatch_logs(key: kms.IKey) -> None:
    """Let CloudWatch Logs encrypt this stack's log groups with ``key``.

    The logs service uses the key as ``logs.<region>.amazonaws.com``, which only the key policy
    can allow (aws-cdk-lib 2.275's LogGroup does not add it). The grant is limited to log groups
    of this account and Region by the encryption context. An imported key's policy cannot be
    changed here: it must already allow this.
    """
    if key in _LOGS_ALLOWED:
        return
    _LOGS_ALLOWED.add(key)
    stack = Stack.of(key)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchLogsOfThisAccountAndRegion",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )


def encrypted_log_group(
    scope: Construct,
    id: str,
    key: kms.IKey | None = None,
    retention: logs.RetentionDays = LOG_RETENTION,
    log_group_name: str | None = None,
) -> logs.LogGroup:
    """A log group with bounded retention, encrypted with ``key`` (default: the stack's data key)."""
    key = key or data_key(scope)
    allow_cloudwatch_logs(key)
    return logs.LogGroup(
        scope,
        id,
        retention=retention,
        encryption_key=key,
        removal_policy=RemovalPolicy.DESTROY,
        log_group_name=log_group_name,
    )


def python_function(
    scope: Construct,
    id: str,
    *,
    function_folder: str,
    handler: str,
    description: str,
    timeout: Duration,
    memory_size: int = 256,
    environment: Mapping[str, str] | None = None,
    log_key: kms.IKey | None = None,
    log_retention: logs.RetentionDays = LOG_RETENTION,
    common_modules: Sequence[str] = (),
) -> lambda_.Function:
    """A Python function of this library: arm64, JSON logs, its own role and encrypted log group.

    The role is written here rather than taken from CDK's default, which attaches the
    AWSLambdaBasicExecutionRole managed policy (logs:* on every log group); this one may
    write only to the function's own log group.
    """
    log_group = encrypted_log_group(scope, f"{id}Logs", log_key, log_retention)
    role = iam.Role(
        scope,
        f"{id}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"Execution role of {description}",
    )
    log_group.grant_write(role)
    return lambda_.Function(
        scope,
        id,
        description=description,
        runtime=PYTHON_RUNTIME,
        architecture=ARCHITECTURE,
        handler=handler,
        code=handler_code(function_folder, common_modules),
        timeout=timeout,
        memory_size=memory_size,
        # The library version goes into the functions' AWS user agent (see aws_calls.py).
        environment={**(environment or {}), "CHIME_SPEAKER_SEARCH_VERSION": __version__},
        role=role,
        logging_format=lambda_.LoggingFormat.JSON,
        log_group=log_group,
    )


def function_role(function: lambda_.IFunction) -> iam.IRole:
    """The role :func:`python_function` gave ``function``: add the library's statements to it.

    ``Function.add_to_role_policy`` puts each statement in a policy of its own under the function
    when an app sets ``@aws-cdk/aws-lambda:createNewPoliciesWithAddToRolePolicy``; added to the
    role, they stay in its default policy, where the library acknowledges their cdk-nag findings.
    """
    role = function.role
    if role is None:  # python_function always gives the function its own role
        raise RuntimeError(f"{function.node.path} has no role")
    return role


#: Tag on every voice profile domain and media insights pipeline configuration the library creates,
#: with the stack's ID: the custom-resource function changes only resources that carry its stack's.
OWNER_TAG = "chime-speaker-search:stack"


@dataclass(frozen=True)
class CustomResourceType:
    """One of the library's custom-resource types, served by the stack's one Provider."""

    #: The CloudFormation type; ``lambda/custom_resources/index.py`` routes requests on it.
    resource_type: str
    #: CloudFormation's ServiceTimeout for resources of this type: the handler's budget for the
    #: type (``BUDGET_S`` in its module) plus ``_FRAMEWORK_MARGIN`` for cold starts and the reply,
    #: or, for a type that completes asynchronously, CloudFormation's maximum.
    service_timeout: Duration
    #: Construct ID of this type's own Provider in the three-provider layout (see ``LEGACY_CONTEXT``).
    legacy_construct_id: str
    #: Whether a request of this type may still be in progress when on_event answers (the Provider
    #: framework's isComplete then polls the on_event function, see ``SharedProvider``).
    completes_asynchronously: bool = False


#: Cold starts of the framework and on_event functions, the waiter's start and first isComplete call,
#: and the framework's reply to CloudFormation.
_FRAMEWORK_MARGIN = Duration.minutes(2)
#: CloudFormation's largest ServiceTimeout for a custom resource.
MAX_SERVICE_TIMEOUT = Duration.hours(1)
#: How often the Provider framework's waiter calls isComplete, and for how long in all (its
#: ``query_interval`` and ``total_timeout``: at most 100 retries). A configuration delete gives up
#: by itself after 45 minutes (``IN_USE_WAIT_S`` in its module) with its reason; the framework's own
#: timeout comes after that, and both before CloudFormation's hour (``MAX_SERVICE_TIMEOUT``).
COMPLETION_QUERY_INTERVAL = Duration.seconds(30)
COMPLETION_TOTAL_TIMEOUT = Duration.minutes(50)

VOICE_PROFILE_DOMAIN = CustomResourceType(
    resource_type="Custom::ChimeVoiceProfileDomain",
    service_timeout=Duration.minutes(2 + 2),  # BUDGET_S 120 s + margin
    legacy_construct_id="ChimeSpeakerSearchVoiceProfileDomainProvider",
)
MEDIA_INSIGHTS_CONFIGURATION = CustomResourceType(
    resource_type="Custom::ChimeMediaInsightsPipelineConfiguration",
    # A delete of a configuration in use waits through isComplete calls for up to 45 minutes.
    service_timeout=MAX_SERVICE_TIMEOUT,
    legacy_construct_id="ChimeSpeakerSearchMediaInsightsConfigurationProvider",
    completes_asynchronously=True,
)
STREAMING_ASSOCIATION = CustomResourceType(
    resource_type="Custom::ChimeVoiceConnectorStreamingAssociation",
    service_timeout=Duration.minutes(2 + 2),  # BUDGET_S 120 s + margin
    legacy_construct_id="ChimeSpeakerSearchStreamingAssociationProvider",
)
CUSTOM_RESOURCE_TYPES = (VOICE_PROFILE_DOMAIN, MEDIA_INSIGHTS_CONFIGURATION, STREAMING_ASSOCIATION)

#: The on_event function's timeout: the longest budget of one invocation (a type's ``BUDGET_S`` or an
#: isComplete call's ``CHECK_BUDGET_S``, 120 s) plus the handler's safety margin, and strictly below
#: the Provider framework's own 15 minutes, so the framework always outlives the handler and can
#: report its failure to CloudFormation.
ON_EVENT_TIMEOUT = Duration.minutes(3)

#: Context key (``cdk.json`` or ``-c``) for stacks first deployed with the three-provider layout
#: (one Provider per custom-resource type). CloudFormation refuses to change a custom resource's
#: ServiceToken ("Modifying service token is not allowed"), so such a stack keeps the three
#: Provider framework functions (their logical IDs, hence every ServiceToken, stay as deployed),
#: all fronting the one on_event function. See the README's upgrade note.
LEGACY_CONTEXT = "chime-speaker-search:keepThreeProviderServiceTokens"


class SharedProvider(Construct):
    """The one Provider for every custom-resource type of the library, shared by the whole stack.

    One on_event function (lambda/custom_resources/, routing on the resource type) and one
    Provider framework serve every domain, configuration and streaming association of the stack.
    Each user widens the one role's least-privilege statements with its own ARNs.

    The on_event function knows its stack (``STACK_ID``) and serves no other stack's requests. It is
    also the Provider's ``is_complete_handler``: a configuration that is still in use when it is
    deleted is polled every ``COMPLETION_QUERY_INTERVAL`` by the framework's waiter (a Step Functions
    state machine with the framework's isComplete and onTimeout functions), which answers at once for
    every other request. In the three-provider layout only the configuration's Provider has a waiter.
    """

    CONSTRUCT_ID = "ChimeSpeakerSearchCustomResourceProvider"

    def __init__(self, scope: Construct) -> None:
        super().__init__(scope, self.CONSTRUCT_ID)
        self._statements: dict[str, iam.PolicyStatement] = {}
        self._resources: dict[str, set[str]] = {}
        self._providers: dict[str, cr.Provider] = {}
        self.legacy = _truthy(self.node.try_get_context(LEGACY_CONTEXT))
        self.on_event = python_function(
            self,
            "OnEvent",
            function_folder="custom_resources",
            handler="index.on_event",
            description="chime-speaker-search: creates, updates and deletes voice profile domains, media "
            "insights pipeline configurations and Voice Connector streaming associations",
            timeout=ON_EVENT_TIMEOUT,
            # The handler serves only this stack's requests (cfn_ownership.check_stack).
            environment={"STACK_ID": Stack.of(self).stack_id},
            common_modules=HANDLER_COMMON_MODULES,
        )
        # The wildcard findings are reported on this role's policy. Acknowledged on the role rather
        # than on the whole provider, they stay off the provider's other resources' metadata.
        self._role = function_role(self.on_event)
        # The connectors the stack's associations serve: the handler attaches to no other
        # (cfn_ownership.check_served_connector), whatever a crafted request names.
        self._served_connectors: list[str] = []
        self.on_event.add_environment(
            "VOICE_CONNECTOR_IDS",
            Lazy.string(
                AnyProducer(lambda: Fn.join(",", self._served_connectors) if self._served_connectors else "")
            ),
        )

    def serve_voice_connector(self, voice_connector_id: str) -> None:
        """Let streaming associations attach to this connector (one of the stack's)."""
        if voice_connector_id not in self._served_connectors:
            self._served_connectors.append(voice_connector_id)

    @classmethod
    def of(cls, scope: Construct) -> SharedProvider:
        stack = Stack.of(scope)
        existing = stack.node.try_find_child(cls.CONSTRUCT_ID)
        if existing is None:
            return cls(stack)
        if not isinstance(existing, SharedProvider):
            raise TypeError(f"construct ID {cls.CONSTRUCT_ID!r} is reserved by chime-speaker-search")
        return existing

    def custom_resource(
        self,
        scope: Construct,
        id: str,
        kind: CustomResourceType,
        properties: Mapping[str, Any],
        removal_policy: RemovalPolicy | None = None,
    ) -> CustomResource:
        """A custom resource of type ``kind`` served by this provider, with its service timeout."""
        return CustomResource(
            scope,
            id,
            service_token=self.service_token(kind),
            resource_type=kind.resource_type,
            properties=dict(properties),
            removal_policy=removal_policy,
            service_timeout=kind.service_timeout,
        )

    def service_token(self, kind: CustomResourceType) -> str:
        """The ServiceToken for resources of ``kind``: the one framework's (or, in a stack that keeps
        the three-provider layout, the framework function that type had there)."""
        key = kind.legacy_construct_id if self.legacy else ""
        provider = self._providers.get(key)
        if provider is None:
            # Legacy: a Construct with the old provider's ID at stack level, holding a Provider
            # named "Provider", gives the framework function the logical ID it was deployed with.
            scope: Construct = Construct(Stack.of(self), key) if key else self
            # The shared Provider serves every type, including those added later; in the legacy
            # layout each Provider serves one type, and only a type that needs it gets a waiter.
            waits = kind.completes_asynchronously or not self.legacy
            provider = cr.Provider(
                scope,
                "Provider",
                on_event_handler=self.on_event,
                log_group=encrypted_log_group(scope, "FrameworkLogs"),
                **(_waiter_props(scope, self.on_event) if waits else {}),
            )
            _acknowledge_framework_findings(provider, self.on_event_logical_id)
            if waits:
                _trace_and_acknowledge_waiter(provider, self.on_event_logical_id)
            self._providers[key] = provider
        return provider.service_token

    @property
    def on_event_logical_id(self) -> str:
        return Stack.of(self).get_logical_id(cast(Any, self.on_event.node.default_child))

    def allow(
        self,
        actions: Sequence[str],
        resources: Sequence[str],
        conditions: Mapping[str, Any] | None = None,
        *,
        wildcard_reason: str | None = None,
    ) -> None:
        """Let the handler call ``actions`` on ``resources``, merged into one statement per action set.

        Statements are keyed by actions and conditions so that N users add N ARNs to one
        statement instead of N statements (IAM allows 10,240 characters of inline policy per
        role). A permission a Delete needs must not name the resource: CloudFormation deletes a
        removed resource after it has updated this policy without it. A resource with a
        wildcard needs ``wildcard_reason``: it becomes the cdk-nag acknowledgement.
        """
        for arn in resources:
            if "*" in arn:
                if wildcard_reason is None:
                    raise ValueError(f"a wildcard resource {arn!r} needs a wildcard_reason")
                acknowledge(self._role, wildcard_reason, nag_resource_finding(self, arn))
        key = json.dumps([sorted(actions), conditions or {}], sort_keys=True)
        statement = self._statements.get(key)
        if statement is None:
            statement = iam.PolicyStatement(actions=sorted(actions), conditions=dict(conditions or {}))
            self._statements[key] = statement
            self._resources[key] = set()
            self._role.add_to_principal_policy(statement)
        fresh = [arn for arn in resources if arn not in self._resources[key]]
        self._resources[key].update(fresh)
        if fresh:
            statement.add_resources(*fresh)


#: Modules of lambda/_common/ the custom-resource function imports, shipped beside its index.py.
HANDLER_COMMON_MODULES = (
    "aws_calls.py",
    "cfn_custom_resource.py",
    "cfn_ownership.py",
    "streaming_settings.py",
)


def _waiter_props(scope: Construct, on_event: lambda_.IFunction) -> dict[str, Any]:
    """The Provider's asynchronous completion: the on_event function is its isComplete handler too.

    The waiter state machine logs every event (without execution data, which holds the request's
    properties and its presigned response URL) to an encrypted log group under
    ``/aws/vendedlogs/states/``, the prefix for which CloudWatch Logs needs no resource policy entry
    per log group.
    """
    name = Fn.join(
        "-", ["/aws/vendedlogs/states/chime-speaker-search", Aws.STACK_NAME, Names.unique_id(scope)]
    )
    return {
        "is_complete_handler": on_event,
        "total_timeout": COMPLETION_TOTAL_TIMEOUT,
        "query_interval": COMPLETION_QUERY_INTERVAL,
        "disable_waiter_state_machine_logging": False,
        "waiter_state_machine_log_options": cr.LogOptions(
            destination=encrypted_log_group(scope, "WaiterLogs", log_group_name=name),
            level=sfn.LogLevel.ALL,
            include_execution_data=False,
        ),
    }


def _trace_and_acknowledge_waiter(provider: cr.Provider, on_event_logical_id: str) -> None:
    """X-Ray tracing for the framework's waiter state machine, and its cdk-nag findings.

    aws-cdk-lib 2.275's ``WaiterStateMachine`` has no tracing option, so it is set on the
    CloudFormation resource, with the permissions Step Functions needs to send traces.
    """
    waiter = provider.node.try_find_child("waiter-state-machine")
    machine = waiter.node.try_find_child("Resource") if waiter is not None else None
    role = waiter.node.try_find_child("Role") if waiter is not None else None
    if not isinstance(machine, sfn.CfnStateMachine) or not isinstance(role, iam.Role):
        raise RuntimeError(f"{provider.node.path}: aws-cdk-lib's waiter state machine is not where expected")
    machine.tracing_configuration = sfn.CfnStateMachine.TracingConfigurationProperty(enabled=True)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=[
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
            ],
            resources=["*"],
        )
    )
    acknowledge(
        role,
        "Step Functions delivers logs through CloudWatch Logs' log delivery APIs and sends X-Ray traces; "
        "neither has a resource type in IAM (aws-cdk-lib's own statement for the waiter's logs, and AWS's "
        "documented X-Ray statement for state machines).",
        "AwsSolutions-IAM5[Resource::*]",
    )
    for name in ("framework-isComplete", "framework-onTimeout"):
        function = provider.node.try_find_child(name)
        if isinstance(function, lambda_.Function):
            logical_id = Stack.of(provider).get_logical_id(cast(Any, function.node.default_child))
            acknowledge(
                role,
                "The waiter may invoke any version of the framework's own isComplete and onTimeout functions "
                "(<function arn>:*); the wildcard is the version qualifier, not other functions.",
                f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>:*]",
            )


def nag_resource_finding(scope: IConstruct, arn: str) -> str:
    """The cdk-nag finding ID for a wildcard ``arn`` in an IAM policy: ``AwsSolutions-IAM5[Resource::…]``.

    cdk-nag names a finding after the resolved value, writing ``Ref`` as ``<Name>`` and
    ``Fn::GetAtt`` as ``<LogicalId.Attribute>``; the same rendering is reproduced here so a
    per-connector pattern can be acknowledged precisely.
    """
    return f"AwsSolutions-IAM5[Resource::{_render(Stack.of(scope).resolve(arn))}]"


def _render(value: Any) -> str:
    """cdk-nag's ``flattenCfnReference``, in Python."""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(_render(part) for part in parts)
        if function in ("Fn::Sub", "Fn::ImportValue"):
            return _render(argument)
        if function == "Ref":
            return f"<{_render(argument)}>"
        if function == "Fn::GetAtt":
            return f"<{_render(argument[0])}.{_render(argument[1])}>"
    # cdk-nag's fallback: the reference as compact JSON (JavaScript's JSON.stringify).
    return json.dumps(value, separators=(",", ":"))


def acknowledge(scope: IConstruct, reason: str, *finding_ids: str) -> None:
    """Acknowledge cdk-nag findings on ``scope`` and its children, each with the reason it is safe.

    Written in both forms, so an app sees zero findings with either cdk-nag version and the
    library needs no dependency on cdk-nag: CDK's own ``Validations`` acknowledgements (read
    by cdk-nag 3, each finding ``RuleId[FindingId]`` by name) and the ``cdk_nag`` metadata of
    each CloudFormation resource under ``scope`` (read by cdk-nag 2's Aspects). A finding that
    names the partition is acknowledged both as ``<AWS::Partition>`` and as ``aws``: which one
    cdk-nag sees depends on the app's feature flags and whether the stack's Region is known.
    """
    findings = [variant for finding in finding_ids for variant in _partition_variants(finding)]
    Validations.of(scope).acknowledge(*(Acknowledgment(id=finding, reason=reason) for finding in findings))
    _NagMetadata.of(scope).add(scope, reason, findings)


_PARTITION_REF = ":<AWS::Partition>:"


def _partition_variants(finding_id: str) -> list[str]:
    """``finding_id`` as cdk-nag renders it with the partition as a token and as a literal."""
    if _PARTITION_REF in finding_id:
        return [finding_id, finding_id.replace(_PARTITION_REF, ":aws:")]
    if ":aws:" in finding_id:
        return [finding_id.replace(":aws:", _PARTITION_REF), finding_id]
    return [finding_id]


@jsii.implements(IAspect)
class _NagMetadata:
    """Writes the cdk-nag 2 form of the acknowledgements: ``cdk_nag.rules_to_suppress`` metadata.

    cdk-nag 2 reads it from each CloudFormation resource when its own Aspect visits the
    resource. This Aspect (one per stack) is applied to each acknowledged scope, not to the
    whole stack: every node it visits costs a call from Node.js into Python, and a stack-wide
    Aspect visited every node of the app's stack. On each node it runs before cdk-nag's, at the
    mutating priority, so resources created after ``acknowledge`` was called are covered too.
    """

    def __init__(self) -> None:
        # Construct path of an acknowledged scope -> cdk-nag 2 suppressions, in insertion order.
        self._by_scope: dict[str, list[dict[str, Any]]] = {}

    @classmethod
    def of(cls, scope: IConstruct) -> _NagMetadata:
        stack = Stack.of(scope)
        existing = _NAG_METADATA.get(stack)
        if existing is None:
            existing = _NAG_METADATA[stack] = cls()
        return existing

    def add(self, scope: IConstruct, reason: str, findings: Sequence[str]) -> None:
        path = scope.node.path
        if not any(path == seen or path.startswith(seen + "/") for seen in self._by_scope):
            # A scope inside one already acknowledged inherits the Aspect from it.
            Aspects.of(scope).add(self, priority=AspectPriority.MUTATING)
        rules = self._by_scope.setdefault(path, [])
        for finding in findings:
            rule_id, _, applies_to = finding.partition("[")
            entry: dict[str, Any] = {"id": rule_id, "reason": reason}
            if not reason.isascii():
                # cdk-nag 2's own encoding of a reason it could not store in a template as is.
                entry = {
                    "id": rule_id,
                    "reason": base64.b64encode(reason.encode()).decode(),
                    "is_reason_encoded": True,
                }
            if not applies_to:
                if entry not in rules:
                    rules.append(entry)
                continue
            # One entry per rule and reason lists every finding it covers: each connector's
            # call-stream prefix adds a line to the list, not a whole entry, to the template.
            finding_id = applies_to.removesuffix("]")
            listed = next((rule for rule in rules if _lists_findings_of(rule, entry)), None)
            if listed is None:
                rules.append({**entry, "applies_to": [finding_id]})
            elif finding_id not in listed["applies_to"]:
                listed["applies_to"].append(finding_id)

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, CfnResource):
            return
        path = node.node.path
        rules = [
            rule
            for scope, scope_rules in self._by_scope.items()
            if path == scope or path.startswith(scope + "/")
            for rule in scope_rules
        ]
        if rules:
            existing = node.get_metadata("cdk_nag") or {}
            merged = [r for r in existing.get("rules_to_suppress", []) if r not in rules] + rules
            node.add_metadata("cdk_nag", {**existing, "rules_to_suppress": merged})


def _lists_findings_of(rule: dict[str, Any], entry: dict[str, Any]) -> bool:
    """Whether ``rule`` is a cdk-nag 2 entry listing findings (``applies_to``) for ``entry``'s rule
    ID and reason."""
    return (
        "applies_to" in rule and {key: value for key, value in rule.items() if key != "applies_to"} == entry
    )


_NAG_METADATA: weakref.WeakKeyDictionary[Stack, _NagMetadata] = weakref.WeakKeyDictionary()


def _acknowledge_framework_findings(provider: cr.Provider, on_event_logical_id: str) -> None:
    """Findings on code the library does not write: the CDK Provider framework's own Lambda functions.

    Each finding is acknowledged on the construct it is reported for (a framework function's role,
    or the function), so its cdk-nag 2 metadata is not repeated on the provider's other resources.
    ``framework-onEvent``, ``framework-isComplete`` and ``framework-onTimeout`` are aws-cdk-lib's IDs
    for those functions (the last two exist with a waiter); should they ever change, the whole
    provider is acknowledged instead.
    """
    names = ("framework-onEvent", "framework-isComplete", "framework-onTimeout")
    functions = [provider.node.try_find_child(name) for name in names]
    scopes: list[tuple[IConstruct, IConstruct]] = [
        (function.node.default_child or provider, function.role)
        for function in functions
        if isinstance(function, lambda_.Function) and function.role is not None
    ]
    if not any(isinstance(function, lambda_.Function) for function in functions):
        scopes = [(provider, provider)]
    for function_scope, role_scope in scopes:
        acknowledge(
            role_scope,
            "The CDK Provider framework's function uses AWSLambdaBasicExecutionRole only to write its own "
            "logs.",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        )
        acknowledge(
            role_scope,
            "The CDK Provider framework may invoke any version of the one on_event function it fronts "
            "(<function arn>:*); the wildcard is the version qualifier, not other functions.",
            f"AwsSolutions-IAM5[Resource::<{on_event_logical_id}.Arn>:*]",
        )
        acknowledge(
            function_scope,
            "The Provider framework's Node.js runtime is chosen and kept current by aws-cdk-lib.",
            "AwsSolutions-L1",
        )


def _truthy(value: Any) -> bool:
    """A context value as a flag: true, "true" (any case) or "1"; anything else is false."""
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1"))
