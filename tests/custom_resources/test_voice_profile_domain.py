"""Lifecycle tests of custom_resources/voice_profile_domain.py against the in-memory chime-sdk-voice fake."""

from __future__ import annotations

import copy
from types import ModuleType
from typing import Any

import pytest

from tests.custom_resources.conftest import Invoke
from tests.custom_resources.fakes import (
    FAILED_CREATE_PHYSICAL_ID,
    OTHER_STACK_ID,
    OWNED,
    OWNER_TAG,
    STACK_ID,
    FakeChimeSdkVoice,
    cfn_event,
)

KEY_A = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_B = "arn:aws:kms:us-east-1:111122223333:key/mrk-5678abcd12ab34cd56ef1234567890ab"
PROPS: dict[str, Any] = {
    "Name": "callers domain",
    "Description": "voiceprints of consenting callers",
    "KmsKeyArn": KEY_A,
    "Tags": [{"Key": "team", "Value": "voice"}, {"Key": "env", "Value": "prod"}],
}
#: The opt-in that lets a key change replace the domain.
ALLOW = {"AllowReplacementOnKeyChange": "true"}


@pytest.fixture
def created(domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke) -> dict[str, Any]:
    result = invoke(domain_handler, voice, cfn_event("Create", PROPS))
    voice.reset_calls()
    return result


def update(physical_id: str, new: dict[str, Any], old: dict[str, Any] = PROPS) -> dict[str, Any]:
    return cfn_event("Update", new, physical_id=physical_id, old_properties=old)


