"""The notification queue, its dead-letter queue, and the resource policies that make them a perimeter.

Everything the handler acts on arrives through the notification queue: voice analytics
notifications from the media insights pipeline (sent as the configuration's resource access role),
requests and pipeline failures from the construct's own EventBridge rules. A queue policy that only
*allows* those senders denies nobody: any role of the account whose identity policy allows
``sqs:SendMessage`` (PowerUserAccess, most CI roles) could put a forged ``SpeakerSearchStatus`` or a
forged request on it. So the policies here *deny*, whatever identity policies say:

* ``sqs:SendMessage`` on the notification queue to every principal except the senders registered
  with :meth:`NotificationQueues.allow_sender` (the resource access role, and principals granted a
  redrive) and deliveries on behalf of the rules registered with :meth:`NotificationQueues.allow_rule`
  (``aws:SourceArn``, which only a service can set);
* ``sqs:ReceiveMessage``, ``sqs:DeleteMessage`` and ``sqs:ChangeMessageVisibility`` on it to every
  principal but the handler: nobody else can take notifications away, and nobody else obtains a
  receipt handle, which the handler checks to tell a genuine SQS record from a forged invocation;
* ``sqs:SendMessage`` on the dead-letter queue to every IAM principal but the handler (which sends a
  record that can never succeed there at once); SQS moves redelivered messages there itself.

The queues' key, when this stack created it, names the same principals: its policy denies the data
keys of the notification queue (``kms:EncryptionContext:aws:sqs:arn``) to every IAM principal but
the senders, and their decryption to every IAM principal but the handler. AWS services acting for
themselves (EventBridge delivering for a rule) are left to the key's Allow statements.
Principals appear in conditions (``aws:PrincipalArn``), never as ``Principal``: KMS checks that a
principal exists when a key policy is written, which a role created in the same deployment may not
yet do.
"""

from __future__ import annotations

import weakref

from aws_cdk import ArnFormat, Duration, Lazy, Names, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ._lazy import ListProducer

#: Actions that take a message out of the queue's hands, or yield a receipt handle.
CONSUME_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility")
#: What a principal needs to move the dead-letter queue's messages back (``StartMessageMoveTask``).
REDRIVE_ACTIONS = (
    "sqs:StartMessageMoveTask",
    "sqs:ListMessageMoveTasks",
    "sqs:CancelMessageMoveTask",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
)

_PERIMETERS: weakref.WeakKeyDictionary[sqs.IQueue, NotificationQueues] = weakref.WeakKeyDictionary()


