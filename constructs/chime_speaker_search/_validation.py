"""Synth-time checks shared by the constructs: fail early, name the prop, the value and what is allowed."""

from __future__ import annotations

import re

from aws_cdk import Annotations, Duration, Stack, Token
from constructs import IConstruct

#: Regions where Amazon Chime SDK voice analytics (speaker search, voice tone) runs.
VOICE_ANALYTICS_REGIONS = ("us-east-1", "us-west-2")


def is_token(value: object) -> bool:
    return isinstance(value, str) and Token.is_unresolved(value)


def check_pattern(prop: str, value: str | None, pattern: str, allowed: str) -> None:
    """Raise ``ValueError`` unless ``value`` fully matches ``pattern`` (tokens are skipped)."""
    if value is None or is_token(value):
        return
    if not re.fullmatch(pattern, value):
        raise ValueError(f"{prop}: {value!r} is not allowed; expected {allowed}")


def check_choice(prop: str, value: str | None, allowed: tuple[str, ...], *, optional: bool = True) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``allowed`` (tokens are skipped, and so is
    ``None`` where ``optional``)."""
    if (value is None and optional) or is_token(value) or value in allowed:
        return
    raise ValueError(f"{prop}: {value!r} is not allowed; allowed values are {', '.join(map(repr, allowed))}")


def check_not_alias(prop: str, key: object) -> None:
    """Raise ``ValueError`` if ``key`` is a KMS alias (created, imported, or an alias ARN).

    A ``kms.Alias`` is also a ``kms.IKey``, but grants on an imported alias are dropped without
    a word and the voice profile domain API refuses alias ARNs, so every key prop needs the key.
    """
    if key is None:
        return
    if hasattr(key, "alias_name"):
        raise ValueError(
            f"{prop}: a KMS alias ({type(key).__name__}) was given; pass the key itself, e.g. "
            "kms.Key.from_key_arn(scope, id, 'arn:aws:kms:<region>:<account>:key/<key id>')"
        )
    arn = getattr(key, "key_arn", None)
    if isinstance(arn, str) and not Token.is_unresolved(arn) and ":alias/" in arn:
        raise ValueError(f"{prop}: {arn!r} is an alias ARN; pass the key ARN (arn:...:key/<key id>)")


def check_length(prop: str, value: str | None, minimum: int, maximum: int) -> None:
    if value is None or is_token(value):
        return
    if not minimum <= len(value) <= maximum:
        raise ValueError(f"{prop}: {value!r} has {len(value)} characters; expected {minimum} to {maximum}")


def check_whole_hours(prop: str, value: Duration, minimum: int, maximum: int) -> int | str:
    """Return the duration in whole hours, or its token when unresolved."""
    if value.is_unresolved():
        return Token.as_string(value.to_hours())
    hours = value.to_seconds() / 3600
    if hours != int(hours):
        raise ValueError(
            f"{prop}: {value.to_human_string()} is not a whole number of hours; expected {minimum} to "
            f"{maximum} hours"
        )
    if not minimum <= hours <= maximum:
        raise ValueError(
            f"{prop}: {value.to_human_string()} is out of range; expected {minimum} to {maximum} hours"
        )
    return int(hours)


def warn_if_unsupported_region(scope: IConstruct) -> None:
    """Voice analytics runs only in two Regions: say so at synth time when the Region is known."""
    region = Stack.of(scope).region
    if Token.is_unresolved(region):
        return
    if region not in VOICE_ANALYTICS_REGIONS:
        Annotations.of(scope).add_warning_v2(
            "chime-speaker-search:unsupportedRegion",
            f"Amazon Chime SDK voice analytics runs only in {', '.join(VOICE_ANALYTICS_REGIONS)}; "
            f"this stack is in {region}, where speaker search tasks cannot start.",
        )


def warn_if_other_region(scope: IConstruct, prop: str, region: str) -> None:
    """An imported resource of another Region cannot serve this stack's voice analytics: say so."""
    stack_region = Stack.of(scope).region
    if Token.is_unresolved(stack_region) or Token.is_unresolved(region) or region == stack_region:
        return
    Annotations.of(scope).add_warning_v2(
        "chime-speaker-search:otherRegion",
        f"{prop} is in {region}, but this stack is in {stack_region}: the library creates its voice "
        "analytics resources in the stack's Region, where this resource cannot be used.",
    )
