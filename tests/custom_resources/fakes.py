"""Stateful in-memory fakes of exactly the Chime SDK calls the custom resource handlers make.

They check every request against botocore's model of the service first (as a real client does before
it sends anything: unknown or missing parameters and wrong types raise ``ParamValidationError``), raise
botocore ``ClientError`` with the service's error codes, honour ``ClientRequestToken``
idempotency (same token and parameters -> the same resource, never a second one), record every call and
count the mutating ones, and can be told to fail a given operation (``fail`` / ``fail_always``) to test
error handling and rollbacks.
"""

from __future__ import annotations

import copy
import functools
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import botocore.session
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters

ACCOUNT = "111122223333"
REGION = "us-east-1"

HTTP_STATUS = {
    "BadRequestException": 400,
    "ResourceLimitExceededException": 400,
    "UnauthorizedClientException": 401,
    "AccessDeniedException": 403,
    "ForbiddenException": 403,
    "NotFoundException": 404,
    "ConflictException": 409,
    "ThrottledClientException": 429,
    "ServiceFailureException": 500,
    "ServiceUnavailableException": 503,
}


def client_error(code: str, operation: str, message: str | None = None) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message or f"fake {code}"},
            "ResponseMetadata": {"HTTPStatusCode": HTTP_STATUS[code]},
        },
        operation,
    )


@functools.cache
def _service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


class FakeService:
    """Call log, mutating-call counter and fault injection shared by the fakes."""

    SERVICE = ""  # the botocore service name whose model requests are validated against
    MUTATING: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.tags: dict[str, dict[str, str]] = {}  # by ARN; both services tag by resource ARN
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._faults: dict[str, list[str]] = {}
        self._always: dict[str, str] = {}
        self._hooks: list[tuple[str, list[int], Callable[[], None]]] = []

    def fail(self, operation: str, code: str, times: int = 1) -> None:
        """The next ``times`` calls of ``operation`` raise ``code`` (without any effect)."""
        self._faults.setdefault(operation, []).extend([code] * times)

    def fail_always(self, operation: str, code: str) -> None:
        self._always[operation] = code

    def heal(self) -> None:
        self._faults.clear()
        self._always.clear()

    def before(self, operation: str, move: Callable[[], None], *, nth: int = 1) -> None:
        """Run ``move`` (another writer's move) just before the ``nth`` next call of ``operation`` acts."""
        self._hooks.append((operation, [nth], move))

    def _enter(self, operation: str, kwargs: dict[str, Any]) -> None:
        # What boto3 does before sending: a request the service model rejects never reaches AWS.
        validate_parameters(kwargs, _service_model(self.SERVICE).operation_model(operation).input_shape)
        self.calls.append((operation, copy.deepcopy(kwargs)))
        for hook in list(self._hooks):
            name, countdown, move = hook
            if name == operation:
                countdown[0] -= 1
                if countdown[0] == 0:
                    self._hooks.remove(hook)
                    move()
        if self._faults.get(operation):
            raise client_error(self._faults[operation].pop(0), operation)
        if operation in self._always:
            raise client_error(self._always[operation], operation)

    def count(self, operation: str) -> int:
        return sum(1 for name, _ in self.calls if name == operation)

    @property
    def mutating_calls(self) -> list[str]:
        return [name for name, _ in self.calls if name in self.MUTATING]

    def reset_calls(self) -> None:
        self.calls.clear()

    # -- tags (TagResource / UntagResource work alike in both services) ----------------------------

    def _tagged(self, arn: str, operation: str) -> dict[str, str]:
        if arn not in self.tags:
            raise client_error("NotFoundException", operation, f"resource {arn} not found")
        return self.tags[arn]

    def tag_resource(self, **kwargs: Any) -> dict[str, Any]:
        op = "TagResource"
        self._enter(op, kwargs)
        self._tagged(kwargs["ResourceARN"], op).update(_tag_map(kwargs["Tags"]))
        return {}

    def untag_resource(self, **kwargs: Any) -> dict[str, Any]:
        op = "UntagResource"
        self._enter(op, kwargs)
        tags = self._tagged(kwargs["ResourceARN"], op)
        for key in kwargs["TagKeys"]:
            tags.pop(key, None)
        return {}

    def list_tags_for_resource(self, **kwargs: Any) -> dict[str, Any]:
        op = "ListTagsForResource"
        self._enter(op, kwargs)
        tags = self._tagged(kwargs["ResourceARN"], op)
        return {"Tags": [{"Key": key, "Value": value} for key, value in tags.items()]}


