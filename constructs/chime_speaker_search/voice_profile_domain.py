"""Voice profile domain: the encrypted store of voiceprints that speaker search matches against."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from aws_cdk import Annotations, Arn, ArnFormat, Names, RemovalPolicy, Resource, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct, Node

from ._shared import OWNER_TAG, VOICE_PROFILE_DOMAIN, SharedProvider, deny_grants_except_for_aws_services
from ._validation import check_length, check_not_alias, check_pattern, warn_if_other_region

_NAME_PATTERN = r"[a-zA-Z0-9 _.-]{1,256}"
#: The removal policies a domain accepts (and gives the key it creates).
_REMOVAL_POLICIES = (RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE, RemovalPolicy.RETAIN, RemovalPolicy.DESTROY)


@runtime_checkable
class IVoiceProfileDomain(Protocol):
    """A voice profile domain, created in this app or imported."""

    @property
    def node(self) -> Node: ...

    @property
    def voice_profile_domain_id(self) -> str:
        """The domain ID passed to ``StartSpeakerSearchTask`` as ``VoiceProfileDomainId``."""
        ...

    @property
    def voice_profile_domain_arn(self) -> str:
        """``arn:<partition>:chime:<region>:<account>:voice-profile-domain/<id>``."""
        ...

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant: ...


class _VoiceProfileDomainBase(Resource):
    voice_profile_domain_id: str
    voice_profile_domain_arn: str

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """Allow ``grantee`` the given ``chime:`` actions on this domain only.

        For example ``chime:ListVoiceProfiles``; enrolling callers with ``CreateVoiceProfile``
        has no resource type in IAM and must be granted on ``*`` by the caller.
        """
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=list(actions), resource_arns=[self.voice_profile_domain_arn]
        )


class VoiceProfileDomain(_VoiceProfileDomainBase):
    """A voice profile domain, provisioned by a custom resource (CloudFormation has no type for it).

    Deleting a domain irreversibly deletes every voiceprint in it, so by default the domain
    and the key it was created with are **retained** when the stack is deleted or the domain
    is replaced, but deleted when the deployment that created them fails and rolls back (a
    Region holds only 3 domains by default; a new domain holds no voiceprint yet).

    :param voice_profile_domain_name: 1 to 256 characters of ``[a-zA-Z0-9 _.-]``. Default: a name
        unique in the app. Changing it renames the domain in place.
    :param description: Up to 1,024 characters. Default: none.
    :param encryption_key: A **symmetric** customer-managed KMS key (not an alias). Default: a
        new key with automatic rotation, kept or destroyed with the domain. The API cannot re-key
        a domain: a different key means a new domain, and every voice profile enrolled in the old
        one stays there. So a deploy that changes the key of a deployed domain fails (and rolls
        back, changing nothing) unless ``allow_replacement_on_key_change`` is true.
    :param allow_replacement_on_key_change: Let a key change replace the domain. Default:
        ``False``. With ``True`` the domain's name ends in ``-k<8 hex>`` derived from the key, so
        a replacement always has a name distinct from the domain it replaces; the old domain and
        its profiles are retained (or deleted, with ``RemovalPolicy.DESTROY``), and callers must
        be enrolled again in the new one.
    :param removal_policy: What happens to the domain (and the key it creates) when it leaves the
        stack. Default: ``RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE`` (CloudFormation
        ``DeletionPolicy: RetainExceptOnCreate``, ``UpdateReplacePolicy: Retain``): kept when the
        stack is deleted or the domain replaced, deleted when the deployment that created it rolls
        back. ``RETAIN`` keeps even a domain of a failed first deployment. ``DESTROY`` deletes every
        voiceprint and adds a warning.
    :param tags: Tags on the domain. Default: none. The library adds ``chime-speaker-search:stack``
        (the stack ID): its handler updates and deletes only domains that carry this stack's tag.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        voice_profile_domain_name: str | None = None,
        description: str | None = None,
        encryption_key: kms.IKey | None = None,
        allow_replacement_on_key_change: bool = False,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, id)
        check_pattern(
            "voice_profile_domain_name",
            voice_profile_domain_name,
            _NAME_PATTERN,
            "1 to 256 characters of letters, digits, space, '_', '.' and '-'",
        )
        check_length("description", description, 0, 1024)
        if removal_policy not in _REMOVAL_POLICIES:
            raise ValueError(
                f"removal_policy: {removal_policy} is not supported; allowed values are "
                "RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE, RemovalPolicy.RETAIN and RemovalPolicy.DESTROY"
            )
        if removal_policy == RemovalPolicy.DESTROY:
            Annotations.of(self).add_warning_v2(
                "chime-speaker-search:destroyVoiceProfileDomain",
                "removal_policy is DESTROY: deleting the stack or replacing the domain permanently "
                "deletes every voiceprint in it.",
            )
        check_not_alias("encryption_key", encryption_key)
        if encryption_key is None:
            encryption_key = kms.Key(
                self,
                "Key",
                description="chime-speaker-search: encrypts the voiceprints of a voice profile domain",
                enable_key_rotation=True,
                # Voiceprints encrypted with this key outlive the stack when the domain is retained,
                # and a key of a failed first deployment goes with its domain.
                removal_policy=removal_policy,
            )
            deny_grants_except_for_aws_services(encryption_key)
        self.encryption_key: kms.IKey = encryption_key
        key_arn = self.encryption_key.key_arn
        name = voice_profile_domain_name or Names.unique_resource_name(self, max_length=64, separator="-")
        if allow_replacement_on_key_change:
            # A replacement must be told apart from the domain it replaces (both may be kept).
            suffix = f"-k{_key_fingerprint(self.encryption_key)}"
            name = name[: 256 - len(suffix)] + suffix

        provider = SharedProvider.of(self)
        stack = Stack.of(self)
        provider.allow(
            ["chime:CreateVoiceProfileDomain"],
            ["*"],
            wildcard_reason="chime:CreateVoiceProfileDomain has no resource type in IAM.",
        )
        provider.allow(
            [
                "chime:GetVoiceProfileDomain",
                "chime:ListTagsForResource",
                "chime:UpdateVoiceProfileDomain",
                "chime:TagResource",
                "chime:UntagResource",
            ],
            [stack.format_arn(service="chime", resource="voice-profile-domain", resource_name="*")],
            wildcard_reason="The service assigns a domain's ID when it creates it, so the handler can be "
            "scoped to this account's and Region's voice profile domains but not to one ID in advance.",
        )
        # Deleting a domain destroys its voiceprints: only domains this stack created and tagged.
        provider.allow(
            ["chime:DeleteVoiceProfileDomain"],
            [stack.format_arn(service="chime", resource="voice-profile-domain", resource_name="*")],
            {"StringEquals": {f"aws:ResourceTag/{OWNER_TAG}": stack.stack_id}},
            wildcard_reason="Domain IDs are assigned at creation; the delete permission is further limited "
            "to domains tagged as created by this stack.",
        )

        properties: dict[str, object] = {"Name": name, "KmsKeyArn": key_arn}
        if allow_replacement_on_key_change:
            # Synth cannot know the deployed key (CDK does not read the deployed stack), so the
            # handler compares the domain's key with the requested one and fails the Update
            # unless this is "true" (absent means "false").
            properties["AllowReplacementOnKeyChange"] = "true"
        if description is not None:
            properties["Description"] = description
        user_tags = dict(tags or {})
        if OWNER_TAG in user_tags:
            raise ValueError(f"tags: the key {OWNER_TAG!r} is reserved; it marks domains this stack created")
        owner = [{"Key": OWNER_TAG, "Value": stack.stack_id}]
        properties["Tags"] = owner + [{"Key": k, "Value": v} for k, v in sorted(user_tags.items())]
        self._resource = provider.custom_resource(
            self, "Resource", VOICE_PROFILE_DOMAIN, properties, removal_policy=removal_policy
        )
        # Only Create and Update use the key; a domain removed from the stack is deleted without it.
        # The service creates its own grant on the key (for chimevoiceconnector.<region>) with the
        # caller's permission. Whether IAM sees that grant with kms:GrantIsForAWSResource = true is
        # not documented for this service (AWS's own examples use kms:ViaService, whose value for it
        # is not documented either); a condition that evaluates false would fail the first deploy.
        # The one form right under every answer: no condition, scoped to this one key's ARN (and
        # so one statement with the key's other actions: the role's policy grows by one ARN per key).
        provider.allow(["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"], [key_arn])
        self.voice_profile_domain_id = self._resource.get_att_string("VoiceProfileDomainId")
        self.voice_profile_domain_arn = self._resource.get_att_string("VoiceProfileDomainArn")

    @staticmethod
    def from_voice_profile_domain_id(
        scope: Construct, id: str, voice_profile_domain_id: str
    ) -> IVoiceProfileDomain:
        """Import an existing domain of this stack's account and Region by its ID."""
        check_pattern(
            "voice_profile_domain_id",
            voice_profile_domain_id,
            r"[a-zA-Z0-9-]{1,256}",
            "a voice profile domain ID of letters, digits and '-' "
            "(e.g. '3f3b5b3e-4c2a-4d6b-9a55-2c1b8f0e7a10')",
        )
        return _ImportedVoiceProfileDomain(scope, id, voice_profile_domain_id)

    @staticmethod
    def from_voice_profile_domain_arn(
        scope: Construct, id: str, voice_profile_domain_arn: str
    ) -> IVoiceProfileDomain:
        """Import an existing domain by its ARN.

        The ARN has the form ``arn:<partition>:chime:<region>:<account>:voice-profile-domain/<id>``.

        Speaker search matches only against a domain in the stack's Region (voiceprints are
        regional), so a domain of another Region adds a warning.
        """
        if Token.is_unresolved(voice_profile_domain_arn):
            parts = Arn.split(voice_profile_domain_arn, ArnFormat.SLASH_RESOURCE_NAME)
            return _ImportedVoiceProfileDomain(scope, id, parts.resource_name or "", voice_profile_domain_arn)
        check_pattern(
            "voice_profile_domain_arn",
            voice_profile_domain_arn,
            r"arn:aws[a-z-]*:chime:[a-z0-9-]+:\d{12}:voice-profile-domain/[a-zA-Z0-9-]{1,256}",
            "arn:<partition>:chime:<region>:<account>:voice-profile-domain/<voice profile domain id>",
        )
        domain_id = voice_profile_domain_arn.rsplit("/", 1)[1]
        imported = _ImportedVoiceProfileDomain(scope, id, domain_id, voice_profile_domain_arn)
        warn_if_other_region(imported, "voice_profile_domain_arn", voice_profile_domain_arn.split(":")[3])
        return imported


class _ImportedVoiceProfileDomain(_VoiceProfileDomainBase):
    """An existing domain: its ID and ARN only (its key is not known here, so no ``encryption_key``)."""

    def __init__(
        self, scope: Construct, id: str, voice_profile_domain_id: str, arn: str | None = None
    ) -> None:
        super().__init__(scope, id, environment_from_arn=arn)
        self.voice_profile_domain_id = voice_profile_domain_id
        self.voice_profile_domain_arn = arn or Stack.of(self).format_arn(
            service="chime",
            resource="voice-profile-domain",
            resource_name=voice_profile_domain_id,
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )


def _key_fingerprint(key: kms.IKey) -> str:
    """8 hex characters that differ between keys: from the ARN when it is known at synth time,
    else from the key construct's unique address (a created key, or one imported from a token)."""
    arn = key.key_arn
    identity = arn if not Token.is_unresolved(arn) else key.node.addr
    return hashlib.sha256(identity.encode()).hexdigest()[:8]
