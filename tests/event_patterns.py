"""An emulation of EventBridge's event pattern matching, for the patterns the library synthesizes.

It covers what those patterns use: exact values (a list of allowed values; an event value that is an
array matches when any of its items is allowed), nested objects, ``$or`` (a list of patterns, any of
which must match, beside the object's other keys, which all must), and a field inside an array of
objects (EventBridge flattens such arrays: the field matches when it matches in any of the objects).
Content filters (``prefix``, ``anything-but``...) are not emulated: they raise.

EventBridge's own matching is settled in an account by ``events:TestEventPattern`` (the integration
test's ``PipelineRuleMatchesElementFailure`` assertions).
"""

from __future__ import annotations

from typing import Any


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """Whether ``event`` (an object) matches ``pattern`` (an object of fields)."""
    for key, expected in pattern.items():
        if key == "$or":
            if not any(matches(alternative, event) for alternative in expected):
                return False
            continue
        if not isinstance(event, dict) or key not in event:
            return False
        if not _field_matches(expected, event[key]):
            return False
    return True


def _field_matches(expected: Any, value: Any) -> bool:
    if isinstance(expected, dict):
        if isinstance(value, list):  # an array of objects: any of them
            return any(isinstance(item, dict) and matches(expected, item) for item in value)
        return isinstance(value, dict) and matches(expected, value)
    if not isinstance(expected, list):
        raise TypeError(f"a pattern's leaf must be a list of values, got {expected!r}")
    for allowed in expected:
        if isinstance(allowed, dict):
            raise NotImplementedError(f"content filter {allowed!r} is not emulated")
    values = value if isinstance(value, list) else [value]
    return any(item in expected for item in values if not isinstance(item, dict | list))
