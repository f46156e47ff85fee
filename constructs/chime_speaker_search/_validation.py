"""Synth-time checks shared by the constructs: fail early, name the prop, the value and what is allowed."""

from __future__ import annotations

import enum
import re

from aws_cdk import Annotations, Duration, Stack, Token
from constructs import IConstruct

#: Regions where Amazon Chime SDK voice analytics (speaker search, voice tone) runs.
VOICE_ANALYTICS_REGIONS = ("us-east-1", "us-west-2")

#: A Voice Connector ID. The API documents only "1 to 128 characters, not blank"; every ID AWS shows
#: (API reference, CLI examples, the console's outbound host name ``<id>.voiceconnector.chime.aws``)
#: is 22 lowercase letters and digits. The streaming association handler
#: (lambda/custom_resources/streaming_association.py, ``VC_ID_PATTERN``) uses the same pattern; a
#: test checks that the two agree.
VOICE_CONNECTOR_ID_PATTERN = r"[a-z0-9]{22}"
#: How :data:`VOICE_CONNECTOR_ID_PATTERN` is shown in error messages.
VOICE_CONNECTOR_ID_FORM = (
    "a Voice Connector ID of 22 lowercase letters and digits, e.g. 'abcdef1ghij2klmno3pqr4'"
)


def is_token(value: object) -> bool:
    return isinstance(value, str) and Token.is_unresolved(value)


def check_pattern(prop: str, value: str | None, pattern: str, allowed: str) -> None:
    """Raise ``ValueError`` unless ``value`` fully matches ``pattern`` (tokens are skipped)."""
    if value is None or is_token(value):
        return
    if not isinstance(value, str):
        raise ValueError(f"{prop}: got {describe(value)}; expected {allowed}")
    if not re.fullmatch(pattern, value):
        raise ValueError(f"{prop}: {value!r} is not allowed; expected {allowed}")


def check_choice(prop: str, value: str | None, allowed: tuple[str, ...], *, optional: bool = True) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``allowed`` (tokens are skipped, and so is
    ``None`` where ``optional``)."""
    if (value is None and optional) or is_token(value) or value in allowed:
        return
    choices = ", ".join(map(repr, allowed))
    raise ValueError(f"{prop}: {shown(value)} is not allowed; allowed values are {choices}")


def check_not_alias(prop: str, key: object) -> None:
    """Raise ``ValueError`` if ``key`` is a KMS alias (created, imported, or an alias ARN).

    A ``kms.Alias`` is also a ``kms.IKey``, but grants on an imported alias are dropped without
    a word and the voice profile domain API refuses alias ARNs, so every key prop needs the key.
    """
    if key is None:
        return
    if hasattr(key, "alias_name"):
        raise ValueError(
            f"{prop}: {describe(key)} is a KMS alias; pass the key itself, e.g. "
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


def describe(value: object) -> str:
    """``value`` as a user would recognise it in an error message: a construct by its path, a string,
    a number or a collection by what it is, never by an internal class name (a jsii proxy's or the
    library's own)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    for kind in (list, tuple, dict, set, frozenset, bytes):
        if isinstance(value, kind):
            return f"a {kind.__name__}"
    path = construct_path(value)
    if path is not None:
        return f"the construct {path!r}" if path else "the app's root construct"
    return "an object that is not a construct"


def shown(value: object) -> str:
    """``value`` quoted as given when it is a plain value (``'Agent'``, ``3``), else :func:`describe`."""
    if value is None or isinstance(value, str | int | float):
        return repr(value)
    return describe(value)


def construct_path(value: object) -> str | None:
    """The construct path of ``value`` (a construct, or a jsii proxy of one), else None."""
    try:
        path = value.node.path  # type: ignore[attr-defined]
    except Exception:  # anything without a readable node is not a construct
        return None
    return path if isinstance(path, str) else None