class NotificationQueues:
    """The construct's notification queue and dead-letter queue, created in ``scope``.

    :param key: Encrypts both queues.
    :param visibility_timeout: The notification queue's visibility timeout.
    :param max_receive_count: Deliveries before SQS moves a message to the dead-letter queue.
    """

    def __init__(
        self,
        scope: Construct,
        *,
        key: kms.IKey,
        visibility_timeout: Duration,
        max_receive_count: int,
    ) -> None:
        # The dead-letter queue names its one source queue (RedriveAllowPolicy byQueue, as AWS
        # Control Tower's CT.SQS.PR.1 asks). That ARN must be known before the source queue
        # exists, which refers to the dead-letter queue: so the source queue gets a fixed name.
        queue_name = Names.unique_resource_name(scope, max_length=80, separator="-")
        queue_arn = Stack.of(scope).format_arn(
            service="sqs", resource=queue_name, arn_format=ArnFormat.NO_RESOURCE_NAME
        )
        self._queue_arn_by_name = queue_arn  # known before the queue exists: the key can name it
        self.dead_letter_queue = sqs.Queue(
            scope,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            redrive_allow_policy=sqs.RedriveAllowPolicy(
                redrive_permission=sqs.RedrivePermission.BY_QUEUE,
                source_queues=[sqs.Queue.from_queue_arn(scope, "NotificationQueueArn", queue_arn)],
            ),
        )
        self.queue = sqs.Queue(
            scope,
            "NotificationQueue",
            queue_name=queue_name,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            visibility_timeout=visibility_timeout,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=max_receive_count
            ),
        )
        self.key = key
        self._senders: list[str] = []
        self._rules: list[str] = []
        self._consumers: list[str] = []
        self.queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenySendExceptVoiceAnalyticsAndOwnRules",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["sqs:SendMessage"],
                resources=[self.queue.queue_arn],
                # Both must hold to deny: not a registered sender, and not on behalf of one of the
                # construct's rules. An IAM caller never has aws:SourceArn, so it is denied unless it
                # is a registered sender; EventBridge delivering for our rule is let through.
                conditions={
                    "ArnNotEquals": {
                        "aws:PrincipalArn": _lazy_list(self._senders),
                        "aws:SourceArn": _lazy_list(self._rules),
                    }
                },
            )
        )
        self.queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyConsumeExceptHandler",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=list(CONSUME_ACTIONS),
                resources=[self.queue.queue_arn],
                conditions={"ArnNotEquals": {"aws:PrincipalArn": _lazy_list(self._consumers)}},
            )
        )
        self.dead_letter_queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenySendExceptHandler",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["sqs:SendMessage"],
                resources=[self.dead_letter_queue.queue_arn],
                # AWS services are left to the queue's Allow statements (there are none), so that
                # SQS's own move of a redelivered message is never refused here [U: whether SQS's
                # dead-letter move is evaluated against this policy at all is not documented].
                conditions={
                    "ArnNotEquals": {"aws:PrincipalArn": _lazy_list(self._consumers)},
                    "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
                },
            )
        )
        self._protect_key()
        _PERIMETERS[self.queue] = self

    def _protect_key(self) -> None:
        """The key's half of the perimeter (only a key this stack created: others are not ours)."""
        if not isinstance(self.key, kms.Key) or Stack.of(self.key) is not Stack.of(self.queue):
            return
        # The queue's ARN from its fixed name: a reference to the queue would make the key depend on
        # the queue, which depends on the key.
        context = {"kms:EncryptionContext:aws:sqs:arn": self._queue_arn_by_name}
        for sid, actions, principals in (
            ("DenyNotificationDataKeysExceptSenders", ["kms:GenerateDataKey*"], self._senders),
            ("DenyNotificationDecryptExceptHandler", ["kms:Decrypt"], self._consumers),
        ):
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"{sid}{Names.unique_id(self.queue)[-8:]}",
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=actions,
                    resources=["*"],
                    conditions={
                        "StringEquals": context,
                        "ArnNotEquals": {"aws:PrincipalArn": _lazy_list(principals)},
                        "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
                    },
                )
            )

    @staticmethod
    def of(queue: sqs.IQueue) -> NotificationQueues | None:
        """The perimeter of ``queue`` if it is a notification queue of this library, else None."""
        return _PERIMETERS.get(queue)

    def allow_sender(self, principal_arn: str) -> None:
        """Let the principal with this ARN (a role's ARN for its sessions) send to the queue."""
        if principal_arn not in self._senders:
            self._senders.append(principal_arn)

    def allow_rule(self, rule_arn: str) -> None:
        """Let EventBridge deliver to the queue on behalf of this rule."""
        if rule_arn not in self._rules:
            self._rules.append(rule_arn)

    def allow_consumer(self, role: iam.IRole) -> None:
        """Let ``role`` receive from the queue and send to the dead-letter queue (the handler)."""
        if role.role_arn not in self._consumers:
            self._consumers.append(role.role_arn)

    def grant_redrive(self, grantee: iam.IGrantable, principal_arn: str) -> iam.Grant:
        """Let ``grantee`` move the dead-letter queue's messages back into the notification queue.

        Whoever may redrive may also put any message on the notification queue (SQS authorises a
        move as ``sqs:SendMessage`` by the caller), so ``principal_arn`` joins its senders.
        """
        self.allow_sender(principal_arn)
        grant = iam.Grant.add_to_principal(
            grantee=grantee, actions=list(REDRIVE_ACTIONS), resource_arns=[self.dead_letter_queue.queue_arn]
        )
        grant = grant.combine(
            iam.Grant.add_to_principal(
                grantee=grantee, actions=["sqs:SendMessage"], resource_arns=[self.queue.queue_arn]
            )
        )
        return grant.combine(self.key.grant(grantee, "kms:Decrypt", "kms:GenerateDataKey"))


def _lazy_list(values: list[str]) -> list[str]:
    """``values`` as they are when the app is synthesized (principals and rules registered later)."""
    return Lazy.list(ListProducer(lambda: values))
