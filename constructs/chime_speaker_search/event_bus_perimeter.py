"""The resource policy that makes an event bus the perimeter of results and requests.

Results steer what an agent or IVR believes about a caller, and requests create, change and erase
voiceprints. On a bus without a resource policy, any principal of the account whose identity
policy allows ``events:PutEvents`` there (PowerUserAccess, most CI roles) can forge either. So the
bus's policy *denies*, whatever identity policies say:

* ``events:PutEvents`` of the result source (``chime-speaker-search``) to every principal but the
  library's publishers (the handler, and the stack's scheduled functions);
* ``events:PutEvents`` of a request source to every principal but those granted that kind of
  request: consent (``grant_send_consent``) or voice profile and speaker requests
  (``grant_send_enrollment``); each kind is its own statement, so a consent-only IVR cannot erase
  a voiceprint even with broad identity permissions.

Only a bus created in the same stack can carry this policy: the library cannot change the policy of
an imported bus (the account's default bus above all, which other stacks share), and a policy in
another stack that names this stack's roles would make the two stacks depend on each other.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Sequence
from typing import Any

from aws_cdk import Annotations, Arn, ArnFormat, Lazy, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

from ._lazy import AnyProducer
from ._validation import construct_path
from .event_types import CONSENT_REQUEST_DETAIL_TYPE, ENROLLMENT_REQUEST_DETAIL_TYPES, RESULT_EVENT_SOURCE

#: The two kinds of request a principal can be granted, and the detail-types of each.
REQUEST_KINDS: dict[str, tuple[str, ...]] = {
    "consent": (CONSENT_REQUEST_DETAIL_TYPE,),
    "enrollment": ENROLLMENT_REQUEST_DETAIL_TYPES,
}

_PERIMETERS: weakref.WeakKeyDictionary[events.IEventBus, EventBusPerimeter] = weakref.WeakKeyDictionary()


class EventBusPerimeter:
    """The Deny statements on one bus created in this app, shared by every construct publishing there."""

    def __init__(self, bus: events.EventBus) -> None:
        self._bus = bus
        self._publishers: list[str] = []
        # request source -> kind -> principal ARNs allowed to send that kind
        self._senders: dict[str, dict[str, list[str]]] = {}
        self._statement("ChimeSpeakerSearchResultsPerimeter", "DenyForgedSpeakerSearchEvents", self._results)

    @classmethod
    def of(cls, bus: events.IEventBus, scope: Construct) -> EventBusPerimeter | None:
        """The perimeter of ``bus`` for constructs in ``scope``'s stack, or None where none can exist."""
        if not isinstance(bus, events.EventBus) or Stack.of(bus) is not Stack.of(scope):
            return None
        perimeter = _PERIMETERS.get(bus)
        if perimeter is None:
            perimeter = _PERIMETERS[bus] = cls(bus)
        return perimeter

    def add_publisher(self, role: iam.IRole) -> None:
        """Let ``role`` publish events with the result source (a function of the library)."""
        if role.role_arn not in self._publishers:
            self._publishers.append(role.role_arn)

    def protect_requests(self, request_source: str) -> None:
        """Deny requests with ``request_source`` to everyone not granted them (one statement per kind)."""
        if request_source in self._senders:
            return
        self._senders[request_source] = {kind: [] for kind in REQUEST_KINDS}
        suffix = hashlib.sha256(request_source.encode()).hexdigest()[:8]
        for kind in REQUEST_KINDS:
            self._statement(
                f"ChimeSpeakerSearch{kind.title()}Perimeter{suffix}",
                f"DenyUngranted{kind.title()}Requests-{suffix}",
                lambda kind=kind: self._requests(request_source, kind),
            )

    def add_request_sender(self, request_source: str, kind: str, principal_arn: str) -> None:
        """Let the principal with ``principal_arn`` send ``kind`` requests with ``request_source``."""
        self.protect_requests(request_source)
        senders = self._senders[request_source][kind]
        if principal_arn not in senders:
            senders.append(principal_arn)

    def _statement(self, id: str, sid: str, condition: Any) -> None:
        events.CfnEventBusPolicy(
            self._bus,
            id,
            event_bus_name=self._bus.event_bus_name,
            statement_id=sid,
            statement=Lazy.any(
                AnyProducer(
                    lambda: {
                        "Sid": sid,
                        "Effect": "Deny",
                        "Principal": {"AWS": "*"},
                        "Action": "events:PutEvents",
                        "Resource": self._bus.event_bus_arn,
                        "Condition": condition(),
                    }
                )
            ),
        )

    def _results(self) -> dict[str, Any]:
        return _deny_unless({"events:source": RESULT_EVENT_SOURCE}, self._publishers)

    def _requests(self, request_source: str, kind: str) -> dict[str, Any]:
        detail_types = list(REQUEST_KINDS[kind])
        return _deny_unless(
            {"events:source": request_source, "events:detail-type": detail_types},
            self._senders[request_source][kind],
        )