def _now() -> datetime:
    return datetime.now(UTC)


def _tag_map(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags or []}


class FakeChimeSdkVoice(FakeService):
    """chime-sdk-voice: voice profile domains, tags and Voice Connector streaming configurations."""

    SERVICE = "chime-sdk-voice"
    MUTATING = frozenset(
        {
            "CreateVoiceProfileDomain",
            "UpdateVoiceProfileDomain",
            "DeleteVoiceProfileDomain",
            "TagResource",
            "UntagResource",
            "PutVoiceConnectorStreamingConfiguration",
            "DeleteVoiceConnectorStreamingConfiguration",
        }
    )
    DOMAIN_LIMIT = 3  # the default quota
    TARGETS = ("EventBridge", "SNS", "SQS")

    def __init__(self) -> None:
        super().__init__()
        self.domains: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, tuple[dict[str, Any], str]] = {}
        self.connectors: set[str] = set()
        self.streaming: dict[str, dict[str, Any]] = {}
        # How an unconfigured connector answers GetVoiceConnectorStreaming...: "notfound" or "empty".
        self.unconfigured_style = "notfound"

    # -- voice profile domains --------------------------------------------------------------------------

    def _domain(self, domain_id: str, operation: str) -> dict[str, Any]:
        if domain_id not in self.domains:
            raise client_error("NotFoundException", operation, f"voice profile domain {domain_id} not found")
        return self.domains[domain_id]

    def _domain_view(self, domain: dict[str, Any]) -> dict[str, Any]:
        return {"VoiceProfileDomain": copy.deepcopy(domain)}

    def create_voice_profile_domain(self, **kwargs: Any) -> dict[str, Any]:
        op = "CreateVoiceProfileDomain"
        self._enter(op, kwargs)
        name = kwargs.get("Name")
        key_arn = kwargs.get("ServerSideEncryptionConfiguration", {}).get("KmsKeyArn")
        if not isinstance(name, str) or not re.fullmatch(r"[a-zA-Z0-9 _.-]{1,256}", name):
            raise client_error("BadRequestException", op, "invalid Name")
        if not isinstance(key_arn, str) or ":key/" not in key_arn:
            raise client_error("BadRequestException", op, "KmsKeyArn must be a key ARN")
        token = kwargs.get("ClientRequestToken")
        if token is not None:
            if not re.fullmatch(r"[-_a-zA-Z0-9]{2,64}", token):
                raise client_error("BadRequestException", op, "invalid ClientRequestToken")
            if token in self._tokens:
                params, domain_id = self._tokens[token]
                if params != kwargs:
                    raise client_error("ConflictException", op, "token reused with other parameters")
                return self._domain_view(self._domain(domain_id, op))
        if len(self.domains) >= self.DOMAIN_LIMIT:
            raise client_error("ResourceLimitExceededException", op)
        domain_id = str(uuid.uuid4())
        arn = f"arn:aws:chime:{REGION}:{ACCOUNT}:voice-profile-domain/{domain_id}"
        domain = {
            "VoiceProfileDomainId": domain_id,
            "VoiceProfileDomainArn": arn,
            "Name": name,
            "ServerSideEncryptionConfiguration": {"KmsKeyArn": key_arn},
            "CreatedTimestamp": _now(),
            "UpdatedTimestamp": _now(),
        }
        if kwargs.get("Description"):
            domain["Description"] = kwargs["Description"]
        self.domains[domain_id] = domain
        self.tags[arn] = _tag_map(kwargs.get("Tags"))
        if token is not None:
            self._tokens[token] = (copy.deepcopy(kwargs), domain_id)
        return self._domain_view(domain)

    def get_voice_profile_domain(self, **kwargs: Any) -> dict[str, Any]:
        op = "GetVoiceProfileDomain"
        self._enter(op, kwargs)
        return self._domain_view(self._domain(kwargs["VoiceProfileDomainId"], op))

    def update_voice_profile_domain(self, **kwargs: Any) -> dict[str, Any]:
        op = "UpdateVoiceProfileDomain"
        self._enter(op, kwargs)
        domain = self._domain(kwargs["VoiceProfileDomainId"], op)
        if "Name" in kwargs:
            domain["Name"] = kwargs["Name"]
        if "Description" in kwargs:
            if kwargs["Description"]:
                domain["Description"] = kwargs["Description"]
            else:
                domain.pop("Description", None)
        domain["UpdatedTimestamp"] = _now()
        return self._domain_view(domain)

    def delete_voice_profile_domain(self, **kwargs: Any) -> dict[str, Any]:
        op = "DeleteVoiceProfileDomain"
        self._enter(op, kwargs)
        domain = self._domain(kwargs["VoiceProfileDomainId"], op)
        del self.domains[domain["VoiceProfileDomainId"]]
        self.tags.pop(domain["VoiceProfileDomainArn"], None)
        return {}

    # -- Voice Connector streaming configuration ---------------------------------------------------------

    def _connector(self, vc_id: str, operation: str) -> None:
        if vc_id not in self.connectors:
            raise client_error("NotFoundException", operation, f"Voice Connector {vc_id} not found")

    def get_voice_connector_streaming_configuration(self, **kwargs: Any) -> dict[str, Any]:
        op = "GetVoiceConnectorStreamingConfiguration"
        self._enter(op, kwargs)
        vc_id = kwargs["VoiceConnectorId"]
        self._connector(vc_id, op)
        if vc_id not in self.streaming:
            if self.unconfigured_style == "empty":
                return {}
            raise client_error("NotFoundException", op, "streaming configuration not found")
        return {"StreamingConfiguration": copy.deepcopy(self.streaming[vc_id])}

    def put_voice_connector_streaming_configuration(self, **kwargs: Any) -> dict[str, Any]:
        op = "PutVoiceConnectorStreamingConfiguration"
        self._enter(op, kwargs)
        vc_id = kwargs["VoiceConnectorId"]
        self._connector(vc_id, op)
        config = copy.deepcopy(kwargs["StreamingConfiguration"])
        retention = config.get("DataRetentionInHours")
        if not isinstance(retention, int) or retention < 0 or not isinstance(config.get("Disabled"), bool):
            raise client_error("BadRequestException", op, "DataRetentionInHours and Disabled are required")
        if "StreamingNotificationTargets" in config:
            names = [target["NotificationTarget"] for target in config["StreamingNotificationTargets"]]
            if not 1 <= len(names) <= 3 or len(set(names)) != len(names) or set(names) - set(self.TARGETS):
                raise client_error("BadRequestException", op, "1-3 distinct notification targets")
        self.streaming[vc_id] = config
        return {"StreamingConfiguration": copy.deepcopy(config)}

    def delete_voice_connector_streaming_configuration(self, **kwargs: Any) -> dict[str, Any]:
        op = "DeleteVoiceConnectorStreamingConfiguration"
        self._enter(op, kwargs)
        vc_id = kwargs["VoiceConnectorId"]
        self._connector(vc_id, op)
        if vc_id not in self.streaming:
            raise client_error("NotFoundException", op, "streaming configuration not found")
        del self.streaming[vc_id]
        return {}


