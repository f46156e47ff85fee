"""The account verification kit's own logic, against botocore's Stubber (no AWS account).

What the real account answers is unknown here; these tests pin what the kit concludes from each
plausible answer: a clean deletion, a retained key scheduled for deletion, a domain the stack
should have deleted, a stack that failed to delete, and integ-runner logs of each outcome.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.util
import json
import pathlib
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

_spec = importlib.util.spec_from_file_location(
    "account_check", pathlib.Path(__file__).with_name("account_check.py")
)
assert _spec is not None and _spec.loader is not None
account_check = importlib.util.module_from_spec(_spec)
sys.modules["account_check"] = account_check  # dataclasses look their module up here
_spec.loader.exec_module(account_check)

ACCOUNT = "111122223333"
STACK_ID = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/ChimeSpeakerSearchInteg/1a2b3c4d"
RETAINED_KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
DATA_KEY = "5678abcd-12ab-34cd-56ef-1234567890ab"
QUEUE_URL = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/Notifications"
NOW = datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC)


def _resource(logical_id: str, kind: str, physical: str, status: str) -> dict[str, Any]:
    return {
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": physical,
        "ResourceType": kind,
        "ResourceStatus": status,
        "LastUpdatedTimestamp": NOW,
    }


def _domain(domain_id: str, key_id: str) -> dict[str, Any]:
    return {
        "VoiceProfileDomain": {
            "VoiceProfileDomainId": domain_id,
            "VoiceProfileDomainArn": f"arn:aws:chime:us-east-1:{ACCOUNT}:voice-profile-domain/{domain_id}",
            "Name": "retained",
            "ServerSideEncryptionConfiguration": {
                "KmsKeyArn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"
            },
        }
    }


def _key(key_id: str, state: str) -> dict[str, Any]:
    return {"KeyMetadata": {"KeyId": key_id, "KeyState": state}}


@pytest.fixture
def stubbed() -> Iterator[tuple[dict[str, Any], dict[str, Stubber]]]:
    clients = {
        name: boto3.client(  # type: ignore[call-overload]
            name, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        for name in account_check.SERVICES
    }
    stubbers = {name: Stubber(c) for name, c in clients.items()}
    for stubber in stubbers.values():
        stubber.activate()
    yield clients, stubbers
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def _deleted_stack(stubbers: dict[str, Stubber], resources: list[dict[str, Any]]) -> None:
    cfn = stubbers["cloudformation"]
    cfn.add_client_error(
        "describe_stacks", "ValidationError", "Stack with id ChimeSpeakerSearchInteg does not exist"
    )
    older = STACK_ID.replace("1a2b3c4d", "00000000")
    cfn.add_response(
        "list_stacks",
        {
            "StackSummaries": [
                {
                    "StackId": older,
                    "StackName": "ChimeSpeakerSearchInteg",
                    "CreationTime": NOW - datetime.timedelta(days=2),
                    "DeletionTime": NOW - datetime.timedelta(days=1),
                    "StackStatus": "DELETE_COMPLETE",
                },
                {
                    "StackId": STACK_ID,
                    "StackName": "ChimeSpeakerSearchInteg",
                    "CreationTime": NOW - datetime.timedelta(hours=1),
                    "DeletionTime": NOW,
                    "StackStatus": "DELETE_COMPLETE",
                },
            ]
        },
        {"StackStatusFilter": ["DELETE_COMPLETE"]},
    )
    # The newest deletion is the one inspected.
    cfn.add_response("list_stack_resources", {"StackResourceSummaries": resources}, {"StackName": STACK_ID})


def _resources(retained_key_status: str = "DELETE_SKIPPED") -> list[dict[str, Any]]:
    return [
        _resource("RetainedDomainKey1A2B3C4D", "AWS::KMS::Key", RETAINED_KEY, retained_key_status),
        _resource(
            "RetainedDomainResource5E6F", "Custom::ChimeVoiceProfileDomain", "dom-retained", "DELETE_SKIPPED"
        ),
        _resource(
            "DisposableDomainResource9A8B",
            "Custom::ChimeVoiceProfileDomain",
            "dom-disposable",
            "DELETE_COMPLETE",
        ),
        _resource("ChimeSpeakerSearchDataKey", "AWS::KMS::Key", DATA_KEY, "DELETE_COMPLETE"),
        _resource("NotificationQueue", "AWS::SQS::Queue", QUEUE_URL, "DELETE_COMPLETE"),
        _resource("ToResultsQueueRule", "AWS::Events::Rule", "rule-1", "DELETE_COMPLETE"),
    ]


def test_clean_deletion_leaves_only_the_retained_domain_and_key(stubbed: Any) -> None:
    clients, stubbers = stubbed
    _deleted_stack(stubbers, _resources())
    stubbers["chime-sdk-voice"].add_response(
        "get_voice_profile_domain",
        _domain("dom-retained", RETAINED_KEY),
        {"VoiceProfileDomainId": "dom-retained"},
    )
    stubbers["kms"].add_response("describe_key", _key(RETAINED_KEY, "Enabled"), {"KeyId": RETAINED_KEY})
    stubbers["kms"].add_response(
        "list_grants",
        {
            "Grants": [
                {"GranteePrincipal": "chimevoiceconnector.us-east-1.amazonaws.com", "Operations": ["Decrypt"]}
            ]
        },
        {"KeyId": RETAINED_KEY},
    )
    stubbers["chime-sdk-voice"].add_client_error(
        "get_voice_profile_domain", "NotFoundException", http_status_code=404
    )
    stubbers["kms"].add_response("describe_key", _key(DATA_KEY, "PendingDeletion"), {"KeyId": DATA_KEY})
    stubbers["sqs"].add_client_error("get_queue_attributes", "AWS.SimpleQueueService.NonExistentQueue")

    report = account_check.after_destroy(clients)

    assert report["problems"] == []
    assert report["stackId"] == STACK_ID
    observed = {c["logical_id"]: (c["expected"], c["observed"]) for c in report["checks"]}
    assert observed == {
        "RetainedDomainResource5E6F": ("retained", "exists, encrypted with the retained key"),
        "RetainedDomainKey1A2B3C4D": ("retained", "key Enabled"),
        "DisposableDomainResource9A8B": ("gone", "gone"),
        "ChimeSpeakerSearchDataKey": ("gone", "gone"),
        "NotificationQueue": ("gone", "gone"),
    }
    assert report["unchecked"] == ["AWS::Events::Rule"]
    assert report["facts"]["domainKeyGrants"][0]["granteePrincipal"].startswith("chimevoiceconnector")


def test_a_retained_key_scheduled_for_deletion_and_a_surviving_domain_are_problems(stubbed: Any) -> None:
    clients, stubbers = stubbed
    _deleted_stack(stubbers, _resources())
    stubbers["chime-sdk-voice"].add_response(
        "get_voice_profile_domain",
        _domain("dom-retained", RETAINED_KEY),
        {"VoiceProfileDomainId": "dom-retained"},
    )
    stubbers["kms"].add_response(
        "describe_key", _key(RETAINED_KEY, "PendingDeletion"), {"KeyId": RETAINED_KEY}
    )
    # The disposable domain was not deleted (e.g. the aws:ResourceTag condition did not match).
    stubbers["chime-sdk-voice"].add_response(
        "get_voice_profile_domain",
        _domain("dom-disposable", DATA_KEY),
        {"VoiceProfileDomainId": "dom-disposable"},
    )
    # The stack's data key was not scheduled for deletion.
    stubbers["kms"].add_response("describe_key", _key(DATA_KEY, "Enabled"), {"KeyId": DATA_KEY})
    stubbers["sqs"].add_client_error("get_queue_attributes", "AWS.SimpleQueueService.NonExistentQueue")

    report = account_check.after_destroy(clients)

    assert report["problems"] == [
        "RetainedDomainKey1A2B3C4D (AWS::KMS::Key): expected retained, key PendingDeletion",
        "DisposableDomainResource9A8B (Custom::ChimeVoiceProfileDomain): expected gone, still exists",
        "ChimeSpeakerSearchDataKey (AWS::KMS::Key): expected gone, key Enabled",
    ]


def test_a_retained_resource_that_cloudformation_deleted_is_a_problem(stubbed: Any) -> None:
    clients, stubbers = stubbed
    _deleted_stack(stubbers, _resources(retained_key_status="DELETE_COMPLETE")[:2])
    stubbers["chime-sdk-voice"].add_response(
        "get_voice_profile_domain",
        _domain("dom-retained", RETAINED_KEY),
        {"VoiceProfileDomainId": "dom-retained"},
    )
    stubbers["kms"].add_response(
        "describe_key", _key(RETAINED_KEY, "PendingDeletion"), {"KeyId": RETAINED_KEY}
    )

    report = account_check.after_destroy(clients)

    assert "RetainedDomainKey1A2B3C4D (AWS::KMS::Key): DELETE_COMPLETE" in report["problems"]


def test_a_stack_that_failed_to_delete_is_reported(stubbed: Any) -> None:
    clients, stubbers = stubbed
    stubbers["cloudformation"].add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "ChimeSpeakerSearchInteg",
                    "StackId": STACK_ID,
                    "CreationTime": NOW,
                    "StackStatus": "DELETE_FAILED",
                }
            ]
        },
        {"StackName": "ChimeSpeakerSearchInteg"},
    )

    report = account_check.after_destroy(clients)

    assert report["problems"] == ["stack ChimeSpeakerSearchInteg still exists (DELETE_FAILED)"]


def test_probe_reads_the_registry_per_region_and_the_rate_quotas() -> None:
    def cfn(region: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            "cloudformation", region_name=region, aws_access_key_id="t", aws_secret_access_key="t"
        )

    east, west = cfn("us-east-1"), cfn("us-west-2")
    quotas = boto3.client(  # type: ignore[call-overload]
        "service-quotas", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    with Stubber(east) as s_east, Stubber(west) as s_west, Stubber(quotas) as s_quotas:
        s_east.add_response("describe_type", {"TypeName": "AWS::Chime::VoiceConnector"})
        s_west.add_client_error("describe_type", "TypeNotFoundException", http_status_code=404)
        s_quotas.add_response(
            "list_service_quotas",
            {
                "Quotas": [
                    {"QuotaName": "Speaker search API rate", "Value": 0.0},
                    {"QuotaName": "Voice tone analysis API rate", "Value": 5.0},
                    {"QuotaName": "Meetings per account", "Value": 250.0},
                ]
            },
            {"ServiceCode": "chime"},
        )
        probed = account_check.probe({"us-east-1": east, "us-west-2": west}, quotas)

    assert probed == {
        "voiceConnectorTypeInRegistry": {"us-east-1": "present", "us-west-2": "missing"},
        "quotas": {"Speaker search API rate": 0.0, "Voice tone analysis API rate": 5.0},
    }


ASSERT_LOG = """
Running test tests/integ/integ_speaker_search.py in us-east-1
  ASSERT     integ_speaker_search-SpeakerSearchInteg/DefaultTest 912.3s
      AssertionResultsDomainEncryptedWithItsKey - success
      AssertionResultsConfigurationHasVoiceAnalyticsProcessor - success
      AssertionResultsConnectorStreamsIntoConfiguration - success
      AssertionResultsStartRefusedAsNotFoundNotAccessDenied
      Expected "errorCode": "AccessDeniedException" to match ...
      AssertionResultsResultReachedTarget - success
