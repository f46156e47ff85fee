"""Amazon Chime SDK Voice Connector: create one, or import an existing one by ID."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from aws_cdk import Annotations, Arn, ArnFormat, Names, Resource, Stack, Token
from aws_cdk import aws_chime as chime
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct, Node

from ._regions import check_voice_analytics_region, require_stack_region, require_voice_analytics_region
from ._validation import (
    VOICE_CONNECTOR_ID_FORM,
    VOICE_CONNECTOR_ID_PATTERN,
    check_length,
    check_pattern,
    describe,
    warn_if_other_region,
)

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
    """``value`` as a list of connectors, or an error naming ``prop``: a ``TypeError`` for the wrong
    type, a ``ValueError`` for a connector listed twice."""
    if _is_voice_connector(value):
        raise TypeError(
            f"{prop}: got a single Voice Connector ({describe(value)}); expected a list of IVoiceConnector, "
            f"e.g. {prop}=[voice_connector]"
        )
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise TypeError(
            f"{prop}: got {describe(value)}; expected a list of IVoiceConnector "
            "(VoiceConnector(...), VoiceConnector.from_voice_connector_id(...) or "
            "VoiceConnector.from_voice_connector_arn(...))"
        )
    connectors = list(value)
    seen: dict[str, int] = {}
    for index, item in enumerate(connectors):
        check_voice_connector(f"{prop}[{index}]", item)
        key = identity_key(item)
        if key in seen:
            raise ValueError(
                f"{prop}: {prop}[{seen[key]}] and {prop}[{index}] are the same Voice Connector "
                f"({connector_label(item)}); list each connector once"
            )
        seen[key] = index
    return connectors


def connector_label(voice_connector: IVoiceConnector) -> str:
    """The connector as a user named it: its ID when known at synth, and its construct path."""
    connector_id = voice_connector.voice_connector_id
    path = voice_connector.node.path
    if Token.is_unresolved(connector_id):
        return f"(construct {path!r})"
    return f"{connector_id!r} (construct {path!r})"


def connector_region(voice_connector: IVoiceConnector) -> str | None:
    """The Region the connector is in when it is not its stack's (an ``aws_region`` or an imported
    ARN's Region), else None."""
    region = getattr(voice_connector, "_connector_region", None)
    return region if isinstance(region, str) else None


def check_connector_region(scope: IConstruct, voice_connector: IVoiceConnector) -> None:
    """Raise ``ValueError`` if the connector is in another Region than ``scope``'s stack: the media
    insights configuration and the streaming association are created in the stack's Region and can
    serve only connectors there. In a stack whose Region is unknown at synth, the Region rule asserts
    the deploy Region instead."""
    region = connector_region(voice_connector)
    if region is None or Token.is_unresolved(region):
        return
    stack_region = Stack.of(scope).region
    if Token.is_unresolved(stack_region):
        require_stack_region(scope, region, f"Voice Connector {connector_label(voice_connector)}")
        return
    if region != stack_region:
        raise ValueError(
            f"voice_connectors: Voice Connector {connector_label(voice_connector)} is in {region!r}, but "
            f"this stack is in {stack_region!r}; a media insights configuration streams only connectors of "
            f"its own Region. Serve it from a stack in {region!r} (examples/two_regions.py has one stack "
            "per Region)."
        )


