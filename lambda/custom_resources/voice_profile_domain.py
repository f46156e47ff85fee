"""Custom resource ``Custom::ChimeVoiceProfileDomain``: a voice profile domain (``chime-sdk-voice``).

``index.on_event`` (the one on_event handler of the library's Provider) routes requests of this type
to ``handle``. CloudFormation delivers every property value as a string.

Properties (``ServiceToken`` and ``ServiceTimeout`` are ignored; any other key is rejected):
    Name         required; 1-256 chars of ``[a-zA-Z0-9 _.-]``.
    Description  optional; 0-1024 chars.
    KmsKeyArn    required; a symmetric customer managed key given as a key ARN
                 ``arn:<partition>:kms:<region>:<account>:key/<key-id>``. Alias ARNs are rejected: the
                 service documents "do not use ... KMS aliases".
    Tags         optional; list of ``{"Key": str, "Value": str}`` (at most 50, unique keys).
    AllowReplacementOnKeyChange
                 optional; "true" | "false" (default "false"). Whether an Update that asks for another
                 KmsKeyArn may replace the domain (see below).

Returned Data: ``VoiceProfileDomainId``, ``VoiceProfileDomainArn``.

Physical ID: the ``VoiceProfileDomainId``.

Who may ask (before any change): the request's StackId is this function's stack (index.py), and the
domain carries this stack's owner tag ``chime-speaker-search:stack`` (``ListTagsForResource``), which
Create sets whatever the properties say (a ``Tags`` entry naming another stack is refused). Another
stack's tag, or none, refuses an Update or a Delete.
    Create                  CreateVoiceProfileDomain with a deterministic ClientRequestToken (sha256 of
                            StackId|LogicalResourceId|RequestId), so a retried Create names the same domain,
                            and the owner tag.
    Update                  first GetVoiceProfileDomain and its tags: decisions compare the domain as it is
                            with the new properties (robust to rollbacks after a partly applied Update). Tags
                            are diffed against OldResourceProperties (tags added outside CloudFormation are
                            kept); the owner tag is never removed.
    Update, KmsKeyArn new   the service cannot change the key in place, so only a NEW domain can have the new
                            key, and every voice profile enrolled in the old one stays behind. Unless
                            AllowReplacementOnKeyChange is "true" the Update FAILS with a message saying so
                            (CloudFormation rolls back; nothing was changed). With it, a new domain is
                            created and its ID returned; CloudFormation then deletes the old one (or keeps
                            it under the Retain policy the construct sets by default).
    Update, Name/Description  UpdateVoiceProfileDomain (same ID).
    Update, Tags            UntagResource / TagResource with only the difference (same ID).
    Update, nothing changed only the GetVoiceProfileDomain; no mutating call.
    Delete                  GetVoiceProfileDomain and its tags, then DeleteVoiceProfileDomain; an already
                            deleted domain, or a physical ID that cannot be a domain ID (a failed Create's
                            placeholder), counts as success.

IAM actions the handler's role needs:
    chime:CreateVoiceProfileDomain   Resource "*" (the action has no resource type)
    chime:GetVoiceProfileDomain, chime:UpdateVoiceProfileDomain, chime:DeleteVoiceProfileDomain,
    chime:TagResource, chime:UntagResource, chime:ListTagsForResource
                                     arn:<partition>:chime:<region>:<account>:voice-profile-domain/*
                                     (TagResource is also what tag-on-create is authorised with)
    kms:CreateGrant, kms:DescribeKey, kms:Decrypt
                                     the KmsKeyArn key (the service creates a grant for
                                     chimevoiceconnector.<region>.amazonaws.com on create)

Clients for tests: ``handle(event, client, deadline)`` does the work with any object that has the boto3
``chime-sdk-voice`` methods; ``index.on_event`` passes ``_client()``, a lazily created real client that tests
can monkeypatch.

Shared code: ``call_api`` (every call through ``aws_calls.call``, the library's one retry loop and
error classification), ``ApiError``, ``Deadline`` and the request helpers come from
``cfn_custom_resource`` (lambda/_common/), which the construct ships beside index.py with
``aws_calls.py``; tests make backoff instant by monkeypatching ``aws_calls._sleep`` and ``_clock``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from aws_calls import Deadline
from cfn_custom_resource import (
    ApiError,
    call_api,
    client_request_token,
    dispatch,
    lazy_client,
    parse_tags,
    previous_tags,
    reject_unknown,
    sync_tags,
)
from cfn_ownership import OWNER_TAG, owner_in, read_tags, refuse_unless_ours, with_owner_tag

if TYPE_CHECKING:
    from mypy_boto3_chime_sdk_voice import ChimeSDKVoiceClient

logger = logging.getLogger(__name__)
logger.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO"))

NAME_PATTERN = re.compile(r"[a-zA-Z0-9 _.-]{1,256}")
KMS_KEY_ARN_PATTERN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[a-zA-Z0-9-]{1,128}")
# A domain ID is a service-generated, URL-safe identifier; anything else (e.g. the Provider framework's
# placeholder after a failed Create) is never sent to the API.
DOMAIN_ID_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,256}")
MAX_TAGS = 50
KNOWN_PROPERTIES = {"Name", "Description", "KmsKeyArn", "Tags", "AllowReplacementOnKeyChange"}
RESOURCE_TYPE = "Custom::ChimeVoiceProfileDomain"
#: The longest a request of this type may take: a few calls, each with its throttling retries, and
#: up to 20 s of conflict on delete. The construct's service_timeout for the type is derived from it.
BUDGET_S = 120.0

_client = cast("Callable[[], ChimeSDKVoiceClient]", lazy_client("chime-sdk-voice"))


@dataclass(frozen=True)
class DomainProps:
    name: str
    description: str
    kms_key_arn: str
    tags: dict[str, str]
    allow_replacement_on_key_change: bool = False


def parse_properties(props: Mapping[str, Any]) -> DomainProps:
    """Validate ResourceProperties; a bad value raises ValueError naming the property and what is allowed."""
    reject_unknown(props, KNOWN_PROPERTIES)
    name = props.get("Name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"Invalid property Name={name!r}: expected 1-256 characters of [a-zA-Z0-9 _.-]")
    description = props.get("Description", "")
    if not isinstance(description, str) or len(description) > 1024:
        raise ValueError(
            f"Invalid property Description={description!r}: expected a string of 0-1024 characters"
        )
    key_arn = props.get("KmsKeyArn")
    if isinstance(key_arn, str) and ":alias/" in key_arn:
        raise ValueError(
            f"Invalid property KmsKeyArn={key_arn!r}: a KMS alias is not accepted by the voice profile "
            "domain API; pass the key ARN arn:<partition>:kms:<region>:<account>:key/<key-id>"
        )
    if not isinstance(key_arn, str) or not KMS_KEY_ARN_PATTERN.fullmatch(key_arn):
        raise ValueError(
            f"Invalid property KmsKeyArn={key_arn!r}: expected a KMS key ARN "
            "arn:<partition>:kms:<region>:<account>:key/<key-id>"
        )
    allow = props.get("AllowReplacementOnKeyChange", "false")
    if allow not in ("true", "false", True, False):
        raise ValueError(
            f"Invalid property AllowReplacementOnKeyChange={allow!r}: allowed values are 'true', 'false'"
        )
    return DomainProps(
        name, description, key_arn, parse_tags(props.get("Tags"), MAX_TAGS), allow in ("true", True)
    )


def _data(domain: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "PhysicalResourceId": domain["VoiceProfileDomainId"],
        "Data": {
            "VoiceProfileDomainId": domain["VoiceProfileDomainId"],
            "VoiceProfileDomainArn": domain["VoiceProfileDomainArn"],
        },
    }


def _create(
    event: Mapping[str, Any], props: DomainProps, client: ChimeSDKVoiceClient, deadline: Deadline
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "Name": props.name,
        "ServerSideEncryptionConfiguration": {"KmsKeyArn": props.kms_key_arn},
        # chime-sdk-voice does not auto-fill the token; a deterministic one makes a retried Create return
        # the domain the first attempt made instead of using up the (small) domain quota.
        "ClientRequestToken": client_request_token(event),
    }
    if props.description:
        kwargs["Description"] = props.description
    kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in with_owner_tag(props.tags).items()]
    response = call_api(
        "CreateVoiceProfileDomain",
        f"voice profile domain {props.name!r}",
        client.create_voice_profile_domain,
        deadline=deadline,
        **kwargs,
    )
    domain = response["VoiceProfileDomain"]
    logger.info("domain_created", extra={"voice_profile_domain_id": domain["VoiceProfileDomainId"]})
    return _data(domain)


def _update(
    event: Mapping[str, Any], props: DomainProps, client: ChimeSDKVoiceClient, deadline: Deadline
) -> dict[str, Any]:
    domain_id = event["PhysicalResourceId"]
    resource = f"voice profile domain {domain_id!r}"
    domain: Mapping[str, Any] = call_api(
        "GetVoiceProfileDomain",
        resource,
        client.get_voice_profile_domain,
        deadline=deadline,
        VoiceProfileDomainId=domain_id,
    )["VoiceProfileDomain"]
    tags = read_tags(client, domain["VoiceProfileDomainArn"], resource, deadline=deadline)
    if tags is None:
        raise RuntimeError(f"{resource} was deleted while it was being updated; retry the deployment")
    refuse_unless_ours(owner_in(tags), "update", resource)
    if _key_changed(event, props, domain):
        if not props.allow_replacement_on_key_change:
            # Failing leaves the domain and its voiceprints as they are; CloudFormation rolls back.
            raise RuntimeError(
                f"Refusing to replace {resource}: KmsKeyArn changed, and a domain's key cannot be changed in "
                "place, so only a new domain can have it, and every voice profile enrolled in this one would "
                "stay behind in it. Keep the previous encryption_key, or set "
                "allow_replacement_on_key_change=True on the VoiceProfileDomain to create a new domain "
                "(re-enrol callers there; the old domain is retained unless its removal policy is DESTROY)."
            )
        # The API cannot change the key: replace. CloudFormation deletes (or retains) the old domain.
        logger.info("domain_replaced_for_new_key", extra={"old_voice_profile_domain_id": domain_id})
        return _create(event, props, client, deadline)

    if domain.get("Name") != props.name or domain.get("Description", "") != props.description:
        # An empty Description clears the old one (the API allows 0 characters).
        domain = call_api(
            "UpdateVoiceProfileDomain",
            resource,
            client.update_voice_profile_domain,
            deadline=deadline,
            VoiceProfileDomainId=domain_id,
            Name=props.name,
            Description=props.description,
        )["VoiceProfileDomain"]
    # The owner tag is diffed against what the domain carries, every other tag against the old properties.
    old_tags = previous_tags(event.get("OldResourceProperties", {}).get("Tags"), MAX_TAGS)
    old_tags = {k: v for k, v in old_tags.items() if k != OWNER_TAG} | {OWNER_TAG: tags[OWNER_TAG]}
    new_tags = with_owner_tag(props.tags)
    sync_tags(client, domain["VoiceProfileDomainArn"], resource, old_tags, new_tags, deadline=deadline)
    return _data(domain)


def _key_changed(event: Mapping[str, Any], props: DomainProps, domain: Mapping[str, Any]) -> bool:
    """Whether this Update asks for another key, which means a new domain (and its old one goes).

    Replacing a domain can cost every voiceprint in it, so it takes two signals: CloudFormation
    asks for a different valid key (a rollback after a failed Update may carry an invalid one as
    OldResourceProperties, which never counts), and the domain does not already report the new
    key. A key missing from the service's answer, or echoed in another form, never triggers it alone.
    """
    old_key = event.get("OldResourceProperties", {}).get("KmsKeyArn")
    if not isinstance(old_key, str) or not KMS_KEY_ARN_PATTERN.fullmatch(old_key):
        return False
    if old_key == props.kms_key_arn:
        return False
    current = domain.get("ServerSideEncryptionConfiguration", {}).get("KmsKeyArn")
    return bool(current != props.kms_key_arn)


def _delete(event: Mapping[str, Any], client: ChimeSDKVoiceClient, deadline: Deadline) -> dict[str, Any]:
    domain_id = event["PhysicalResourceId"]
    done = {"PhysicalResourceId": domain_id, "Data": {}}
    if not DOMAIN_ID_PATTERN.fullmatch(domain_id):
        logger.info("delete_skipped_not_a_domain_id")
        return done
    resource = f"voice profile domain {domain_id!r}"
    try:
        arn = call_api(
            "GetVoiceProfileDomain",
            resource,
            client.get_voice_profile_domain,
            deadline=deadline,
            VoiceProfileDomainId=domain_id,
        )["VoiceProfileDomain"]["VoiceProfileDomainArn"]
        tags = read_tags(client, arn, resource, deadline=deadline)
        if tags is None:
            logger.info("domain_already_gone", extra={"voice_profile_domain_id": domain_id})
            return done
        # Deleting a domain destroys every voiceprint in it: only this stack's own domains.
        refuse_unless_ours(owner_in(tags), "delete", resource)
        # ConflictException: the domain allows one concurrent API call; wait a little for the other one.
        call_api(
            "DeleteVoiceProfileDomain",
            resource,
            client.delete_voice_profile_domain,
            deadline=deadline,
            conflict_budget_s=20.0,
            VoiceProfileDomainId=domain_id,
        )
        logger.info("domain_deleted", extra={"voice_profile_domain_id": domain_id})
    except ApiError as exc:
        if exc.code != "NotFoundException":
            raise
        logger.info("domain_already_gone", extra={"voice_profile_domain_id": domain_id})
    return done


def handle(event: Mapping[str, Any], client: ChimeSDKVoiceClient, deadline: Deadline) -> dict[str, Any]:
    """Run one CloudFormation custom resource request against ``client``, finishing before ``deadline``."""
    return dispatch(
        event, client, deadline, parse=parse_properties, create=_create, update=_update, delete=_delete
    )
