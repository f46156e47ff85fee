"""Evaluate synthesized IAM policies as AWS would, for the requests an attacker inside the account makes.

A small, deliberately strict model of IAM's policy evaluation logic for one account:

* an explicit ``Deny`` in any applicable policy (identity or resource) wins;
* otherwise a same-account request is allowed if the identity policy or the resource policy allows
  it; for KMS, the key policy must allow the principal itself or the account (``:root``), and in the
  latter case the identity policy must allow it too;
* condition operators: ``String*``, ``Arn*``, ``Bool`` and their ``IfExists`` forms, with IAM's rules
  for a key missing from the request (a negated operator is true, ``...IfExists`` is true, anything
  else is false) and for lists (any value matches; a negated operator matches none).

CloudFormation intrinsics are resolved to stable fake values (:class:`Resolver`), so a policy of the
template can be evaluated against ARNs the tests build from logical IDs. Anything the model does not
understand raises instead of guessing.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "111122223333"
REGION = "us-east-1"
PARTITION = "aws"

_ARN_PATTERNS = {
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{id}",
    "AWS::IAM::User": "arn:aws:iam::{account}:user/{id}",
    "AWS::Events::Rule": "arn:aws:events:{region}:{account}:rule/{id}",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{id}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{id}",
    "AWS::Kinesis::Stream": "arn:aws:kinesis:{region}:{account}:stream/{id}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{id}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{region}:{account}:log-group:{id}:*",
    "AWS::Events::Connection": "arn:aws:events:{region}:{account}:connection/{id}",
}


class Resolver:
    """Resolves the intrinsics of one template to fake but consistent values."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.resources: dict[str, Any] = template.get("Resources", {})

    def arn(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        kind = resource["Type"]
        props = resource.get("Properties", {})
        if kind == "AWS::SQS::Queue":
            name = props.get("QueueName", logical_id)
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.value(name)}"
        if kind == "AWS::Events::EventBus":
            return f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{self.value(props['Name'])}"
        pattern = _ARN_PATTERNS.get(kind)
        if pattern is None:
            raise NotImplementedError(f"no fake ARN for {kind} ({logical_id})")
        return pattern.format(account=ACCOUNT, region=REGION, id=logical_id)

    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        resource = self.resources[name]
        if resource["Type"] == "AWS::SQS::Queue":
            queue = self.arn(name).rsplit(":", 1)[1]
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{queue}"
        if resource["Type"] == "AWS::Events::EventBus":
            return str(self.value(resource["Properties"]["Name"]))
        if resource["Type"] == "AWS::CloudFormation::CustomResource" or resource["Type"].startswith(
            "Custom::"
        ):
            return f"physical-id-of-{name}"
        return name

    def value(self, node: Any) -> Any:
        """``node`` with every intrinsic replaced by its fake value."""
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                logical_id, attribute = argument
                if attribute == "Arn":
                    return self.arn(logical_id)
                return f"{attribute}-of-{logical_id}"  # a custom resource's returned data
            if key == "Fn::Join":
                separator, parts = argument
                return str(separator).join(str(self.value(part)) for part in parts)
            if key.startswith("Fn::"):
                raise NotImplementedError(key)
        return {key: self.value(value) for key, value in node.items()}


@dataclass
class Request:
    """One API request: who, what, on which resource, and the rest of its request context."""

    action: str
    resource: str
    #: ("AWS", arn) for an IAM role or user (its ARN as ``aws:PrincipalArn``), ("Service", name) for a
    #: service principal acting for itself.
    principal: tuple[str, str]
    context: dict[str, Any] = field(default_factory=dict)

    def context_value(self, key: str) -> Any:
        key = key.lower()
        full = {k.lower(): v for k, v in self.context.items()}
        kind, name = self.principal
        full.setdefault("aws:principalisawsservice", "true" if kind == "Service" else "false")
        if kind == "AWS":
            full.setdefault("aws:principalarn", name)
            full.setdefault("aws:principalaccount", ACCOUNT)
        return full.get(key)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: Any, request: Request) -> bool:
    if principal == "*":
        return True
    kind, name = request.principal
    for key, values in principal.items():
        for value in _as_list(values):
            # IAM documents {"AWS": "*"} as equivalent to "*": it is taken to match service principals
            # too, the stricter reading for a Deny that must let a service through by its conditions.
            if key == "AWS" and value == "*":
                return True
            if key == "AWS" and kind == "AWS" and value in (name, f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT):
                return True
            if key == "Service" and kind == "Service" and value == name:
                return True
    return False


