"""Which leg of a Voice Connector call speaker search listens to."""

from __future__ import annotations

from enum import StrEnum

from aws_cdk import Token

from ._validation import shown


class CallLeg(StrEnum):
    """The call leg passed to ``StartSpeakerSearchTask`` as ``CallLeg``.

    ``CALLER`` is the party that placed the call (for inbound PSTN calls, the customer);
    ``CALLEE`` is the party that was called (for outbound calls, the customer).
    """

    CALLER = "Caller"
    CALLEE = "Callee"


def resolve_call_leg(call_leg: CallLeg | str) -> str:
    """Return the API string for ``call_leg``, accepting the enum or its exact value.

    An unresolved token (for example a ``CfnParameter`` value) passes through unchanged; the
    handler validates it again at run time.
    """
    if isinstance(call_leg, CallLeg):
        return call_leg.value
    if isinstance(call_leg, str):
        if Token.is_unresolved(call_leg):
            return call_leg
        for leg in CallLeg:
            if call_leg == leg.value:
                return leg.value
    allowed = ", ".join(repr(leg.value) for leg in CallLeg)
    raise ValueError(f"call_leg: {shown(call_leg)} is not a call leg; allowed values are {allowed}")
