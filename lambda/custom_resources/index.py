"""The one on_event handler of every chime-speaker-search custom resource.

The library deploys ONE aws-cdk-lib ``custom_resources.Provider`` per stack (one framework function,
one on_event function: this folder) for all its custom-resource types, instead of one per type: ten
connectors or searches, or three types, never multiply Lambda functions. ``on_event`` routes each
request on its ``ResourceType`` (the CloudFormation type, ``Custom::...``, which the Provider framework
passes through unchanged) to the module that owns that type; each module keeps its own properties,
lifecycle and documentation.

Time: the function's timeout (set by the construct) is below the Provider framework's 15 minutes, and
each request gets a :class:`Deadline` from ``context.get_remaining_time_in_millis()`` minus
``SAFETY_MARGIN_S``, narrowed to its type's ``BUDGET_S``. No API attempt starts that could not finish
before it, so a request fails with a clear message rather than being cut off by the timeout, and the
framework can still report that failure to CloudFormation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import media_insights_configuration
import streaming_association
import voice_profile_domain
from aws_calls import Deadline

#: Time kept back from the function's deadline: the framework must still get the answer back.
SAFETY_MARGIN_S = 10.0


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
    """Provider framework entry point: route the request to its type's handler."""
    resource_type = event.get("ResourceType")
    module = HANDLERS.get(resource_type) if isinstance(resource_type, str) else None
    if module is None:
        raise ValueError(f"Unsupported ResourceType {resource_type!r}: expected one of {sorted(HANDLERS)}")
    deadline = Deadline.from_context(
        context, safety_margin_s=SAFETY_MARGIN_S, no_context_budget_s=module.BUDGET_S
    ).sooner(module.BUDGET_S)
    return module.handle(event, module._client(), deadline)