def _deny_unless(matches: dict[str, Any], principal_arns: Sequence[str]) -> dict[str, Any]:
    """The condition of a Deny that applies to events matching ``matches``, except from ``principal_arns``.

    With nobody excepted, the condition has no principal clause: everyone is denied (an empty list
    is not a valid condition value).
    """
    condition: dict[str, Any] = {"StringEquals": matches}
    if principal_arns:
        condition["ArnNotEquals"] = {"aws:PrincipalArn": list(principal_arns)}
    return condition


def principal_arn(grantee: iam.IGrantable, prop: str) -> str:
    """The ARN that ``aws:PrincipalArn`` carries for ``grantee``'s requests (a role's or a user's).

    An account, organisation or service principal has no such ARN: granting one would not narrow who
    may send, so it is refused with a ``TypeError`` naming ``prop``.
    """
    principal = grantee.grant_principal
    # Roles (and so functions, whose grant principal is their role) and users, by their ARN
    # attribute: reading it does not synthesize anything.
    for attribute in ("role_arn", "user_arn"):
        arn = getattr(principal, attribute, None)
        if isinstance(arn, str):
            return arn
    # An ARN principal naming one role or user (AccountPrincipal is an ArnPrincipal too: refused).
    if isinstance(principal, iam.ArnPrincipal) and not isinstance(principal, iam.AccountPrincipal):
        arn = principal.arn
        if not _is_account(arn):
            return arn
    path = construct_path(grantee)
    grantee_text = "the grantee" if path is None else f"the grantee (construct {path!r})"
    raise TypeError(
        f"{prop}: {grantee_text} is {_principal_kind(principal)}, not a role or user; the bus policy can "
        "only except a role or user by its ARN. Grant a role (a Lambda function's grant_principal is its "
        "role) or a user."
    )


def _principal_kind(principal: iam.IPrincipal) -> str:
    """What kind of principal ``principal`` is, in the terms of a policy (never a class name)."""
    if isinstance(principal, iam.AccountPrincipal):
        return "an account principal"
    try:
        kinds = sorted(principal.policy_fragment.principal_json)
    except Exception:  # a principal that renders no fragment: say nothing more
        return "another kind of principal"
    names = {
        "AWS": "an AWS principal",
        "Service": "a service principal",
        "Federated": "a federated principal",
    }
    return " and ".join(names.get(kind, f"a {kind} principal") for kind in kinds) or "an empty principal"


def _is_account(arn: Any) -> bool:
    return isinstance(arn, str) and not Token.is_unresolved(arn) and (arn.endswith(":root") or arn.isdigit())


def is_default_bus(bus: events.IEventBus) -> bool:
    """Whether ``bus`` is the account's default bus (by name or ARN, when known at synth time)."""
    name = bus.event_bus_name
    if not Token.is_unresolved(name) and name == "default":
        return True
    arn = bus.event_bus_arn
    return not Token.is_unresolved(arn) and arn.endswith(":event-bus/default")


def check_same_account(scope: IConstruct, prop: str, bus: events.IEventBus) -> None:
    """A bus of another account cannot carry the construct's rules: fail at synth, not at deploy."""
    arn = bus.event_bus_arn
    stack_account = Stack.of(scope).account
    if Token.is_unresolved(arn) or Token.is_unresolved(stack_account):
        return
    bus_account = Arn.split(arn, ArnFormat.SLASH_RESOURCE_NAME).account
    if bus_account and bus_account != stack_account:
        raise ValueError(
            f"{prop}: {arn!r} is in account {bus_account}, not this stack's {stack_account}; the construct "
            "creates its rules on that bus, which CloudFormation cannot do in another account. Use a bus "
            "of this account and forward results with a rule targeting the other account's bus "
            "(aws_events_targets.EventBus)."
        )


def warn_without_perimeter(scope: IConstruct, bus: events.IEventBus, *, request_source: str) -> None:
    """Say what can be forged on a bus the library cannot protect (with consent or enrollment on)."""
    if is_default_bus(bus):
        where = "the account's default bus, whose policy other stacks share"
    else:
        where = "a bus not created in this stack, whose policy this construct cannot change"
    Annotations.of(scope).add_warning_v2(
        "chime-speaker-search:busWithoutPerimeter",
        f"event_bus is {where}: any principal with events:PutEvents on it can forge Speaker Search Result "
        f"events (source {RESULT_EVENT_SOURCE!r}) and every request (source {request_source!r}: consent, "
        "enroll, update and delete of voice profiles). Leave event_bus unset to use this construct's own "
        "bus, whose policy denies both to everyone not granted them.",
    )
