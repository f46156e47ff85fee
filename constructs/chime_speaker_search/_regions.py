"""Voice analytics runs in two Regions: refuse any other at synth, or at deploy when synth cannot know.

A stack with a concrete Region outside :data:`VOICE_ANALYTICS_REGIONS` fails at synth with a
``ValueError``. An environment-agnostic stack (``env`` without a Region) gets one CloudFormation rule
(``Rules`` section), however many of the library's constructs it holds: CloudFormation evaluates it
before creating anything and refuses the deploy in another Region with the rule's
``AssertDescription``.
"""

from __future__ import annotations

import weakref

from aws_cdk import Aws, CfnRule, Fn, Stack, Token
from constructs import IConstruct

from ._validation import VOICE_ANALYTICS_REGIONS

#: Logical ID of the stack's one Region rule (a stable part of the template).
REGION_RULE_ID = "ChimeSpeakerSearchRegionRule"

_REGIONS_TEXT = " and ".join(VOICE_ANALYTICS_REGIONS)


def require_voice_analytics_region(scope: IConstruct, construct: str) -> None:
    """Raise ``ValueError`` unless ``scope``'s stack is in a voice analytics Region; a stack whose
    Region is unknown at synth gets the Region rule instead."""
    stack = Stack.of(scope)
    region = stack.region
    if Token.is_unresolved(region):
        region_rule(stack)
        return
    if region not in VOICE_ANALYTICS_REGIONS:
        raise ValueError(
            f"{construct}: the stack {stack.node.path!r} is in Region {region!r}, but Amazon Chime SDK "
            f"voice analytics runs only in VOICE_ANALYTICS_REGIONS ({_quoted()}); deploy the stack to one "
            "of them, e.g. env=cdk.Environment(region='us-east-1')"
        )


def check_voice_analytics_region(prop: str, region: str | None) -> None:
    """Raise ``ValueError`` naming ``prop`` if ``region`` is concrete and not a voice analytics Region."""
    if region is None or Token.is_unresolved(region) or region in VOICE_ANALYTICS_REGIONS:
        return
    raise ValueError(
        f"{prop}: {region!r} is not allowed; Amazon Chime SDK voice analytics runs only in "
        f"VOICE_ANALYTICS_REGIONS ({_quoted()})"
    )


def require_stack_region(scope: IConstruct, region: str, why: str) -> None:
    """In a stack whose Region is unknown at synth, add an assertion to the Region rule that the stack
    is deployed in ``region`` (``why`` says what needs it). Nothing to do for a concrete Region or for
    an unknown ``region``: the callers compare concrete Regions themselves."""
    stack = Stack.of(scope)
    if not Token.is_unresolved(stack.region) or Token.is_unresolved(region):
        return
    rule = region_rule(stack)
    asserted = _ASSERTED.setdefault(rule, {})
    other = next((asserted[r] for r in asserted if r != region), None)
    if other is not None:
        raise ValueError(
            f"voice_connectors: {why} is in {region!r}, but {other} of this stack is in another Region; a "
            "stack's voice analytics resources serve the connectors of one Region (examples/two_regions.py "
            "has one stack per Region)"
        )
    if region not in asserted:
        asserted[region] = why
        rule.add_assertion(
            Fn.condition_equals(Aws.REGION, region),
            f"chime-speaker-search: {why} is in {region}, and the voice analytics resources that use it "
            f"must be in the same Region: deploy this stack to {region}.",
        )


def region_rule(stack: Stack) -> CfnRule:
    """The stack's Region rule, created on first use."""
    existing = stack.node.try_find_child(REGION_RULE_ID)
    if isinstance(existing, CfnRule):
        return existing
    if existing is not None:
        raise TypeError(f"construct ID {REGION_RULE_ID!r} is reserved by chime-speaker-search")
    rule = CfnRule(stack, REGION_RULE_ID)
    rule.add_assertion(
        Fn.condition_contains(list(VOICE_ANALYTICS_REGIONS), Aws.REGION),
        f"chime-speaker-search: Amazon Chime SDK voice analytics runs only in {_REGIONS_TEXT}. Deploy "
        "this stack to one of them (to have synth check it, give the stack an env with one of these "
        "Regions).",
    )
    return rule


#: The Region each rule asserts the stack is in (beyond its first assertion), with what needs it.
_ASSERTED: weakref.WeakKeyDictionary[CfnRule, dict[str, str]] = weakref.WeakKeyDictionary()


def _quoted() -> str:
    return ", ".join(map(repr, VOICE_ANALYTICS_REGIONS))
