"""Consent and enrollment requests: the EventBridge rules that queue them and the send grant.

Requests arrive as events on the construct's bus with ``source`` = ``request_source``. Rules
route them into the construct's own notification queue, so one durable queue (with its
dead-letter queue) and one handler serve notifications and requests alike. The rules match
narrowly, so two constructs on one bus never both act on a request:

* consent: ``detail.voiceConnectorId`` is one of this construct's connectors;
* enrollment: ``detail.searchId`` is this construct's ``search_id``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

import jsii
from aws_cdk import Lazy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces import aws_events as events_refs
from constructs import Construct

from ._lazy import ListProducer
from ._validation import describe
from .event_types import (
    CONSENT_REQUEST_DETAIL_TYPE,
    DEFAULT_REQUEST_SOURCE,
    ENROLLMENT_REQUEST_DETAIL_TYPES,
    REQUEST_ENVELOPE,
    RESULT_EVENT_SOURCE,
)
from .notification_queues import NotificationQueues

__all__ = ["DEFAULT_REQUEST_SOURCE", "add_request_rules", "grant_send_requests", "validate_request_source"]


def validate_request_source(value: str) -> str:
    """EventBridge refuses PutEvents with an ``aws.`` source, and a source is 1 to 256 characters.

    The result source is refused too: a request with it would be indistinguishable from the
    library's own events, and the bus's perimeter could not keep the two apart.
    """
    if not isinstance(value, str):
        raise ValueError(f"request_source: got {describe(value)}; expected a string of 1 to 256 characters")
    if not value.strip() or len(value) > 256:
        raise ValueError(f"request_source: {value!r} is not allowed; expected 1 to 256 characters")
    if value.lower().startswith("aws."):
        raise ValueError(
            f"request_source: {value!r} is not allowed; sources starting with 'aws.' are reserved "
            "for AWS services and PutEvents refuses them"
        )
    if value == RESULT_EVENT_SOURCE:
        raise ValueError(
            f"request_source: {value!r} is the source of the library's own results and outcome events; "
            "choose another source for requests (default 'chime-speaker-search.requests')"
        )
    return value


def request_detail_types(*, require_consent: bool, enable_enrollment: bool) -> list[str]:
    return [CONSENT_REQUEST_DETAIL_TYPE] * require_consent + list(ENROLLMENT_REQUEST_DETAIL_TYPES) * (
        enable_enrollment
    )


def request_envelope() -> events.RuleTargetInput:
    """What a request rule puts on the queue: the whole event, and when EventBridge received it.

    ``aws.events.event.ingestion-time`` is set by EventBridge and cannot be set by the producer, unlike
    the event's ``time``: the handler orders consent decisions by it. The envelope also marks the
    request as delivered by one of the construct's rules.
    """
    return events.RuleTargetInput.from_object(
        {
            "envelope": REQUEST_ENVELOPE,
            "ingestionTime": "<aws.events.event.ingestion-time>",
            "event": events.EventField.from_path("$"),
        }
    )


def add_request_rules(
    scope: Construct,
    *,
    event_bus: events.IEventBus,
    queue: sqs.IQueue,
    request_source: str,
    search_id: str,
    connector_ids: Callable[[], Sequence[str]],
    require_consent: bool,
    enable_enrollment: bool,
) -> list[events.Rule]:
    """One rule per enabled kind of request, each delivering into ``queue``.

    The queue policy lets ``events.amazonaws.com`` send only on behalf of these rules
    (``aws:SourceArn``); see :func:`_allow_event_bridge` for the key policy.
    """
    rules = []
    if require_consent:
        rules.append(
            events.Rule(
                scope,
                "ConsentRequestRule",
                event_bus=event_bus,
                description="chime-speaker-search: consent decisions for this construct's connectors",
                event_pattern=events.EventPattern(
                    source=[request_source],
                    detail_type=[CONSENT_REQUEST_DETAIL_TYPE],
                    # Lazy: connectors added later with add_voice_connector are matched too.
                    detail={"voiceConnectorId": Lazy.list(ListProducer(connector_ids))},
                ),
            )
        )
    if enable_enrollment:
        rules.append(
            events.Rule(
                scope,
                "EnrollmentRequestRule",
                event_bus=event_bus,
                description="chime-speaker-search: voice profile requests for this construct",
                event_pattern=events.EventPattern(
                    source=[request_source],
                    detail_type=list(ENROLLMENT_REQUEST_DETAIL_TYPES),
                    detail={"searchId": [search_id]},
                ),
            )
        )
    for rule in rules:
        rule.add_target(_QueueTarget(queue, message=request_envelope()))
    return rules


@jsii.implements(events.IRuleTarget)
class _QueueTarget:
    """Deliver a rule's events into an encrypted queue, allowed for that rule only (the request
    rules here and the pipeline health rule, ``monitoring.py``).

    Written out rather than ``aws_events_targets.SqsQueue``: for a KMS-encrypted queue that
    target drops the ``aws:SourceArn`` condition from the queue policy and grants EventBridge
    the key without any condition.
    """

    def __init__(self, queue: sqs.IQueue, *, message: events.RuleTargetInput | None = None) -> None:
        self._queue = queue
        self._message = message  # what to deliver instead of the whole event (the health rule's)

    def bind(self, rule: events_refs.IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        perimeter = NotificationQueues.of(self._queue)
        if perimeter is not None:  # its Deny statement lets EventBridge through for this rule only
            perimeter.allow_rule(rule.rule_ref.rule_arn)
        self._queue.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self._queue.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": rule.rule_ref.rule_arn}},
            )
        )
        if self._queue.encryption_master_key is not None:
            _allow_event_bridge(self._queue.encryption_master_key)
        return events.RuleTargetConfig(arn=self._queue.queue_arn, input=self._message)


_EVENTS_ALLOWED: weakref.WeakSet[kms.IKey] = weakref.WeakSet()


def _allow_event_bridge(key: kms.IKey) -> None:
    """Let EventBridge rules of this account and Region encrypt messages for the queue.

    The key policy cannot name the rule (the queue, and so the rule, depend on the key), so it
    is limited to this account's rules. An imported key's policy cannot be changed here: it must
    already allow ``kms:GenerateDataKey`` and ``kms:Decrypt`` for ``events.amazonaws.com``.
    """
    if key in _EVENTS_ALLOWED:
        return
    _EVENTS_ALLOWED.add(key)
    stack = Stack.of(key)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowEventBridgeRulesOfThisAccountAndRegion",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=["*"],
            conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {
                    "aws:SourceArn": stack.format_arn(service="events", resource="rule", resource_name="*")
                },
            },
        )
    )


def grant_send_requests(
    grantee: iam.IGrantable, *, event_bus: events.IEventBus, request_source: str, detail_types: Sequence[str]
) -> iam.Grant:
    """``events:PutEvents`` on ``event_bus`` only with ``request_source`` and ``detail_types``."""
    return iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["events:PutEvents"],
        resource_arns=[event_bus.event_bus_arn],
        # Plain StringEquals (a list means "any of"): an absent key fails it, where the
        # ForAllValues form would let a request without the key through.
        conditions={
            "StringEquals": {"events:source": request_source, "events:detail-type": list(detail_types)}
        },
    )