def _matches_any(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, str(pattern)) for pattern in _as_list(patterns))


def _condition_holds(operator: str, key: str, expected: Any, request: Request) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    actual = request.context_value(key)
    negated = "Not" in base
    if actual is None:
        return if_exists or negated
    expected_values = [str(v) for v in _as_list(expected)]
    actual = str(actual)
    if base in ("StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals"):
        matched = actual in expected_values
    elif base in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        matched = any(fnmatch.fnmatchcase(actual, pattern) for pattern in expected_values)
    elif base == "Bool":
        matched = actual.lower() in [v.lower() for v in expected_values]
    else:
        raise NotImplementedError(f"condition operator {operator}")
    return not matched if negated else matched


def _statement_applies(statement: dict[str, Any], request: Request, *, resource_policy: bool) -> bool:
    if resource_policy and not _principal_matches(statement.get("Principal"), request):
        return False
    if not _matches_any(statement.get("Action", []), request.action):
        return False
    if not _matches_any(statement.get("Resource", "*"), request.resource):
        return False
    for operator, keys in statement.get("Condition", {}).items():
        for key, expected in keys.items():
            if not _condition_holds(operator, key, expected, request):
                return False
    return True


def decide(
    request: Request,
    *,
    identity: list[dict[str, Any]],
    resource: list[dict[str, Any]],
    key_policy: bool = False,
) -> str:
    """``"Allow"``, ``"ExplicitDeny"`` or ``"ImplicitDeny"`` for ``request`` (same account).

    ``identity``: the statements of the principal's identity policies (a service principal has
    none); ``resource``: the resource policy's statements; ``key_policy``: the resource is a KMS key,
    whose policy must allow the request itself or delegate to the account's IAM policies.
    """
    identity_hits = [s for s in identity if _statement_applies(s, request, resource_policy=False)]
    resource_hits = [s for s in resource if _statement_applies(s, request, resource_policy=True)]
    if any(s.get("Effect") == "Deny" for s in identity_hits + resource_hits):
        return "ExplicitDeny"
    identity_allows = any(s.get("Effect") == "Allow" for s in identity_hits)
    for statement in resource_hits:
        if statement.get("Effect") != "Allow":
            continue
        if not _names_account(statement.get("Principal")):
            return "Allow"  # the policy names this principal (or every principal) itself
        if identity_allows:
            return "Allow"  # the policy delegates to the account's identity policies
    if identity_allows and not key_policy:
        return "Allow"
    return "ImplicitDeny"


def _names_account(principal: Any) -> bool:
    """Whether a resource policy's ``Principal`` is the account itself (its root)."""
    if not isinstance(principal, dict):
        return False
    names = _as_list(principal.get("AWS", []))
    return any(name in (f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT) for name in names)


#: The identity policy of a principal allowed everything (PowerUserAccess and worse).
ALLOW_EVERYTHING = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]


def identity_statements(template: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    """The resolved statements of every identity policy attached to one role of ``template``."""
    resolver = Resolver(template)
    statements: list[dict[str, Any]] = []
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_logical_id} in props.get("Roles", []):
            statements += _as_list(resolver.value(props["PolicyDocument"])["Statement"])
    role = template["Resources"][role_logical_id]["Properties"]
    for policy in role.get("Policies", []):
        statements += _as_list(resolver.value(policy["PolicyDocument"])["Statement"])
    return statements