class FakeChimeSdkMediaPipelines(FakeService):
    """chime-sdk-media-pipelines: media insights pipeline configurations and their tags."""

    SERVICE = "chime-sdk-media-pipelines"
    MUTATING = frozenset(
        {
            "CreateMediaInsightsPipelineConfiguration",
            "UpdateMediaInsightsPipelineConfiguration",
            "DeleteMediaInsightsPipelineConfiguration",
            "TagResource",
            "UntagResource",
        }
    )

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.configurations: dict[str, dict[str, Any]] = {}  # by name
        self._tokens: dict[str, tuple[dict[str, Any], str]] = {}
        self.in_use: set[str] = set()  # names attached to a Voice Connector or used by calls
        # Names in use until a time of ``clock`` (a call in progress that ends then).
        self.in_use_until: dict[str, float] = {}
        self._clock = clock or (lambda: 0.0)
        # What a Delete of a configuration in use answers: AWS documents neither (400 or 409).
        self.in_use_answer = "ConflictException"

    @staticmethod
    def arn(name: str) -> str:
        return f"arn:aws:chime:{REGION}:{ACCOUNT}:media-insights-pipeline-configuration/{name}"

    def _configuration(self, identifier: str, operation: str) -> dict[str, Any]:
        name = identifier.rsplit("/", 1)[-1] if identifier.startswith("arn:") else identifier
        if name not in self.configurations:
            raise client_error("NotFoundException", operation, f"configuration {identifier} not found")
        return self.configurations[name]

    @staticmethod
    def _check_elements(elements: Any, operation: str) -> None:
        types = [element.get("Type") for element in elements or []]
        if not types or len(set(types)) != len(types):
            raise client_error("BadRequestException", operation, "each element type at most once")

    def create_media_insights_pipeline_configuration(self, **kwargs: Any) -> dict[str, Any]:
        op = "CreateMediaInsightsPipelineConfiguration"
        self._enter(op, kwargs)
        name = kwargs.get("MediaInsightsPipelineConfigurationName")
        if not isinstance(name, str) or not re.fullmatch(r"[0-9a-zA-Z._-]{2,64}", name):
            raise client_error("BadRequestException", op, "invalid name")
        if not kwargs.get("ResourceAccessRoleArn"):
            raise client_error("BadRequestException", op, "ResourceAccessRoleArn is required")
        self._check_elements(kwargs.get("Elements"), op)
        token = kwargs.get("ClientRequestToken")
        if token is not None and token in self._tokens:
            params, existing = self._tokens[token]
            if params != kwargs:
                raise client_error("BadRequestException", op, "token reused with other parameters")
            return {"MediaInsightsPipelineConfiguration": copy.deepcopy(self._configuration(existing, op))}
        if name in self.configurations:
            raise client_error("BadRequestException", op, f"configuration {name} already exists")
        configuration = {
            "MediaInsightsPipelineConfigurationName": name,
            "MediaInsightsPipelineConfigurationArn": self.arn(name),
            "ResourceAccessRoleArn": kwargs["ResourceAccessRoleArn"],
            "Elements": copy.deepcopy(kwargs["Elements"]),
            "MediaInsightsPipelineConfigurationId": str(uuid.uuid4()),
            "CreatedTimestamp": _now(),
            "UpdatedTimestamp": _now(),
        }
        self.configurations[name] = configuration
        self.tags[self.arn(name)] = _tag_map(kwargs.get("Tags"))
        if token is not None:
            self._tokens[token] = (copy.deepcopy(kwargs), name)
        return {"MediaInsightsPipelineConfiguration": copy.deepcopy(configuration)}

    def seed(self, name: str, *, tags: dict[str, str] | None = None, role: str | None = None) -> str:
        """A configuration made elsewhere (another stack, another tool, or this stack earlier); its ARN."""
        self.configurations[name] = {
            "MediaInsightsPipelineConfigurationName": name,
            "MediaInsightsPipelineConfigurationArn": self.arn(name),
            "ResourceAccessRoleArn": role or f"arn:aws:iam::{ACCOUNT}:role/{name}-access",
            "Elements": [
                {
                    "Type": "VoiceAnalyticsProcessor",
                    "VoiceAnalyticsProcessorConfiguration": {
                        "SpeakerSearchStatus": "Enabled",
                        "VoiceToneAnalysisStatus": "Disabled",
                    },
                }
            ],
            "MediaInsightsPipelineConfigurationId": str(uuid.uuid4()),
            "CreatedTimestamp": _now(),
            "UpdatedTimestamp": _now(),
        }
        self.tags[self.arn(name)] = dict(tags or {})
        return self.arn(name)

    def get_media_insights_pipeline_configuration(self, **kwargs: Any) -> dict[str, Any]:
        op = "GetMediaInsightsPipelineConfiguration"
        self._enter(op, kwargs)
        return {
            "MediaInsightsPipelineConfiguration": copy.deepcopy(self._configuration(kwargs["Identifier"], op))
        }

    def update_media_insights_pipeline_configuration(self, **kwargs: Any) -> dict[str, Any]:
        op = "UpdateMediaInsightsPipelineConfiguration"
        self._enter(op, kwargs)
        configuration = self._configuration(kwargs["Identifier"], op)
        self._check_elements(kwargs.get("Elements"), op)
        configuration["ResourceAccessRoleArn"] = kwargs["ResourceAccessRoleArn"]
        configuration["Elements"] = copy.deepcopy(kwargs["Elements"])
        configuration["UpdatedTimestamp"] = _now()
        return {"MediaInsightsPipelineConfiguration": copy.deepcopy(configuration)}

    def delete_media_insights_pipeline_configuration(self, **kwargs: Any) -> dict[str, Any]:
        op = "DeleteMediaInsightsPipelineConfiguration"
        self._enter(op, kwargs)
        configuration = self._configuration(kwargs["Identifier"], op)
        name = configuration["MediaInsightsPipelineConfigurationName"]
        if name in self.in_use or self._clock() < self.in_use_until.get(name, float("-inf")):
            raise client_error(self.in_use_answer, op, "configuration is in use")
        del self.configurations[name]
        self.tags.pop(self.arn(name), None)
        return {}


