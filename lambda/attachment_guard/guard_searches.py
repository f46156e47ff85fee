"""What the guard watches: the searches of its stack, read once per container from ``GUARD_SEARCHES``.

The construct (``chime_speaker_search.attachment_guard``) writes the variable when the app is
synthesized, from the stack's streaming associations. It is the only source of what the guard may
touch: an invocation's input only *selects* one of these searches by its ``searchId`` (anyone with
``lambda:InvokeFunction`` can invoke the function; at worst a check runs early).

``GUARD_SEARCHES`` is a JSON object with short keys (Lambda allows 4 KB of environment variables in all):
``prefix``, the ARN of this account's and Region's media insights pipeline configurations up to the
name (``arn:<partition>:chime:<region>:<account>:media-insights-pipeline-configuration/``), and
``searches``, one object per ``SpeakerSearch`` of the stack:

``id``      the search's ``searchId`` (published in every event, the ``SearchId`` metric dimension)
``bus``     name or ARN of the search's event bus (``Analytics Configuration Detached`` goes there)
``name``    the name of the search's media insights pipeline configuration (its ARN: ``prefix`` + name)
``hours``   the configured ``DataRetentionInHours`` (``streaming_data_retention``), an integer >= 1
``repair``  ``true``: re-attach a detached configuration; ``false``: report it only
``vcs``     the IDs of the Voice Connectors the search serves
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, NamedTuple

ENVIRONMENT_VARIABLE = "GUARD_SEARCHES"
#: A searchId is the construct's node address: 42 lowercase hex characters, "c8" first.
SEARCH_ID_PATTERN = re.compile(r"[0-9a-f]{42}")
VOICE_CONNECTOR_ID_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,128}")
CONFIGURATION_ARN_PATTERN = re.compile(
    r"arn:aws[a-z-]*:chime:[a-z0-9-]+:\d{12}:media-insights-pipeline-configuration/[0-9a-zA-Z._-]{2,64}"
)


class MisconfiguredError(Exception):
    """``GUARD_SEARCHES`` is missing or malformed: a deployment bug, nothing can be checked."""


class Search(NamedTuple):
    search_id: str
    event_bus: str
    configuration_arn: str
    retention_hours: int
    repair: bool
    voice_connector_ids: tuple[str, ...]


def parse(raw: str | None) -> dict[str, Search]:
    """The searches of ``raw`` (the variable's value) by searchId; ``MisconfiguredError`` if malformed."""
    if not raw:
        raise MisconfiguredError(f"{ENVIRONMENT_VARIABLE} is not set")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise MisconfiguredError(f"{ENVIRONMENT_VARIABLE} is not JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise MisconfiguredError(f"{ENVIRONMENT_VARIABLE} must be an object with prefix and searches")
    prefix, entries = value.get("prefix"), value.get("searches")
    if not isinstance(prefix, str) or not isinstance(entries, list):
        raise MisconfiguredError(f"{ENVIRONMENT_VARIABLE} must have a prefix string and a searches list")
    searches: dict[str, Search] = {}
    for index, entry in enumerate(entries):
        search = _search(index, entry, prefix)
        if search.search_id in searches:
            raise MisconfiguredError(f"{ENVIRONMENT_VARIABLE}.searches[{index}]: searchId listed twice")
        searches[search.search_id] = search
    return searches


def _search(index: int, entry: Any, prefix: str) -> Search:
    where = f"{ENVIRONMENT_VARIABLE}.searches[{index}]"
    if not isinstance(entry, dict):
        raise MisconfiguredError(f"{where} must be an object")
    search_id, bus, name = entry.get("id"), entry.get("bus"), entry.get("name")
    hours, repair, vcs = entry.get("hours"), entry.get("repair"), entry.get("vcs")
    if not isinstance(search_id, str) or not SEARCH_ID_PATTERN.fullmatch(search_id):
        raise MisconfiguredError(f"{where}.id must be a searchId (42 hex characters)")
    if not isinstance(bus, str) or not bus:
        raise MisconfiguredError(f"{where}.bus must be an event bus name or ARN")
    arn = prefix + name if isinstance(name, str) else None
    if arn is None or not CONFIGURATION_ARN_PATTERN.fullmatch(arn):
        raise MisconfiguredError(
            f"{where}.name must be a configuration name that, after prefix, makes a configuration ARN"
        )
    if isinstance(hours, str) and hours.isdigit():
        hours = int(hours)  # a deploy-time token for the retention arrives as a string
    if not isinstance(hours, int) or isinstance(hours, bool) or hours < 1:
        raise MisconfiguredError(f"{where}.hours must be an integer >= 1")
    if not isinstance(repair, bool):
        raise MisconfiguredError(f"{where}.repair must be true or false")
    if not isinstance(vcs, list) or not all(
        isinstance(vc, str) and VOICE_CONNECTOR_ID_PATTERN.fullmatch(vc) for vc in vcs
    ):
        raise MisconfiguredError(f"{where}.vcs must be a list of Voice Connector IDs")
    return Search(search_id, bus, arn, hours, repair, tuple(dict.fromkeys(vcs)))


_searches: dict[str, Search] | None = None


def get() -> dict[str, Search]:
    """The searches of this container (read on first use)."""
    global _searches  # noqa: PLW0603
    if _searches is None:
        _searches = parse(os.environ.get(ENVIRONMENT_VARIABLE))
    return _searches


def reset() -> None:
    """Forget the cached searches so the next :func:`get` rereads the environment (tests)."""
    global _searches  # noqa: PLW0603
    _searches = None