"""

CLEAN_AFTER = {"problems": [], "facts": {}}
PROBED = {
    "voiceConnectorTypeInRegistry": {"us-west-2": "missing"},
    "quotas": {"Speaker search API rate": 0.0},
}


def _answers(log: str, after: dict[str, Any] | None = CLEAN_AFTER) -> dict[str, str]:
    return {assumption: answer for assumption, answer, _ in account_check.verdict_rows(log, after, PROBED)}


def test_a_failed_assertion_refutes_only_its_own_assumption() -> None:
    answers = _answers(ASSERT_LOG)

    start = "the handler may start searches (IAM path end to end; unknown call -> NotFound/BadRequest)"
    assert answers[start] == "REFUTED: AssertionResultsStartRefusedAsNotFoundNotAccessDenied"
    assert answers["iam:PassedToService on the resource access role's PassRole"] == "holds"
    assert answers["SpeakerSearchStatus -> Speaker Search Result on the bus -> rule target"] == "holds"
    text, ok = account_check.verdict(ASSERT_LOG, 1, CLEAN_AFTER, PROBED)
    assert not ok
    assert "us-west-2: missing" in text
    assert "Speaker search API rate = 0" in text


def test_the_guard_and_element_failure_rows_follow_their_own_assertions() -> None:
    log = (
        "  ASSERT     integ_speaker_search 900s\n"
        "      AssertionResultsGuardFindsConfigurationAttached - success\n"
        "      AssertionResultsGuardRepairsDetachedConfiguration - success\n"
        "      AssertionResultsConnectorReattachedByGuard\n"
        "      Expected StreamingConfiguration.MediaInsightsConfiguration to match ...\n"
        "      AssertionResultsDetachedEventReachedTarget - success\n"
        "      AssertionResultsPipelineRuleMatchesElementFailure\n"
        "      Expected Result true ...\n"
        "      AssertionResultsPipelineRuleIgnoresElementsInProgress - success\n"
    )
    answers = _answers(log)
    guard = "the attachment guard compares with the ARN AWS reports attached, and may read the connector"
    assert answers[guard] == "holds"
    repair = "the guard re-attaches after a rewrite without MediaInsightsConfiguration (its Put is allowed)"
    assert answers[repair] == "REFUTED: AssertionResultsConnectorReattachedByGuard"
    event = (
        "Analytics Configuration Detached reaches a rule's target (PutEvents with source/detail-type "
        "conditions)"
    )
    assert answers[event] == "holds"
    pattern = (
        "EventBridge matches an element failure with the health rule's $or pattern (a field in an array of "
        "objects)"
    )
    assert answers[pattern] == "REFUTED: AssertionResultsPipelineRuleMatchesElementFailure"


def test_a_refused_deployment_refutes_the_policy_it_names() -> None:
    log = (
        "  FAILED     integ_speaker_search 300s\n"
        "      ChimeSpeakerSearchInteg | CREATE_FAILED | Custom::ChimeMediaInsightsPipelineConfiguration | "
        "AccessDeniedException: User is not authorized to perform: iam:PassRole on resource role/x\n"
    )

    answers = _answers(log, after=None)

    assert answers["iam:PassedToService on the resource access role's PassRole"].startswith("REFUTED")
    assert answers["kms:GrantIsForAWSResource on the domain key's CreateGrant"] == "not reached"
    assert answers["only the retained domain and its key remain after destroy"].startswith("not reached")


def test_a_refused_tag_read_refutes_the_owner_tag_row() -> None:
    log = (
        "  FAILED     integ_speaker_search 300s\n"
        "      ChimeSpeakerSearchInteg | CREATE_FAILED | Custom::ChimeVoiceConnectorStreamingAssociation | "
        "ListTagsForResource failed for media insights pipeline configuration 'x': AccessDeniedException: "
        "User is not authorized to perform: chime:ListTagsForResource\n"
    )

    answers = _answers(log, after=None)

    owner = "owner tag on create, and ListTagsForResource on domain and configuration ARNs"
    assert answers[owner].startswith("REFUTED")
    assert answers["iam:PassedToService on the resource access role's PassRole"] == "not reached"


def test_a_passing_run_with_a_clean_deletion_is_a_green_verdict() -> None:
    log = "  SUCCESS    integ_speaker_search-SpeakerSearchInteg/DefaultTest 900s\n"

    text, ok = account_check.verdict(log, 0, CLEAN_AFTER, PROBED)

    assert ok
    assert "REFUTED" not in text
    assert _answers(log)["aws:ResourceTag condition on DeleteVoiceProfileDomain"] == "holds"


def _voice() -> Any:
    return boto3.client(  # type: ignore[call-overload]
        "chime-sdk-voice", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )


KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{RETAINED_KEY}"


@pytest.mark.parametrize(
    ("second", "answer", "deleted"),
    [
        ("dom-1", "honoured: the retry returned the first domain", ["dom-1"]),
        ("dom-2", "ignored: the retry created a second domain", ["dom-1", "dom-2"]),
        ("ConflictException", "refused: the retry failed with ConflictException", ["dom-1"]),
    ],
)
def test_domain_token_settles_each_answer_and_deletes_what_it_created(
    second: str, answer: str, deleted: list[str]
) -> None:
    voice = _voice()
    with Stubber(voice) as stub:
        stub.add_response("create_voice_profile_domain", _domain("dom-1", RETAINED_KEY))
        if second.startswith("dom-"):
            stub.add_response("create_voice_profile_domain", _domain(second, RETAINED_KEY))
        else:
            stub.add_client_error("create_voice_profile_domain", second, http_status_code=409)
        for domain_id in deleted:
            stub.add_response("delete_voice_profile_domain", {}, {"VoiceProfileDomainId": domain_id})
        report = account_check.domain_token(voice, KEY_ARN, "0123456789abcdef0123456789abcdef")
        stub.assert_no_pending_responses()

    assert report["answer"] == answer


def _ready(transaction_id: str, is_caller: Any = None) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "detailStatus": "AnalyticsReady",
        "voiceConnectorId": "vc-1",
        "transactionId": transaction_id,
    }
    if is_caller is not None:
        detail["isCaller"] = is_caller
    return {"detail-type": "VoiceAnalyticsStatus", "detail": detail}


def test_analytics_ready_once_per_leg_with_is_caller() -> None:
    stream = [_ready("tx-1", True), _ready("tx-1", False), _ready("tx-2", True), _ready("tx-2", False)]
    stream.append({"detail-type": "SpeakerSearchStatus", "detail": {"transactionId": "tx-2"}})

    report = account_check.analytics_ready_per_call(iter(stream))

    assert report["answer"] == "more than once per call (per leg?); isCaller always present"
    assert report["callsByAnalyticsReadyCount"] == {"2": 2}
    assert report.pop("_newest") == ("vc-1", "tx-2")
    assert "tx-1" not in json.dumps(report)  # counts only: no call identifiers in the report


def test_analytics_ready_once_per_call_without_is_caller() -> None:
    report = account_check.analytics_ready_per_call(iter([_ready("tx-1"), _ready("tx-2", True)]))

    assert report["answer"] == "once per call; isCaller missing in some"
    assert report["calls"] == 2


def test_second_start_records_the_answer_to_each_token() -> None:
    voice = _voice()
    token = hashlib.sha256(b"vc-1|tx-1|Callee|speaker-search").hexdigest()
    with Stubber(voice) as stub:
        stub.add_response(
            "start_speaker_search_task",
            {"SpeakerSearchTask": {"SpeakerSearchTaskId": "task-1", "SpeakerSearchTaskStatus": "InProgress"}},
            {
                "VoiceConnectorId": "vc-1",
                "TransactionId": "tx-1",
                "VoiceProfileDomainId": "dom-1",
                "CallLeg": "Callee",
                "ClientRequestToken": token,  # the handler's token, as documented in manual step A
            },
        )
        stub.add_client_error("start_speaker_search_task", "ResourceLimitExceededException")
        answers = account_check.second_start(voice, "vc-1", "tx-1", "dom-1", "Callee")

    assert answers == {"handlerToken": "task-1", "freshToken": "error ResourceLimitExceededException"}


def test_manual_reports_fill_their_rows_of_the_verdict() -> None:
    manual = {
        "domain-token": {"answer": "ignored: the retry created a second domain"},
        "live-call": {
            "answer": "once per call; isCaller always present",
            "secondStart": {"freshToken": "error ConflictException"},
        },
    }

    answers = {a: answer for a, answer, _ in account_check.verdict_rows("", None, PROBED, manual)}

    assert (
        answers["ClientRequestToken honoured on CreateVoiceProfileDomain"]
        == "ignored: the retry created a second domain"
    )
    assert (
        answers["answer to a second start for a call that has a task"]
        == "freshToken: error ConflictException"
    )
    assert (
        answers["AnalyticsReady once per call or per leg; isCaller present"]
        == "once per call; isCaller always present"
    )