class OtherWriter:
    """Another tool's read-modify-write of one connector's streaming configuration, in two moves.

    ``read`` takes its copy, ``write`` stores ``change(copy)`` (None deletes the configuration), as a
    tool that does not re-read would: whatever was written in between is overwritten. Hook the moves
    between the handler's calls with ``FakeService.before``.
    """

    def __init__(
        self,
        voice: FakeChimeSdkVoice,
        vc_id: str,
        change: Callable[[dict[str, Any] | None], dict[str, Any] | None],
    ) -> None:
        self.voice = voice
        self.vc_id = vc_id
        self.change = change
        self._copy: dict[str, Any] | None = None
        self.writes = 0

    def read(self) -> None:
        self._copy = copy.deepcopy(self.voice.streaming.get(self.vc_id))

    def write(self) -> None:
        written = self.change(copy.deepcopy(self._copy))
        if written is None:
            self.voice.streaming.pop(self.vc_id, None)
        else:
            self.voice.streaming[self.vc_id] = written
        self.writes += 1

    def read_and_write(self) -> None:
        self.read()
        self.write()


# -- CloudFormation requests as the Provider framework hands them to on_event ----------------------------

STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/telephony/0f9a1c20-1111-2222-3333-444455556666"
OTHER_STACK_ID = (
    f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/billing/7e8d9c10-aaaa-bbbb-cccc-ddddeeeeffff"
)
#: The Voice Connectors the stack's template associates (the on_event function's VOICE_CONNECTOR_IDS).
SERVED_CONNECTORS = ("abcdef1ghij2klmno3pqr4", "zyxwvu9tsrq8ponml7kji6")
#: The tag every domain and configuration of the stack STACK_ID carries.
OWNER_TAG = "chime-speaker-search:stack"
OWNED = {OWNER_TAG: STACK_ID}
# What the CDK Provider framework reports as physical ID when a Create failed before returning one.
FAILED_CREATE_PHYSICAL_ID = "AWSCDK::CustomResourceProviderFramework::CREATE_FAILED"


def cfn_event(
    request_type: str,
    properties: dict[str, Any],
    *,
    physical_id: str | None = None,
    old_properties: dict[str, Any] | None = None,
    request_id: str | None = None,
    logical_id: str = "Resource",
) -> dict[str, Any]:
    """A custom resource request; ResourceProperties carry ServiceToken like the real ones do."""
    token = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:provider-framework-onEvent"
    event: dict[str, Any] = {
        "RequestType": request_type,
        "RequestId": request_id or str(uuid.uuid4()),
        "StackId": STACK_ID,
        "LogicalResourceId": logical_id,
        "ResourceType": "Custom::Test",
        "ResourceProperties": {"ServiceToken": token, **properties},
    }
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    if old_properties is not None:
        event["OldResourceProperties"] = {"ServiceToken": token, **old_properties}
    return event
