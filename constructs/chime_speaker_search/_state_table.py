"""The runtime's state table: which calls were started, consent per call, enrollment progress.

One table per :class:`SpeakerSearch` serves three things (issue 9 item 1, issue 10):

* per task start (key: the start's idempotency token, a sha256 hex digest): "attempted" before
  ``Start*Task`` is called and "started" with the task ID after, so a redelivery or a
  ``ResourceLimitExceededException`` can be told apart from the Region's active-task limit;
* per call (key: a digest of connector and transaction IDs): the latest consent decision and
  whether ``AnalyticsReady`` has arrived, so either order of consent and notification works;
* per enrollment (key: the speaker search task ID): the progress of ``CreateVoiceProfile``,
  which takes no idempotency token, so one task gives at most one voice profile.

Keys are digests or opaque AWS IDs, values are IDs, statuses and timestamps: no phone numbers,
names or SIP headers. Every item carries ``expiresAt`` (TTL), at most about a day after the call
or request, so nothing outlives the call's usefulness. The table is on-demand (traffic follows
call volume, with long idle periods) and encrypted with the stack's customer-managed key.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

#: Partition key attribute of every item.
PARTITION_KEY = "pk"
#: TTL attribute (epoch seconds) of every item.
TTL_ATTRIBUTE = "expiresAt"


def state_table(scope: Construct, id: str, *, key: kms.IKey) -> dynamodb.Table:
    """The state table: on-demand, customer-managed encryption, TTL on ``expiresAt``."""
    return dynamodb.Table(
        scope,
        id,
        partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryption_key=key,
        time_to_live_attribute=TTL_ATTRIBUTE,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        # Short-lived bookkeeping (TTL about a day) without personal data: nothing worth keeping
        # after the stack is gone, and a retained table would block a redeploy under the same name.
        removal_policy=RemovalPolicy.DESTROY,
    )
