"""Amazon Chime SDK Voice Connector: create one, or import an existing one by ID."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from aws_cdk import Annotations, Arn, ArnFormat, Names, Resource, Stack, Token
from aws_cdk import aws_chime as chime
from aws_cdk import aws_iam as iam
from constructs import Construct, Node

from ._validation import check_length, check_pattern, warn_if_other_region, warn_if_unsupported_region

#: The voice API actions that start, read and stop a speaker search task on a connector's call.
SPEAKER_SEARCH_ACTIONS = (
    "chime:StartSpeakerSearchTask",
    "chime:GetSpeakerSearchTask",
    "chime:StopSpeakerSearchTask",
)


# Voice analytics Regions where CloudFormation has no AWS::Chime::VoiceConnector type.
_NO_VOICE_CONNECTOR_TYPE = ("us-west-2",)


@runtime_checkable
class IVoiceConnector(Protocol):
    """A Voice Connector, created in this app or imported."""

    @property
    def node(self) -> Node: ...

    @property
    def voice_connector_id(self) -> str:
        """The Voice Connector ID, for example ``abcdef1ghij2klmno3pqr4``."""
        ...

    @property
    def voice_connector_arn(self) -> str:
        """``arn:<partition>:chime:<region>:<account>:vc/<id>``."""
        ...

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant: ...

    def grant_speaker_search(self, grantee: iam.IGrantable) -> iam.Grant: ...


def identity_key(voice_connector: IVoiceConnector) -> str:
    """A key that is equal for two handles of the same connector within one app.

    Imported connectors with a concrete ID compare by account, Region and ID; anything else by
    construct path (including implementations of ``IVoiceConnector`` outside this library).
    """
    key = getattr(voice_connector, "_identity_key", None)
    return key if isinstance(key, str) else f"path:{voice_connector.node.path}"


def voice_connector_list(prop: str, value: object) -> list[IVoiceConnector]:
    """``value`` as a list of connectors, or a ``TypeError`` naming ``prop`` and the expected type."""
    if _is_voice_connector(value):
        raise TypeError(
            f"{prop}: got a single {type(value).__name__}; expected a list of IVoiceConnector, "
            f"e.g. {prop}=[voice_connector]"
        )
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(
            f"{prop}: got {type(value).__name__} {value!r}; expected a list of IVoiceConnector "
            "(VoiceConnector(...), VoiceConnector.from_voice_connector_id(...) or "
            "VoiceConnector.from_voice_connector_arn(...))"
        )
    connectors = list(value)
    for index, item in enumerate(connectors):
        check_voice_connector(f"{prop}[{index}]", item)
    return connectors


def _is_voice_connector(value: object) -> bool:
    # The library's own connectors are recognized by class first: on Python 3.11 the Protocol
    # check reads every member, and reading ``node`` of a construct is a call into Node.js.
    return isinstance(value, (_VoiceConnectorBase, IVoiceConnector))


def check_voice_connector(prop: str, value: object) -> None:
    """Raise a ``TypeError`` naming ``prop`` unless ``value`` is an ``IVoiceConnector``."""
    if isinstance(value, str):
        raise TypeError(
            f"{prop}: {value!r} is a string; expected an IVoiceConnector: import the connector with "
            f"VoiceConnector.from_voice_connector_id(scope, id, {value!r}) (or from_voice_connector_arn)"
        )
    if not _is_voice_connector(value):
        raise TypeError(
            f"{prop}: got {type(value).__name__}; expected an IVoiceConnector (VoiceConnector(...), "
            "VoiceConnector.from_voice_connector_id(...) or VoiceConnector.from_voice_connector_arn(...))"
        )


class _VoiceConnectorBase(Resource):
    voice_connector_id: str
    voice_connector_arn: str

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """Allow ``grantee`` the given ``chime:`` actions on this connector only."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=list(actions), resource_arns=[self.voice_connector_arn]
        )

    def grant_speaker_search(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to start, read and stop speaker search tasks on this connector's calls."""
        return self.grant(grantee, *SPEAKER_SEARCH_ACTIONS)


class VoiceConnector(_VoiceConnectorBase):
    """An Amazon Chime SDK Voice Connector (``AWS::Chime::VoiceConnector``).

    Encryption (TLS signalling and SRTP media) is required by default. Voice analytics runs
    only in us-east-1 and us-west-2; the connector is created in the stack's Region unless
    ``aws_region`` names another (which warns: the library's other resources must be in its Region).

    :param voice_connector_name: Name shown in the console. Default: a name unique in the app.
    :param require_encryption: Require TLS and SRTP on calls. Default: ``True``. Turning it off
        adds a warning: calls would carry audio in the clear.
    :param aws_region: The connector's AWS Region (``AwsRegion``). Default: the stack's Region.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        voice_connector_name: str | None = None,
        require_encryption: bool = True,
        aws_region: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        check_length("voice_connector_name", voice_connector_name, 1, 256)
        check_pattern("aws_region", aws_region, r"[a-z]{2}(-[a-z]+)+-\d", "a Region name such as 'us-east-1'")
        stack_region = Stack.of(self).region
        if aws_region and not Token.is_unresolved(stack_region) and aws_region != stack_region:
            Annotations.of(self).add_warning_v2(
                "chime-speaker-search:voiceConnectorRegion",
                f"aws_region {aws_region!r} differs from the stack's Region {stack_region!r}; the library's "
                "voice analytics resources are created in the stack's Region and must be in the same one.",
            )
        name = voice_connector_name or Names.unique_resource_name(self, max_length=64, separator="-")
        if not require_encryption:
            Annotations.of(self).add_warning_v2(
                "chime-speaker-search:unencryptedVoiceConnector",
                "require_encryption is False: SIP signalling and call audio may travel unencrypted.",
            )
        warn_if_unsupported_region(self)
        region = Stack.of(self).region
        if not Token.is_unresolved(region) and region in _NO_VOICE_CONNECTOR_TYPE:
            Annotations.of(self).add_warning_v2(
                "chime-speaker-search:noVoiceConnectorType",
                f"CloudFormation's registry (as shipped with cfn-lint) has no AWS::Chime::VoiceConnector "
                f"in {region}; create the connector elsewhere (console or API) and import it with "
                "VoiceConnector.from_voice_connector_id.",
            )
        self._resource = chime.CfnVoiceConnector(
            self,
            "Resource",
            name=name,
            require_encryption=require_encryption,
            aws_region=aws_region or Stack.of(self).region,
        )
        self.voice_connector_id = self._resource.attr_voice_connector_id
        self.voice_connector_arn = self._resource.attr_voice_connector_arn

    @staticmethod
    def from_voice_connector_id(scope: Construct, id: str, voice_connector_id: str) -> IVoiceConnector:
        """Import an existing Voice Connector of this stack's account and Region by its ID."""
        check_pattern(
            "voice_connector_id",
            voice_connector_id,
            r"[a-zA-Z0-9]{1,128}",
            "a Voice Connector ID of 1 to 128 letters and digits, e.g. 'abcdef1ghij2klmno3pqr4'",
        )
        return _ImportedVoiceConnector(scope, id, voice_connector_id)

    @staticmethod
    def from_voice_connector_arn(scope: Construct, id: str, voice_connector_arn: str) -> IVoiceConnector:
        """Import an existing Voice Connector by its ARN.

        The ARN has the form ``arn:<partition>:chime:<region>:<account>:vc/<id>``.

        Voice analytics resources are created in the stack's account and Region, so a connector
        of another Region adds a warning (it can still be used for grants).
        """
        if Token.is_unresolved(voice_connector_arn):
            parts = Arn.split(voice_connector_arn, ArnFormat.SLASH_RESOURCE_NAME)
            return _ImportedVoiceConnector(scope, id, parts.resource_name or "", voice_connector_arn)
        check_pattern(
            "voice_connector_arn",
            voice_connector_arn,
            r"arn:aws[a-z-]*:chime:[a-z0-9-]+:\d{12}:vc/[a-zA-Z0-9]{1,128}",
            "arn:<partition>:chime:<region>:<account>:vc/<voice connector id>",
        )
        connector_id = voice_connector_arn.rsplit("/", 1)[1]
        imported = _ImportedVoiceConnector(scope, id, connector_id, voice_connector_arn)
        warn_if_other_region(imported, "voice_connector_arn", voice_connector_arn.split(":")[3])
        return imported


class _ImportedVoiceConnector(_VoiceConnectorBase):
    def __init__(self, scope: Construct, id: str, voice_connector_id: str, arn: str | None = None) -> None:
        super().__init__(scope, id, environment_from_arn=arn)
        self.voice_connector_id = voice_connector_id
        self.voice_connector_arn = arn or Stack.of(self).format_arn(
            service="chime",
            resource="vc",
            resource_name=voice_connector_id,
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        self._from_arn = arn is not None

    @property
    def _identity_key(self) -> str | None:
        if Token.is_unresolved(self.voice_connector_id):
            return None
        if self._from_arn:
            # The ARN names Region, account and ID: equal for two handles of one connector.
            _, _, _, region, account, _ = self.voice_connector_arn.split(":", 5)
            return f"id:{account}:{region}:{self.voice_connector_id}"
        stack = Stack.of(self)
        return f"id:{stack.account}:{stack.region}:{self.voice_connector_id}"
