"""The one on_event handler of every chime-speaker-search custom resource.

The library deploys ONE aws-cdk-lib ``custom_resources.Provider`` per stack (one framework function,
one on_event function: this folder) for all its custom-resource types, instead of one per type: ten
connectors or searches, or three types, never multiply Lambda functions. ``on_event`` routes each
request on its ``ResourceType`` (the CloudFormation type, ``Custom::...``, which the Provider framework
passes through unchanged) to the module that owns that type; each module keeps its own properties,
lifecycle and documentation.

Who may ask: only the function's own stack. Every request is checked by ``cfn_ownership.check_stack``
(its ``StackId`` must be the ``STACK_ID`` the construct sets) before any AWS call; each type module
then checks that the physical ID names the resources of the request's properties and that what it
changes carries this stack's owner tag.

Asynchronous completion: the Provider is built with this same function as its ``is_complete_handler``.
The framework hands isComplete the on_event request merged with the on_event answer, so every answer
carries ``COMPLETION_KEY``: ``{}`` when the request is done (isComplete then answers complete at once,
without any AWS call), or what is still awaited (a media insights pipeline configuration that is still
in use when it is deleted). A request carrying the key is therefore an isComplete call, which the type
module's ``is_complete`` answers with ``{"IsComplete": bool}``; the framework calls it again every
query interval until it is complete, the module gives up, or the framework's total timeout ends.

Time: the function's timeout (set by the construct) is below the Provider framework's 15 minutes, and
each request gets a :class:`Deadline` from ``context.get_remaining_time_in_millis()`` minus
``SAFETY_MARGIN_S``, narrowed to its type's ``BUDGET_S`` (an isComplete call: ``CHECK_BUDGET_S``). No
API attempt starts that could not finish before it, so a request fails with a clear message rather
than being cut off by the timeout, and the framework can still report that failure to CloudFormation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import media_insights_configuration
import streaming_association
import voice_profile_domain
from aws_calls import Deadline
from cfn_custom_resource import COMPLETION_KEY
from cfn_ownership import check_stack

#: Time kept back from the function's deadline: the framework must still get the answer back.
SAFETY_MARGIN_S = 10.0
#: The longest one isComplete call may take (a type module's ``is_complete``: a few reads and one
#: attempt of the awaited operation, each with its throttling retries).
CHECK_BUDGET_S = 120.0


class _TypeModule(Protocol):
    RESOURCE_TYPE: str
    BUDGET_S: float
    _client: Callable[[], Any]

    def handle(self, event: Mapping[str, Any], client: Any, deadline: Deadline) -> dict[str, Any]: ...


#: Custom-resource type -> the module that handles it.
HANDLERS: dict[str, _TypeModule] = {
    module.RESOURCE_TYPE: module
    for module in (voice_profile_domain, media_insights_configuration, streaming_association)
}


def on_event(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Provider framework entry point (onEvent and isComplete): route the request to its type's handler."""
    resource_type = event.get("ResourceType")
    module = HANDLERS.get(resource_type) if isinstance(resource_type, str) else None
    if module is None:
        raise ValueError(f"Unsupported ResourceType {resource_type!r}: expected one of {sorted(HANDLERS)}")
    check_stack(event)
    if COMPLETION_KEY in event:
        return _is_complete(module, event, context)
    deadline = Deadline.from_context(
        context, safety_margin_s=SAFETY_MARGIN_S, no_context_budget_s=module.BUDGET_S
    ).sooner(module.BUDGET_S)
    result = module.handle(event, module._client(), deadline)
    return {**result, COMPLETION_KEY: result.get(COMPLETION_KEY) or {}}


def _is_complete(module: _TypeModule, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The framework's isComplete call: complete at once unless on_event said what it awaits."""
    awaited = event[COMPLETION_KEY]
    if not awaited:
        return {"IsComplete": True}
    check: Callable[[Mapping[str, Any], Any, Deadline], dict[str, Any]] | None = getattr(
        module, "is_complete", None
    )
    if check is None:
        raise ValueError(
            f"{module.RESOURCE_TYPE} requests are complete when on_event answers; got {awaited!r}"
        )
    deadline = Deadline.from_context(
        context, safety_margin_s=SAFETY_MARGIN_S, no_context_budget_s=CHECK_BUDGET_S
    ).sooner(CHECK_BUDGET_S)
    return check(event, module._client(), deadline)