def already_associated_error(voice_connector: IVoiceConnector, owner: str, requester: str) -> ValueError:
    """The error for a connector that the configuration at ``owner`` already serves: say what can be
    shared and what cannot be had (the other call leg)."""
    label = connector_label(voice_connector)
    if owner == requester:
        return ValueError(
            f"voice_connectors: Voice Connector {label} is already served by this configuration "
            f"({owner!r}); add each connector once"
        )
    return ValueError(
        f"voice_connectors: Voice Connector {label} is already associated with the voice analytics "
        f"configuration at {owner!r}. A Voice Connector streams its calls to one media insights "
        "configuration, so one SpeakerSearch (or VoiceAnalyticsConfiguration) serves it, and a SpeakerSearch "
        "searches the one call leg of its call_leg. For more consumers of that leg's results, add targets "
        "to the existing SpeakerSearch (on_speaker_search_result) instead of a second construct. Searching "
        "the other leg of the same connector's calls as well is not possible: AWS documents one active "
        "speaker search task per call (transaction ID)."
    )


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
            f"{prop}: got {describe(value)}; expected an IVoiceConnector (VoiceConnector(...), "
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

    Encryption (TLS signalling and SRTP media) is required by default. Voice analytics runs only in
    :data:`~chime_speaker_search.VOICE_ANALYTICS_REGIONS` (us-east-1 and us-west-2): a connector in
    another Region raises ``ValueError`` at synth, and in a stack whose Region is unknown at synth a
    CloudFormation rule stops the deploy in another Region. The connector is created in the stack's
    Region unless ``aws_region`` names the other voice analytics Region; that adds a warning, and
    such a connector cannot be given to a :class:`SpeakerSearch` or
    :class:`VoiceAnalyticsConfiguration` of this stack (``ValueError``: their resources are in the
    stack's Region).

    :param voice_connector_name: Name shown in the console. Default: a name unique in the app.
    :param require_encryption: Require TLS and SRTP on calls. Default: ``True``. Turning it off
        adds a warning: calls would carry audio in the clear.
    :param aws_region: The connector's AWS Region (``AwsRegion``), ``"us-east-1"`` or
        ``"us-west-2"``. Default: the stack's Region.
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
        check_voice_analytics_region("aws_region", aws_region)
        if not aws_region:
            require_voice_analytics_region(self, "VoiceConnector")
        stack_region = Stack.of(self).region
        #: The connector's Region when it is not the stack's (read by the configurations it joins).
        self._connector_region = aws_region or None
        if aws_region and not Token.is_unresolved(stack_region) and aws_region != stack_region:
            Annotations.of(self).add_warning_v2(
                "chime-speaker-search:voiceConnectorRegion",
                f"aws_region {aws_region!r} differs from the stack's Region {stack_region!r}: the connector "
                "can be created, but not given to a SpeakerSearch or VoiceAnalyticsConfiguration of this "
                "stack, whose voice analytics resources are in the stack's Region.",
            )
        name = voice_connector_name or Names.unique_resource_name(self, max_length=64, separator="-")
        if not require_encryption:
            Annotations.of(self).add_warning_v2(
                "chime-speaker-search:unencryptedVoiceConnector",
                "require_encryption is False: SIP signalling and call audio may travel unencrypted.",
            )
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
        """Import an existing Voice Connector of this stack's account and Region by its ID.

        The ID is 22 lowercase letters and digits, as the Amazon Chime SDK console shows it (and as
        its outbound host name ``<id>.voiceconnector.chime.aws`` begins); anything else raises
        ``ValueError``. A deploy-time token is checked at deploy time instead.
        """
        check_pattern(
            "voice_connector_id", voice_connector_id, VOICE_CONNECTOR_ID_PATTERN, VOICE_CONNECTOR_ID_FORM
        )
        return _ImportedVoiceConnector(scope, id, voice_connector_id)

    @staticmethod
    def from_voice_connector_arn(scope: Construct, id: str, voice_connector_arn: str) -> IVoiceConnector:
        """Import an existing Voice Connector by its ARN.

        The ARN has the form ``arn:<partition>:chime:<region>:<account>:vc/<id>``, the ID as for
        :meth:`from_voice_connector_id`.

        Voice analytics resources are created in the stack's account and Region, so a connector
        of another Region adds a warning (it can still be used for grants), and giving it to a
        :class:`SpeakerSearch` or :class:`VoiceAnalyticsConfiguration` of this stack raises
        ``ValueError``.
        """
        if Token.is_unresolved(voice_connector_arn):
            parts = Arn.split(voice_connector_arn, ArnFormat.SLASH_RESOURCE_NAME)
            return _ImportedVoiceConnector(scope, id, parts.resource_name or "", voice_connector_arn)
        check_pattern(
            "voice_connector_arn",
            voice_connector_arn,
            rf"arn:aws[a-z-]*:chime:[a-z0-9-]+:\d{{12}}:vc/{VOICE_CONNECTOR_ID_PATTERN}",
            "arn:<partition>:chime:<region>:<account>:vc/<voice connector id>, the ID being "
            + VOICE_CONNECTOR_ID_FORM,
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
        #: The Region named by the ARN (None: the stack's, or unknown at synth).
        self._connector_region = None if arn is None or Token.is_unresolved(arn) else arn.split(":")[3]

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