def test_create_makes_one_encrypted_domain_and_reports_its_id_and_arn(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    result = invoke(domain_handler, voice, cfn_event("Create", PROPS))

    (domain,) = voice.domains.values()
    assert result == {
        "PhysicalResourceId": domain["VoiceProfileDomainId"],
        "Data": {
            "VoiceProfileDomainId": domain["VoiceProfileDomainId"],
            "VoiceProfileDomainArn": domain["VoiceProfileDomainArn"],
        },
    }
    assert domain["Name"] == "callers domain"
    assert domain["Description"] == "voiceprints of consenting callers"
    assert domain["ServerSideEncryptionConfiguration"] == {"KmsKeyArn": KEY_A}
    assert voice.tags[domain["VoiceProfileDomainArn"]] == {"team": "voice", "env": "prod", **OWNED}
    (_, params) = voice.calls[0]
    assert len(params["ClientRequestToken"]) == 64


def test_create_retried_with_the_same_request_id_creates_one_domain(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    event = cfn_event("Create", PROPS)
    first = invoke(domain_handler, voice, event)
    second = invoke(domain_handler, voice, dict(event))

    assert first == second
    assert len(voice.domains) == 1
    tokens = {params["ClientRequestToken"] for _, params in voice.calls}
    assert len(tokens) == 1


def test_create_without_optional_properties(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    invoke(domain_handler, voice, cfn_event("Create", {"Name": "d", "KmsKeyArn": KEY_A}))

    (_, params) = voice.calls[0]
    assert "Description" not in params
    assert params["Tags"] == [{"Key": OWNER_TAG, "Value": STACK_ID}]  # always: the handler's own tag


def test_update_with_unchanged_properties_makes_no_mutating_call(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, created: dict[str, Any]
) -> None:
    result = invoke(domain_handler, voice, update(created["PhysicalResourceId"], PROPS))

    assert result == created
    assert voice.mutating_calls == []


def test_update_of_name_and_description_is_in_place(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, created: dict[str, Any]
) -> None:
    new = {**PROPS, "Name": "renamed", "Description": ""}
    result = invoke(domain_handler, voice, update(created["PhysicalResourceId"], new))

    assert result == created
    assert voice.mutating_calls == ["UpdateVoiceProfileDomain"]
    domain = voice.domains[created["PhysicalResourceId"]]
    assert domain["Name"] == "renamed"
    assert "Description" not in domain


def test_update_of_tags_applies_only_the_difference_and_keeps_foreign_tags(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, created: dict[str, Any]
) -> None:
    arn = created["Data"]["VoiceProfileDomainArn"]
    voice.tags[arn]["added-by-hand"] = "x"
    new = {**PROPS, "Tags": [{"Key": "team", "Value": "voice"}, {"Key": "cost", "Value": "42"}]}

    invoke(domain_handler, voice, update(created["PhysicalResourceId"], new))

    assert voice.mutating_calls == ["UntagResource", "TagResource"]
    assert voice.calls[-2][1]["TagKeys"] == ["env"]
    assert voice.calls[-1][1]["Tags"] == [{"Key": "cost", "Value": "42"}]
    assert voice.tags[arn] == {"team": "voice", "cost": "42", "added-by-hand": "x", **OWNED}


def test_update_of_the_key_replaces_the_domain(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, created: dict[str, Any]
) -> None:
    result = invoke(
        domain_handler, voice, update(created["PhysicalResourceId"], {**PROPS, "KmsKeyArn": KEY_B, **ALLOW})
    )

    assert result["PhysicalResourceId"] != created["PhysicalResourceId"]
    new_domain = voice.domains[result["PhysicalResourceId"]]
    assert new_domain["ServerSideEncryptionConfiguration"] == {"KmsKeyArn": KEY_B}
    assert result["Data"]["VoiceProfileDomainArn"] == new_domain["VoiceProfileDomainArn"]
    # The old domain is left for CloudFormation: it deletes it, or keeps it under a Retain policy.
    assert created["PhysicalResourceId"] in voice.domains
    assert voice.mutating_calls == ["CreateVoiceProfileDomain"]


@pytest.mark.parametrize(
    "reported",
    [None, "1234abcd-12ab-34cd-56ef-1234567890ab"],
    ids=["key-not-reported", "key-reported-as-an-id"],
)
def test_a_rename_never_replaces_the_domain_whatever_the_service_reports_about_its_key(
    domain_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    invoke: Invoke,
    created: dict[str, Any],
    reported: str | None,
) -> None:
    """Replacing a domain can cost every voiceprint: the key must really have changed."""
    domain = voice.domains[created["PhysicalResourceId"]]
    if reported is None:
        del domain["ServerSideEncryptionConfiguration"]
    else:
        domain["ServerSideEncryptionConfiguration"] = {"KmsKeyArn": reported}

    result = invoke(
        domain_handler, voice, update(created["PhysicalResourceId"], {**PROPS, "Name": "renamed"})
    )

    assert result["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert voice.mutating_calls == ["UpdateVoiceProfileDomain"]
    assert len(voice.domains) == 1


@pytest.mark.parametrize(
    "reported",
    [None, "1234abcd-12ab-34cd-56ef-1234567890ab", "arn:aws:kms:us-east-1:111122223333:alias/callers"],
    ids=["key-missing", "key-id-only", "alias-form"],
)
def test_rollback_with_an_invalid_old_key_does_not_replace_the_domain(
    domain_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    invoke: Invoke,
    created: dict[str, Any],
    reported: str | None,
) -> None:
    """The invalid-old-key safeguard ALONE: replacement is opted in, the requested key differs from
    the failed one, and the service does not echo the key as the requested ARN, so only the invalid
    OldResourceProperties key keeps a rollback from replacing the domain."""
    domain = voice.domains[created["PhysicalResourceId"]]
    if reported is None:
        del domain["ServerSideEncryptionConfiguration"]
    else:
        domain["ServerSideEncryptionConfiguration"] = {"KmsKeyArn": reported}
    failed = {**PROPS, "KmsKeyArn": "arn:aws:kms:us-east-1:111122223333:alias/not-a-key"}

    result = invoke(
        domain_handler, voice, update(created["PhysicalResourceId"], {**PROPS, **ALLOW}, old=failed)
    )

    assert result["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert voice.mutating_calls == []
    assert len(voice.domains) == 1


def test_a_domain_already_reporting_the_new_key_is_not_replaced(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, created: dict[str, Any]
) -> None:
    """Old key A, new key B, the domain already reports B (e.g. a retried request): no replacement,
    even with replacement opted in."""
    voice.domains[created["PhysicalResourceId"]]["ServerSideEncryptionConfiguration"] = {"KmsKeyArn": KEY_B}

    result = invoke(
        domain_handler, voice, update(created["PhysicalResourceId"], {**PROPS, "KmsKeyArn": KEY_B, **ALLOW})
    )

    assert result["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert voice.mutating_calls == []
    assert len(voice.domains) == 1


def test_a_key_change_without_the_opt_in_fails_and_changes_nothing(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, created: dict[str, Any]
) -> None:
    before = copy.deepcopy(voice.domains)

    with pytest.raises(RuntimeError, match=r"Refusing to replace .*allow_replacement_on_key_change=True"):
        invoke(domain_handler, voice, update(created["PhysicalResourceId"], {**PROPS, "KmsKeyArn": KEY_B}))

    assert voice.mutating_calls == []
    assert voice.domains == before
    # An explicit "false" is the same as leaving the property out.
    off = {**PROPS, "KmsKeyArn": KEY_B, "AllowReplacementOnKeyChange": "false"}
    with pytest.raises(RuntimeError, match="Refusing to replace"):
        invoke(domain_handler, voice, update(created["PhysicalResourceId"], off))
    assert voice.mutating_calls == []


def test_an_unchanged_update_without_description_makes_no_update_call(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    """The service's Get omits an empty Description; that must compare equal to none requested."""
    props = {key: value for key, value in PROPS.items() if key != "Description"}
    created = invoke(domain_handler, voice, cfn_event("Create", props))
    assert "Description" not in voice.domains[created["PhysicalResourceId"]]
    voice.reset_calls()

    result = invoke(domain_handler, voice, update(created["PhysicalResourceId"], props, old=props))

    assert result["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert voice.count("UpdateVoiceProfileDomain") == 0
    assert voice.mutating_calls == []


def test_a_description_of_exactly_1024_characters_is_accepted(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    result = invoke(domain_handler, voice, cfn_event("Create", {**PROPS, "Description": "d" * 1024}))

    assert voice.domains[result["PhysicalResourceId"]]["Description"] == "d" * 1024
    with pytest.raises(ValueError, match="Description"):
        domain_handler.parse_properties({**PROPS, "Description": "d" * 1025})


def test_full_lifecycle(domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke) -> None:
    first = invoke(domain_handler, voice, cfn_event("Create", PROPS))
    domain_id = first["PhysicalResourceId"]
    renamed = {**PROPS, "Name": "renamed"}
    assert invoke(domain_handler, voice, update(domain_id, renamed))["PhysicalResourceId"] == domain_id
    rekeyed = {**renamed, "KmsKeyArn": KEY_B, **ALLOW}
    second = invoke(domain_handler, voice, update(domain_id, rekeyed, old=renamed))
    new_id = second["PhysicalResourceId"]
    assert voice.domains[new_id]["Name"] == "renamed"

    # CloudFormation's clean-up deletes the replaced domain, later the stack deletes the new one.
    invoke(domain_handler, voice, cfn_event("Delete", renamed, physical_id=domain_id))
    invoke(domain_handler, voice, cfn_event("Delete", rekeyed, physical_id=new_id))
    assert voice.domains == {}
    invoke(domain_handler, voice, cfn_event("Delete", rekeyed, physical_id=new_id))  # twice: still fine
    assert voice.count("DeleteVoiceProfileDomain") == 2  # the second time, the Get finds it gone


def test_delete_after_out_of_band_removal_succeeds(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, created: dict[str, Any]
) -> None:
    voice.domains.clear()

    result = invoke(
        domain_handler, voice, cfn_event("Delete", PROPS, physical_id=created["PhysicalResourceId"])
    )

    assert result["PhysicalResourceId"] == created["PhysicalResourceId"]


@pytest.mark.parametrize("physical_id", [FAILED_CREATE_PHYSICAL_ID, "stack/with:colons", ""])
def test_delete_of_a_placeholder_physical_id_makes_no_call(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, physical_id: str
) -> None:
    invoke(domain_handler, voice, cfn_event("Delete", PROPS, physical_id=physical_id))

    assert voice.calls == []


def test_rollback_delete_after_a_failed_create_touches_nothing_else(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, created: dict[str, Any]
) -> None:
    voice.fail("CreateVoiceProfileDomain", "AccessDeniedException")
    failed = cfn_event("Create", {**PROPS, "Name": "second"})
    with pytest.raises(RuntimeError, match="AccessDeniedException"):
        invoke(domain_handler, voice, failed)

    # A RequestId-like physical ID is no domain: NotFound, success, the existing domain is untouched.
    invoke(domain_handler, voice, cfn_event("Delete", PROPS, physical_id=failed["RequestId"]))

    assert list(voice.domains) == [created["PhysicalResourceId"]]


def test_api_failure_is_raised_with_operation_resource_and_code(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.fail("CreateVoiceProfileDomain", "AccessDeniedException")

    with pytest.raises(RuntimeError) as excinfo:
        invoke(domain_handler, voice, cfn_event("Create", PROPS))

    message = str(excinfo.value)
    assert "CreateVoiceProfileDomain" in message
    assert "'callers domain'" in message
    assert "AccessDeniedException" in message
    assert voice.domains == {}


def test_throttling_is_retried_with_backoff(
    domain_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    invoke: Invoke,
    sleeps: list[float],
    shared: ModuleType,
) -> None:
    voice.fail("CreateVoiceProfileDomain", "ThrottledClientException", times=2)

    invoke(domain_handler, voice, cfn_event("Create", PROPS))

    assert len(voice.domains) == 1
    assert voice.count("CreateVoiceProfileDomain") == 3
    assert len(sleeps) == 2
    assert all(0 <= s <= shared.BACKOFF_CAP_S for s in sleeps)


def test_throttling_on_every_attempt_fails_clearly(
    domain_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    invoke: Invoke,
    sleeps: list[float],
    shared: ModuleType,
) -> None:
    voice.fail_always("CreateVoiceProfileDomain", "ThrottledClientException")

    with pytest.raises(RuntimeError, match=r"CreateVoiceProfileDomain .*ThrottledClientException.*attempts"):
        invoke(domain_handler, voice, cfn_event("Create", PROPS))

    assert voice.count("CreateVoiceProfileDomain") == shared.THROTTLE_ATTEMPTS
    assert len(sleeps) == shared.THROTTLE_ATTEMPTS - 1


def test_delete_waits_out_a_short_conflict(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, created: dict[str, Any]
) -> None:
    voice.fail("DeleteVoiceProfileDomain", "ConflictException", times=2)

    invoke(domain_handler, voice, cfn_event("Delete", PROPS, physical_id=created["PhysicalResourceId"]))

    assert voice.domains == {}


def test_failed_update_midway_is_undone_by_the_rollback_update(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, created: dict[str, Any]
) -> None:
    domain_id = created["PhysicalResourceId"]
    new = {**PROPS, "Name": "renamed", "Tags": [{"Key": "team", "Value": "data"}]}
    voice.fail_always("TagResource", "AccessDeniedException")
    with pytest.raises(RuntimeError, match=r"TagResource.*AccessDeniedException"):
        invoke(domain_handler, voice, update(domain_id, new))
    assert voice.domains[domain_id]["Name"] == "renamed"  # half applied

    voice.heal()
    # CloudFormation rolls back: Update with the old properties, the failed ones as OldResourceProperties.
    result = invoke(domain_handler, voice, update(domain_id, PROPS, old=new))

    assert result == created
    assert voice.domains[domain_id]["Name"] == "callers domain"
    assert voice.tags[created["Data"]["VoiceProfileDomainArn"]] == {"team": "voice", "env": "prod", **OWNED}


def test_rollback_of_an_invalid_update_makes_no_mutating_call(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, created: dict[str, Any]
) -> None:
    domain_id = created["PhysicalResourceId"]
    invalid = {**PROPS, "KmsKeyArn": "arn:aws:kms:us-east-1:111122223333:alias/voice"}
    with pytest.raises(ValueError, match="KmsKeyArn"):
        invoke(domain_handler, voice, update(domain_id, invalid))

    result = invoke(domain_handler, voice, update(domain_id, PROPS, old=invalid))

    assert result == created
    assert voice.mutating_calls == []
    assert len(voice.domains) == 1


def test_rollback_of_a_replacement_deletes_only_the_new_domain(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, created: dict[str, Any]
) -> None:
    replaced = invoke(
        domain_handler, voice, update(created["PhysicalResourceId"], {**PROPS, "KmsKeyArn": KEY_B, **ALLOW})
    )

    # The stack update fails later; CloudFormation keeps the old domain and deletes the new one.
    invoke(domain_handler, voice, cfn_event("Delete", PROPS, physical_id=replaced["PhysicalResourceId"]))

    assert list(voice.domains) == [created["PhysicalResourceId"]]


def test_update_of_a_domain_deleted_out_of_band_fails_clearly(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, created: dict[str, Any]
) -> None:
    voice.domains.clear()

    with pytest.raises(
        RuntimeError, match=r"GetVoiceProfileDomain failed for voice profile domain .*NotFound"
    ):
        invoke(domain_handler, voice, update(created["PhysicalResourceId"], PROPS))


@pytest.mark.parametrize(
    ("change", "prop"),
    [
        ({"Name": ""}, "Name"),
        ({"Name": "x" * 257}, "Name"),
        ({"Name": "bad/name"}, "Name"),
        ({"Name": None}, "Name"),
        ({"Description": "d" * 1025}, "Description"),
        ({"KmsKeyArn": "arn:aws:kms:us-east-1:111122223333:alias/voice"}, "KmsKeyArn"),
        ({"KmsKeyArn": "1234abcd-12ab-34cd-56ef-1234567890ab"}, "KmsKeyArn"),
        ({"KmsKeyArn": "arn:aws:s3:::bucket"}, "KmsKeyArn"),
        ({"Tags": "team=voice"}, "Tags"),
        ({"Tags": [{"Key": "", "Value": "x"}]}, "Tags"),
        ({"Tags": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}, "Tags"),
        ({"Tags": [{"Key": f"k{i}", "Value": "v"} for i in range(51)]}, "Tags"),
        ({"KmsKeyARN": KEY_A}, "KmsKeyARN"),
    ],
)
def test_invalid_properties_raise_value_error_naming_the_property(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, change: dict[str, Any], prop: str
) -> None:
    props = {k: v for k, v in {**PROPS, **change}.items() if v is not None}

    with pytest.raises(ValueError, match=prop):
        invoke(domain_handler, voice, cfn_event("Create", props))

    assert voice.calls == []


def test_alias_error_says_what_to_pass_instead(domain_handler: ModuleType) -> None:
    with pytest.raises(ValueError, match=r"alias.*key ARN arn:<partition>:kms"):
        domain_handler.parse_properties({**PROPS, "KmsKeyArn": "arn:aws:kms:us-east-1:111122223333:alias/x"})


@pytest.mark.parametrize("name", ["a", "Speaker search 1.0_prod-x", "x" * 256])
def test_valid_names_pass_through_unchanged(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, name: str
) -> None:
    invoke(domain_handler, voice, cfn_event("Create", {**PROPS, "Name": name}))

    assert next(iter(voice.domains.values()))["Name"] == name


def test_govcloud_key_arns_are_accepted(domain_handler: ModuleType) -> None:
    key = "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert domain_handler.parse_properties({**PROPS, "KmsKeyArn": key}).kms_key_arn == key


def test_a_lasting_conflict_on_delete_is_waited_out_for_at_most_20_seconds(
    domain_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    invoke: Invoke,
    created: dict[str, Any],
    sleeps: list[float],
    small_jitter: float,
) -> None:
    voice.fail_always("DeleteVoiceProfileDomain", "ConflictException")

    with pytest.raises(RuntimeError, match=r"DeleteVoiceProfileDomain failed .*ConflictException"):
        invoke(domain_handler, voice, cfn_event("Delete", PROPS, physical_id=created["PhysicalResourceId"]))

    # The domain allows one API call at a time: another call may hold it briefly, never for long.
    assert 20.0 - small_jitter < sum(sleeps) <= 20.0
    assert created["PhysicalResourceId"] in voice.domains


# -- who may ask: the owner tag ---------------------------------------------------------------------


@pytest.mark.parametrize("owner", [{OWNER_TAG: OTHER_STACK_ID}, {}, {"team": "voice"}], ids=str)
@pytest.mark.parametrize("request_type", ["Update", "Delete"])
def test_a_domain_this_stack_did_not_tag_is_neither_updated_nor_deleted(
    domain_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    invoke: Invoke,
    created: dict[str, Any],
    owner: dict[str, str],
    request_type: str,
) -> None:
    """A crafted request with this stack's ID, naming another team's domain, erases no voiceprint."""
    domain_id = created["PhysicalResourceId"]
    arn = created["Data"]["VoiceProfileDomainArn"]
    voice.tags[arn] = dict(owner)
    before = copy.deepcopy(voice.domains[domain_id])
    event = (
        update(domain_id, {**PROPS, "Name": "taken over"})
        if request_type == "Update"
        else cfn_event("Delete", PROPS, physical_id=domain_id)
    )

    with pytest.raises(
        RuntimeError, match=rf"Refusing to {request_type.lower()} voice profile domain '{domain_id}'"
    ):
        invoke(domain_handler, voice, event)

    assert voice.mutating_calls == []
    assert voice.domains[domain_id] == before
    assert voice.tags[arn] == owner


def test_a_key_change_of_another_stacks_domain_creates_nothing(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, created: dict[str, Any]
) -> None:
    voice.tags[created["Data"]["VoiceProfileDomainArn"]] = {OWNER_TAG: OTHER_STACK_ID}

    with pytest.raises(RuntimeError, match="Refusing to update"):
        invoke(
            domain_handler,
            voice,
            update(created["PhysicalResourceId"], {**PROPS, "KmsKeyArn": KEY_B, **ALLOW}),
        )

    assert len(voice.domains) == 1
    assert voice.mutating_calls == []


def test_a_domain_deleted_between_the_get_and_the_tag_read_counts_as_deleted(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, created: dict[str, Any]
) -> None:
    domain_id = created["PhysicalResourceId"]
    voice.before("ListTagsForResource", lambda: voice.domains.clear() or voice.tags.clear())

    invoke(domain_handler, voice, cfn_event("Delete", PROPS, physical_id=domain_id))

    assert voice.mutating_calls == []


def test_properties_cannot_tag_a_domain_as_another_stacks(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    props = {**PROPS, "Tags": [{"Key": OWNER_TAG, "Value": OTHER_STACK_ID}]}

    with pytest.raises(RuntimeError, match="names another stack"):
        invoke(domain_handler, voice, cfn_event("Create", props))

    assert voice.calls == []


def test_an_update_to_properties_without_the_owner_tag_keeps_it(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, created: dict[str, Any]
) -> None:
    tagged = {**PROPS, "Tags": [*PROPS["Tags"], {"Key": OWNER_TAG, "Value": STACK_ID}]}
    domain_id = created["PhysicalResourceId"]
    invoke(domain_handler, voice, update(domain_id, tagged))
    assert voice.mutating_calls == []  # the handler had tagged it already

    invoke(domain_handler, voice, update(domain_id, PROPS, old=tagged))  # a rollback, say

    assert voice.tags[created["Data"]["VoiceProfileDomainArn"]][OWNER_TAG] == STACK_ID
    assert voice.mutating_calls == []
