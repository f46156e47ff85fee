"""Who may ask the custom-resource function to act, and on what: its own stack, on its own resources.

Anyone with ``lambda:InvokeFunction`` on the on_event function or on the Provider framework function
(common in real accounts), or another stack that uses the same ServiceToken, can hand the function a
crafted CloudFormation request. A Lambda resource policy cannot refuse that, so every request is checked
here before any AWS call:

- ``check_stack``: the request's ``StackId`` must be the stack the function belongs to, which the
  construct puts into the function's environment as ``STACK_ID`` (``AWS::StackId``). A function
  without it refuses everything.
- ``ownership``: a StackId is not secret, so a resource is only acted on (updated, deleted, attached,
  detached) when it carries the owner tag ``chime-speaker-search:stack`` with this stack's ID. The tag
  is set when the resource is created (``owner_tags``); ``ListTagsForResource`` reads it. Something
  that no longer exists answers ``Owner.GONE``: already deleted, or a dangling reference.

The construct deploys this file beside index.py with ``cfn_custom_resource.py`` and ``aws_calls.py``;
standard library only (the tag reads go through ``cfn_custom_resource.call_api``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from aws_calls import Deadline
from cfn_custom_resource import ApiError, call_api

#: Tag on every voice profile domain and media insights pipeline configuration the library creates.
OWNER_TAG = "chime-speaker-search:stack"
#: Environment variable with the ID of the stack the function belongs to (set by the construct).
STACK_ID_ENV = "STACK_ID"
#: Environment variable listing (comma-separated) the Voice Connectors the stack's associations
#: serve, as the template being deployed names them (set by the construct).
SERVED_CONNECTORS_ENV = "VOICE_CONNECTOR_IDS"


class ForeignRequestError(RuntimeError):
    """A request this function must not serve: another stack's, or about a resource it does not own."""


class Owner(StrEnum):
    """Whose a resource is, by its owner tag."""

    OURS = "ours"  # tagged with this stack's ID
    FOREIGN = "foreign"  # tagged with another stack's ID
    UNTAGGED = "untagged"  # exists, without the owner tag
    GONE = "gone"  # does not exist (any more)


def own_stack_id() -> str:
    """This function's stack ID, from the environment; missing or empty refuses every request."""
    stack_id = os.environ.get(STACK_ID_ENV, "")
    if not stack_id.startswith("arn:"):
        raise ForeignRequestError(
            f"The function's environment has no {STACK_ID_ENV} (the ID of its stack), so it cannot tell its "
            "own stack's requests from others'; it refuses every request. The construct sets it."
        )
    return stack_id


def check_stack(event: Mapping[str, Any]) -> None:
    """Refuse a request that does not come from this function's own stack (no AWS call is made)."""
    own = own_stack_id()
    stack_id = event.get("StackId")
    if stack_id != own:
        raise ForeignRequestError(
            f"Refusing a request of stack {stack_id!r}: this function serves only the custom resources of "
            f"stack {own!r}."
        )


def check_served_connector(voice_connector_id: str) -> None:
    """Refuse to attach to a connector that no association of this stack's template names.

    Only attaching is checked: a Delete may concern a connector the template no longer names
    (CloudFormation deletes a removed association after it has updated this function), and a detach
    touches nothing but this stack's own configuration. Without the list, every attach is refused.
    """
    served = {c.strip() for c in os.environ.get(SERVED_CONNECTORS_ENV, "").split(",") if c.strip()}
    if voice_connector_id not in served:
        raise ForeignRequestError(
            f"Refusing to attach to Voice Connector {voice_connector_id!r}: no streaming association of "
            "this stack's template names it, so the request did not come from this stack's deployment."
        )


def owner_tags() -> list[dict[str, str]]:
    """The owner tag a new resource is created with."""
    return [{"Key": OWNER_TAG, "Value": own_stack_id()}]


def with_owner_tag(tags: Mapping[str, str]) -> dict[str, str]:
    """``tags`` with this stack's owner tag; a request naming another owner is refused.

    The owner tag is the handler's, not the template's: it is added whatever the properties say, and a
    rollback to properties without it never removes it.
    """
    own = own_stack_id()
    given = tags.get(OWNER_TAG)
    if given is not None and given != own:
        raise ForeignRequestError(
            f"Invalid property Tags: {OWNER_TAG}={given!r} names another stack; the handler sets this tag to "
            f"its own stack ({own!r})"
        )
    return {**tags, OWNER_TAG: own}


def owner_in(tags: Mapping[str, str]) -> Owner:
    """Whose a resource with these tags is (an existing resource)."""
    value = tags.get(OWNER_TAG)
    if value is None:
        return Owner.UNTAGGED
    return Owner.OURS if value == own_stack_id() else Owner.FOREIGN


def read_tags(client: Any, arn: str, resource: str, *, deadline: Deadline) -> dict[str, str] | None:
    """The resource's tags (``ListTagsForResource``), or None when it does not exist."""
    try:
        response = call_api(
            "ListTagsForResource", resource, client.list_tags_for_resource, deadline=deadline, ResourceARN=arn
        )
    except ApiError as exc:
        if exc.code == "NotFoundException":
            return None
        raise
    return {tag["Key"]: tag.get("Value", "") for tag in response.get("Tags") or []}


def ownership(client: Any, arn: str, resource: str, *, deadline: Deadline) -> Owner:
    """Whose the resource at ``arn`` is; ``Owner.GONE`` when it does not exist."""
    tags = read_tags(client, arn, resource, deadline=deadline)
    return Owner.GONE if tags is None else owner_in(tags)


def refuse_unless_ours(owner: Owner, action: str, resource: str) -> None:
    """Raise ForeignRequestError unless ``owner`` is this stack (GONE passes: the caller decides)."""
    if owner in (Owner.OURS, Owner.GONE):
        return
    whose = "another stack's owner tag" if owner is Owner.FOREIGN else f"no {OWNER_TAG} tag"
    raise ForeignRequestError(
        f"Refusing to {action} {resource}: it carries {whose}, so this stack did not create it. The "
        f"custom-resource function acts only on resources tagged {OWNER_TAG}={own_stack_id()!r}."
    )
