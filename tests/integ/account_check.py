"""Account verification kit: what the integ run leaves behind, read-only probes, and the verdict.

Subcommands (run from any folder; they use the caller's AWS credentials and Region, us-east-1):

``after-destroy``
    integ-runner's post-destroy hook. Reads CloudFormation's record of the deleted test stack and
    checks that everything is gone except the retained voice profile domain and its key, which
    must still exist (the key enabled). Writes ``.verdict/after-destroy.json`` beside this file;
    exits 1 with the reasons on stderr when the deletion left anything else (or removed those).
``probe``
    Read-only facts that need no deployment: whether CloudFormation's registry has
    ``AWS::Chime::VoiceConnector`` in us-east-1 and us-west-2, and the account's voice analytics
    API-rate quotas. Writes ``.verdict/probe.json``.
``verdict --integ-log LOG --integ-status N``
    Runs ``probe``, then prints (and writes to ``.verdict/verdict.md``) one line per assumption in
    docs/verifying-in-an-account.md: what this account answered, or that a manual step is needed.
    Exits 0 only when the integ run passed and no answer contradicts what the code expects.
``domain-token --key-arn ARN``
    Settles whether ``CreateVoiceProfileDomain`` honours ``ClientRequestToken``: creates a domain
    twice with one fresh token (the retained key of an integ run will do), records whether the
    second call returned the first domain, an error, or a second domain, and deletes what it
    created. Needs one free domain slot (two if the token is ignored). Writes
    ``.verdict/domain-token.json``.
``live-call [--stack NAME] [--start-again]``
    After a real call through a deployed stack's connector (manual steps A and B of the page):
    counts the ``AnalyticsReady`` notifications per transaction in the stack's Kinesis sink and
    whether they carry ``isCaller``; with ``--start-again`` and the call still live, starts the
    newest call's search again, once with the handler's token and once with a fresh one, and
    records each answer. Writes ``.verdict/live-call.json``; prints counts and codes, never a
    call ID.
``cleanup --yes``
    Deletes the voice profile domains that integ runs retained (tagged with a deleted
    ChimeSpeakerSearchInteg stack) and schedules their keys for deletion in 7 days, freeing the
    3-domain default quota. It deletes voiceprints: run it only in a sandbox.

Nothing here logs phone numbers, SIP headers or call IDs: it reads only resource metadata.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import boto3
import botocore.exceptions

STACK_NAME = "ChimeSpeakerSearchInteg"
REGION = "us-east-1"
VOICE_ANALYTICS_REGIONS = ("us-east-1", "us-west-2")
#: The only resources the test stack may leave behind (logical IDs start with this).
RETAINED_PREFIX = "RetainedDomain"
OWNER_TAG = "chime-speaker-search:stack"
VERDICT_DIR = pathlib.Path(__file__).resolve().parent / ".verdict"

Client = Any  # boto3 clients of services without installed type stubs


def client(service: str, region: str = REGION) -> Client:
    return boto3.client(service, region_name=region)


def error_code(exc: Exception) -> str | None:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code"))
    return None


# --- after-destroy -------------------------------------------------------------------------------


@dataclass
class Check:
    logical_id: str
    resource_type: str
    expected: str  # "gone" or "retained"
    observed: str
    ok: bool


def _gone_if(codes: tuple[str, ...], call: Callable[[], Any], still_there: str = "still exists") -> str:
    """'gone' when ``call`` fails with one of ``codes``, else what it found."""
    try:
        call()
    except botocore.exceptions.ClientError as exc:
        code = error_code(exc)
        return "gone" if code in codes else f"unexpected error {code}"
    return still_there


def _key_state(kms: Client, key_id: str) -> str:
    try:
        return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"])
    except botocore.exceptions.ClientError as exc:
        return "gone" if error_code(exc) == "NotFoundException" else f"unexpected error {error_code(exc)}"


def observe_deleted(resource: dict[str, Any], clients: dict[str, Client]) -> str | None:
    """What is left of a resource CloudFormation deleted: 'gone', or what was found (None: not checked)."""
    kind, physical = resource["ResourceType"], resource.get("PhysicalResourceId") or ""
    voice, pipelines = clients["chime-sdk-voice"], clients["chime-sdk-media-pipelines"]
    if kind == "Custom::ChimeVoiceProfileDomain":
        return _gone_if(
            ("NotFoundException",), lambda: voice.get_voice_profile_domain(VoiceProfileDomainId=physical)
        )
    if kind == "Custom::ChimeMediaInsightsPipelineConfiguration":
        return _gone_if(
            ("NotFoundException",),
            lambda: pipelines.get_media_insights_pipeline_configuration(Identifier=physical),
        )
    if kind == "AWS::Chime::VoiceConnector":
        return _gone_if(("NotFoundException",), lambda: voice.get_voice_connector(VoiceConnectorId=physical))
    if kind == "AWS::KMS::Key":
        state = _key_state(clients["kms"], physical)
        return "gone" if state in ("gone", "PendingDeletion") else f"key {state}"
    if kind == "AWS::SQS::Queue":
        return _gone_if(
            ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"),
            lambda: clients["sqs"].get_queue_attributes(QueueUrl=physical, AttributeNames=["QueueArn"]),
        )
    if kind == "AWS::Lambda::Function":
        return _gone_if(
            ("ResourceNotFoundException",), lambda: clients["lambda"].get_function(FunctionName=physical)
        )
    if kind == "AWS::Kinesis::Stream":
        return _gone_if(
            ("ResourceNotFoundException",),
            lambda: clients["kinesis"].describe_stream_summary(StreamName=physical),
        )
    if kind == "AWS::IAM::Role":
        return _gone_if(("NoSuchEntity",), lambda: clients["iam"].get_role(RoleName=physical))
    if kind == "AWS::Logs::LogGroup":
        groups = clients["logs"].describe_log_groups(logGroupNamePrefix=physical)["logGroups"]
        return "still exists" if any(g["logGroupName"] == physical for g in groups) else "gone"
    return None


def observe_retained(
    resources: list[dict[str, Any]], clients: dict[str, Client]
) -> tuple[list[Check], dict[str, Any]]:
    """The retained domain must exist, encrypted with the retained key, which must be enabled."""
    checks: list[Check] = []
    facts: dict[str, Any] = {}
    domain = next((r for r in resources if r["ResourceType"] == "Custom::ChimeVoiceProfileDomain"), None)
    key = next((r for r in resources if r["ResourceType"] == "AWS::KMS::Key"), None)
    if domain is not None:
        try:
            found = clients["chime-sdk-voice"].get_voice_profile_domain(
                VoiceProfileDomainId=domain["PhysicalResourceId"]
            )["VoiceProfileDomain"]
            key_arn = found.get("ServerSideEncryptionConfiguration", {}).get("KmsKeyArn", "")
            same_key = key is not None and key_arn.endswith(key["PhysicalResourceId"])
            observed = "exists, encrypted with the retained key" if same_key else f"exists, key {key_arn!r}"
            checks.append(
                Check(domain["LogicalResourceId"], domain["ResourceType"], "retained", observed, same_key)
            )
            facts["retainedDomainId"] = domain["PhysicalResourceId"]
        except botocore.exceptions.ClientError as exc:
            checks.append(
                Check(
                    domain["LogicalResourceId"],
                    domain["ResourceType"],
                    "retained",
                    str(error_code(exc)),
                    False,
                )
            )
    if key is not None:
        state = _key_state(clients["kms"], key["PhysicalResourceId"])
        checks.append(
            Check(
                key["LogicalResourceId"], key["ResourceType"], "retained", f"key {state}", state == "Enabled"
            )
        )
        if state == "Enabled":
            # Evidence for kms:GrantIsForAWSResource: the grants the service made on the domain key.
            grants = clients["kms"].list_grants(KeyId=key["PhysicalResourceId"]).get("Grants", [])
            facts["domainKeyGrants"] = [
                {"granteePrincipal": g.get("GranteePrincipal"), "operations": g.get("Operations", [])}
                for g in grants
            ]
    return checks, facts


def deleted_stack_resources(
    cfn: Client, stack_name: str
) -> tuple[str | None, list[dict[str, Any]], str | None]:
    """(stack ID, resources) of the newest deletion of ``stack_name``; an error text if there is none."""
    try:
        live = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except botocore.exceptions.ClientError:
        live = []
    if live:
        return None, [], f"stack {stack_name} still exists ({live[0]['StackStatus']})"
    deleted = [
        summary
        for page in cfn.get_paginator("list_stacks").paginate(StackStatusFilter=["DELETE_COMPLETE"])
        for summary in page["StackSummaries"]
        if summary["StackName"] == stack_name
    ]
    if not deleted:
        return None, [], f"no deleted stack named {stack_name} in {REGION}"
    stack_id = str(max(deleted, key=lambda s: s["DeletionTime"])["StackId"])
    resources = [
        r
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_id)
        for r in page["StackResourceSummaries"]
    ]
    return stack_id, resources, None


def after_destroy(clients: dict[str, Client], stack_name: str = STACK_NAME) -> dict[str, Any]:
    stack_id, resources, problem = deleted_stack_resources(clients["cloudformation"], stack_name)
    report: dict[str, Any] = {
        "stack": stack_name,
        "stackId": stack_id,
        "problems": [],
        "checks": [],
        "facts": {},
    }
    if problem:
        report["problems"].append(problem)
        return report
    retained = [r for r in resources if r["LogicalResourceId"].startswith(RETAINED_PREFIX)]
    retained_types = sorted(r["ResourceType"] for r in retained)
    if retained_types != ["AWS::KMS::Key", "Custom::ChimeVoiceProfileDomain"]:
        report["problems"].append(f"expected the retained domain and its key, found {retained_types}")
    for r in resources:
        expected = "DELETE_SKIPPED" if r in retained else "DELETE_COMPLETE"
        if r["ResourceStatus"] != expected:
            report["problems"].append(
                f"{r['LogicalResourceId']} ({r['ResourceType']}): {r['ResourceStatus']}"
            )
    checks, facts = observe_retained(retained, clients)
    for r in resources:
        if r in retained or r["ResourceStatus"] != "DELETE_COMPLETE":
            continue
        observed = observe_deleted(r, clients)
        if observed is not None:
            checks.append(
                Check(r["LogicalResourceId"], r["ResourceType"], "gone", observed, observed == "gone")
            )
    report["checks"] = [asdict(c) for c in checks]
    report["facts"] = facts
    report["problems"] += [
        f"{c.logical_id} ({c.resource_type}): expected {c.expected}, {c.observed}" for c in checks if not c.ok
    ]
    report["unchecked"] = sorted(
        {
            r["ResourceType"]
            for r in resources
            if r not in retained and not observe_kind_known(r["ResourceType"])
        }
    )
    return report


def observe_kind_known(resource_type: str) -> bool:
    return resource_type in {
        "Custom::ChimeVoiceProfileDomain",
        "Custom::ChimeMediaInsightsPipelineConfiguration",
        "AWS::Chime::VoiceConnector",
        "AWS::KMS::Key",
        "AWS::SQS::Queue",
        "AWS::Lambda::Function",
        "AWS::Kinesis::Stream",
        "AWS::IAM::Role",
        "AWS::Logs::LogGroup",
    }


SERVICES = (
    "cloudformation",
    "chime-sdk-voice",
    "chime-sdk-media-pipelines",
    "kms",
    "sqs",
    "lambda",
    "kinesis",
    "iam",
    "logs",
)


def real_clients() -> dict[str, Client]:
    return {name: client(name) for name in SERVICES}


# --- probe ---------------------------------------------------------------------------------------


def probe(cfn_by_region: dict[str, Client], quotas: Client) -> dict[str, Any]:
    registry: dict[str, str] = {}
    for region, cfn in cfn_by_region.items():
        try:
            cfn.describe_type(Type="RESOURCE", TypeName="AWS::Chime::VoiceConnector")
            registry[region] = "present"
        except botocore.exceptions.ClientError as exc:
            registry[region] = (
                "missing" if error_code(exc) == "TypeNotFoundException" else f"error {error_code(exc)}"
            )
    rates: dict[str, float] = {}
    try:
        for page in quotas.get_paginator("list_service_quotas").paginate(ServiceCode="chime"):
            for quota in page["Quotas"]:
                name = str(quota.get("QuotaName", ""))
                if re.search(r"speaker search|voice tone|voice profile", name, re.IGNORECASE):
                    rates[name] = float(quota.get("Value", 0))
    except botocore.exceptions.ClientError as exc:
        rates[f"error {error_code(exc)}"] = -1
    return {"voiceConnectorTypeInRegistry": registry, "quotas": rates}


# --- verdict -------------------------------------------------------------------------------------

_RESULT_LINE = re.compile(r"AssertionResults(\w+?)(?: - (success))?\s*$")


def assertion_results(log: str) -> dict[str, str]:
    """Assertion ID -> 'success' / 'fail' from integ-runner's output ('passed' for all on SUCCESS)."""
    results: dict[str, str] = {}
    for line in log.splitlines():
        match = _RESULT_LINE.search(line.strip())
        if match:
            results[match.group(1)] = "success" if match.group(2) else "fail"
    return results


def run_outcome(log: str) -> str:
    for marker, outcome in (
        ("SUCCESS ", "passed"),
        ("ASSERT ", "assertions failed"),
        ("FAILED ", "failed"),
        ("ERROR ", "error"),
    ):
        if re.search(rf"^\s*{marker}", log, re.MULTILINE):
            return outcome
    return "did not run"


def _assertion(results: dict[str, str], outcome: str, *ids: str) -> str:
    if outcome == "passed":
        return "holds"
    states = [results.get(i) for i in ids]
    if states and all(s == "success" for s in states):
        return "holds"
    if any(s == "fail" for s in states):
        return "REFUTED: " + ", ".join(
            f"AssertionResults{i}" for i, s in zip(ids, states, strict=True) if s == "fail"
        )
    return "not reached"


def _deploy_refuted(log: str, *needles: str) -> bool:
    """Whether the run failed on an authorisation error that names one of ``needles``."""
    return any(
        re.search(rf"(AccessDenied|not authorized|UnauthorizedOperation).*{re.escape(n)}", log)
        or re.search(rf"{re.escape(n)}.*(AccessDenied|not authorized)", log)
        for n in needles
    )


def verdict_rows(
    log: str, after: dict[str, Any] | None, probed: dict[str, Any], manual: dict[str, Any] | None = None
) -> list[tuple[str, str, str]]:
    results, outcome = assertion_results(log), run_outcome(log)
    manual = manual or {}
    token = manual.get("domain-token", {}).get("answer", "manual step")
    call = manual.get("live-call", {})
    starts = call.get("secondStart")

    def deployed(assertion_ids: tuple[str, ...], *needles: str) -> str:
        if _deploy_refuted(log, *needles):
            return "REFUTED: the deployment was refused (see the log)"
        return _assertion(results, outcome, *assertion_ids)

    def destroyed() -> str:
        if after is None:
            return "not reached (no after-destroy report)"
        return "holds" if not after.get("problems") else "REFUTED: " + "; ".join(after["problems"])

    registry = probed.get("voiceConnectorTypeInRegistry", {})
    quotas = probed.get("quotas", {})
    grants = (after or {}).get("facts", {}).get("domainKeyGrants")
    return [
        (
            "iam:PassedToService on the resource access role's PassRole",
            deployed(("ConfigurationHasVoiceAnalyticsProcessor",), "iam:PassRole"),
            "deploy + ConfigurationHas*",
        ),
        (
            "kms:GrantIsForAWSResource on the domain key's CreateGrant",
            deployed(("DomainEncryptedWithItsKey",), "kms:CreateGrant")
            + (f" (grants on the retained key: {json.dumps(grants)})" if grants else ""),
            "deploy + DomainEncryptedWithItsKey",
        ),
        (
            "configuration ARN as a resource of PutVoiceConnectorStreamingConfiguration",
            deployed(("ConnectorStreamsIntoConfiguration",), "PutVoiceConnectorStreamingConfiguration"),
            "deploy + ConnectorStreamsIntoConfiguration",
        ),
        (
            "owner tag on create, and ListTagsForResource on domain and configuration ARNs",
            deployed(
                ("DomainCarriesOwnerTag", "ConfigurationCarriesOwnerTag"),
                "ListTagsForResource",
                "TagResource",
            ),
            "deploy + DomainCarriesOwnerTag, ConfigurationCarriesOwnerTag",
        ),
        (
            "streaming settings found on the connector are kept",
            _assertion(results, outcome, "ConnectorStreamsIntoConfiguration"),
            "ConnectorStreamsIntoConfiguration",
        ),
        (
            "the handler may start searches (IAM path end to end; unknown call -> NotFound/BadRequest)",
            _assertion(results, outcome, "StartRefusedAsNotFoundNotAccessDenied"),
            "StartRefusedAsNotFoundNotAccessDenied",
        ),
        (
            "SpeakerSearchStatus -> Speaker Search Result on the bus -> rule target",
            _assertion(results, outcome, "ResultReachedTarget"),
            "ResultReachedTarget",
        ),
        (
            "the attachment guard compares with the ARN AWS reports attached, and may read the connector",
            _assertion(results, outcome, "GuardFindsConfigurationAttached"),
            "GuardFindsConfigurationAttached",
        ),
        (
            "the guard re-attaches after a rewrite without MediaInsightsConfiguration (its Put is allowed)",
            _assertion(results, outcome, "GuardRepairsDetachedConfiguration", "ConnectorReattachedByGuard"),
            "GuardRepairsDetachedConfiguration, ConnectorReattachedByGuard",
        ),
        (
            "Analytics Configuration Detached reaches a rule's target (PutEvents with source/detail-type "
            "conditions)",
            _assertion(results, outcome, "DetachedEventReachedTarget"),
            "DetachedEventReachedTarget",
        ),
        (
            "EventBridge matches an element failure with the health rule's $or pattern (a field in an array "
            "of objects)",
            _assertion(
                results, outcome, "PipelineRuleMatchesElementFailure", "PipelineRuleIgnoresElementsInProgress"
            ),
            "PipelineRuleMatchesElementFailure, PipelineRuleIgnoresElementsInProgress",
        ),
        (
            "aws:ResourceTag condition on DeleteVoiceProfileDomain",
            destroyed() if after else "not reached",
            "destroy of DisposableDomain + after-destroy",
        ),
        ("only the retained domain and its key remain after destroy", destroyed(), "after-destroy"),
        (
            "CloudFormation registry has AWS::Chime::VoiceConnector (cfn-lint says not in us-west-2)",
            ", ".join(f"{r}: {v}" for r, v in registry.items()) or "not probed",
            "probe",
        ),
        (
            "voice analytics API-rate quotas (published default 0)",
            ", ".join(f"{n} = {v:g}" for n, v in quotas.items()) or "none listed",
            "probe",
        ),
        ("ClientRequestToken honoured on CreateVoiceProfileDomain", token, "account_check.py domain-token"),
        (
            "answer to a second start for a call that has a task",
            ", ".join(f"{k}: {v}" for k, v in starts.items()) if starts else "manual step (live call)",
            "account_check.py live-call --start-again",
        ),
        (
            "AnalyticsReady once per call or per leg; isCaller present",
            call.get("answer", "manual step (live call)"),
            "account_check.py live-call",
        ),
    ]


def verdict(
    log: str,
    status: int,
    after: dict[str, Any] | None,
    probed: dict[str, Any],
    manual: dict[str, Any] | None = None,
) -> tuple[str, bool]:
    rows = verdict_rows(log, after, probed, manual)
    lines = [
        f"integ-runner: {run_outcome(log)} (exit {status})",
        "",
        "| assumption | this account's answer | settled by |",
        "|---|---|---|",
        *[f"| {a} | {answer} | {source} |" for a, answer, source in rows],
    ]
    ok = status == 0 and not any(answer.startswith("REFUTED") for _, answer, _ in rows)
    return "\n".join(lines) + "\n", ok


# --- domain-token and live-call -----------------------------------------------------------------


def _answer(call: Callable[[], dict[str, Any]], key: str) -> str:
    """The value at ``key`` of a successful answer, or ``error <code>``."""
    try:
        return str(call()[key])
    except botocore.exceptions.ClientError as exc:
        return f"error {error_code(exc)}"


def domain_token(voice: Client, key_arn: str, token: str) -> dict[str, Any]:
    """Create a domain twice with one token; delete whatever was created."""

    def create() -> dict[str, Any]:
        domain: dict[str, Any] = voice.create_voice_profile_domain(
            Name=f"chime-speaker-search-token-probe-{token[:8]}",
            ServerSideEncryptionConfiguration={"KmsKeyArn": key_arn},
            ClientRequestToken=token,
        )["VoiceProfileDomain"]
        return domain

    first = _answer(create, "VoiceProfileDomainId")
    second = _answer(create, "VoiceProfileDomainId")
    if first.startswith("error"):
        answer = f"inconclusive: the first create failed ({first})"
    elif second == first:
        answer = "honoured: the retry returned the first domain"
    elif second.startswith("error"):
        answer = f"refused: the retry failed with {second.removeprefix('error ')}"
    else:
        answer = "ignored: the retry created a second domain"
    for domain_id in dict.fromkeys((first, second)):  # each created domain once, in order
        if not domain_id.startswith("error"):
            voice.delete_voice_profile_domain(VoiceProfileDomainId=domain_id)
    return {"answer": answer, "first": first, "second": second}


def handler_token(voice_connector_id: str, transaction_id: str, call_leg: str) -> str:
    """The handler's own ClientRequestToken: one implementation, run from lambda/ as in Lambda.

    A child process imports it, so the handler's top-level module names (tasks, settings...)
    never enter this process's sys.path or sys.modules.
    """
    root = pathlib.Path(__file__).resolve().parents[2] / "lambda"
    program = (
        "import sys; sys.path[:0] = sys.argv[1:3]; import task_kinds; "
        "print(task_kinds.client_request_token(*sys.argv[3:6]))"
    )
    command = [sys.executable, "-c", program, str(root / "_common"), str(root / "speaker_search")]
    output = subprocess.run(
        [*command, voice_connector_id, transaction_id, call_leg], capture_output=True, text=True, check=True
    )
    return output.stdout.strip()


def notifications_in_stream(
    kinesis: Client, stream_name: str, max_batches: int = 200
) -> Iterator[dict[str, Any]]:
    """Every JSON record of the stream (all shards, from the oldest), bounded in batches."""
    for shard in kinesis.list_shards(StreamName=stream_name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for _ in range(max_batches):
            batch = kinesis.get_records(ShardIterator=iterator, Limit=1000)
            for record in batch["Records"]:
                try:
                    notification = json.loads(record["Data"])
                except ValueError:
                    continue
                if isinstance(notification, dict):
                    yield notification
            iterator = batch.get("NextShardIterator")
            if not iterator or batch.get("MillisBehindLatest", 0) == 0:
                break


def analytics_ready_per_call(notifications: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """How many AnalyticsReady each transaction got, and whether they carry isCaller (no IDs kept)."""
    per_call: dict[str, list[Any]] = {}
    newest: tuple[str, str] | None = None
    for notification in notifications:
        detail = notification.get("detail")
        if notification.get("detail-type") != "VoiceAnalyticsStatus" or not isinstance(detail, dict):
            continue
        if detail.get("detailStatus") != "AnalyticsReady" or not isinstance(detail.get("transactionId"), str):
            continue
        per_call.setdefault(detail["transactionId"], []).append(detail.get("isCaller"))
        newest = (str(detail.get("voiceConnectorId")), detail["transactionId"])
    counts: dict[str, int] = {}
    for legs in per_call.values():
        counts[str(len(legs))] = counts.get(str(len(legs)), 0) + 1
    flags = [flag for legs in per_call.values() for flag in legs]
    answer = "no AnalyticsReady in the stream"
    if per_call:
        once = all(len(legs) == 1 for legs in per_call.values())
        answer = "once per call" if once else "more than once per call (per leg?)"
        answer += "; isCaller " + (
            "always present" if all(isinstance(f, bool) for f in flags) else "missing in some"
        )
    return {"answer": answer, "calls": len(per_call), "callsByAnalyticsReadyCount": counts, "_newest": newest}


def second_start(
    voice: Client, voice_connector_id: str, transaction_id: str, domain_id: str, call_leg: str
) -> dict[str, str]:
    """Start the call's search again with the handler's token and with a fresh one."""
    answers = {}
    for label, token in (
        ("handlerToken", handler_token(voice_connector_id, transaction_id, call_leg)),
        ("freshToken", uuid.uuid4().hex),
    ):

        def start(token: str = token) -> dict[str, Any]:
            response: dict[str, Any] = voice.start_speaker_search_task(
                VoiceConnectorId=voice_connector_id,
                TransactionId=transaction_id,
                VoiceProfileDomainId=domain_id,
                CallLeg=call_leg,
                ClientRequestToken=token,
            )["SpeakerSearchTask"]
            return response

        answers[label] = _answer(start, "SpeakerSearchTaskId")
    return answers


def live_call(clients: dict[str, Client], stack_name: str, start_again: bool) -> dict[str, Any]:
    resources = [
        r
        for page in clients["cloudformation"]
        .get_paginator("list_stack_resources")
        .paginate(StackName=stack_name)
        for r in page["StackResourceSummaries"]
    ]
    streams = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::Kinesis::Stream"]
    if not streams:
        return {"problems": [f"stack {stack_name} has no Kinesis data stream sink"]}
    report = analytics_ready_per_call(notifications_in_stream(clients["kinesis"], streams[0]))
    newest = report.pop("_newest")
    if start_again and newest is not None:
        settings = {}
        for r in resources:
            if r["ResourceType"] == "AWS::Lambda::Function":
                env = clients["lambda"].get_function_configuration(FunctionName=r["PhysicalResourceId"])
                variables = env.get("Environment", {}).get("Variables", {})
                if "VOICE_PROFILE_DOMAIN_ID" in variables:
                    settings = variables
        voice_connector_id, transaction_id = newest
        report["secondStart"] = second_start(
            clients["chime-sdk-voice"],
            voice_connector_id,
            transaction_id,
            settings["VOICE_PROFILE_DOMAIN_ID"],
            settings["CALL_LEG"],
        )
    return report


# --- cleanup -------------------------------------------------------------------------------------


def integ_domains(voice: Client, cfn: Client) -> Iterator[dict[str, Any]]:
    """Voice profile domains tagged with a ChimeSpeakerSearchInteg stack that no longer exists."""
    for page in voice.get_paginator("list_voice_profile_domains").paginate():
        for summary in page["VoiceProfileDomains"]:
            tags = voice.list_tags_for_resource(ResourceARN=summary["VoiceProfileDomainArn"]).get("Tags", [])
            owner = next((t["Value"] for t in tags if t["Key"] == OWNER_TAG), "")
            if f":stack/{STACK_NAME}/" in owner:
                status = cfn.describe_stacks(StackName=owner)["Stacks"][0]["StackStatus"]
                if status == "DELETE_COMPLETE":
                    yield summary


def cleanup(voice: Client, cfn: Client, kms: Client) -> list[str]:
    done = []
    for summary in list(integ_domains(voice, cfn)):
        domain = voice.get_voice_profile_domain(VoiceProfileDomainId=summary["VoiceProfileDomainId"])
        key_arn = domain["VoiceProfileDomain"]["ServerSideEncryptionConfiguration"]["KmsKeyArn"]
        voice.delete_voice_profile_domain(VoiceProfileDomainId=summary["VoiceProfileDomainId"])
        kms.schedule_key_deletion(KeyId=key_arn, PendingWindowInDays=7)
        done.append(f"deleted domain {summary['VoiceProfileDomainId']}, key {key_arn} scheduled for deletion")
    return done


# --- command line --------------------------------------------------------------------------------


def _write(name: str, content: str) -> pathlib.Path:
    VERDICT_DIR.mkdir(exist_ok=True)
    path = VERDICT_DIR / name
    path.write_text(content)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("after-destroy")
    commands.add_parser("probe")
    command = commands.add_parser("verdict")
    command.add_argument("--integ-log", type=pathlib.Path, required=True)
    command.add_argument("--integ-status", type=int, required=True)
    command = commands.add_parser("domain-token")
    command.add_argument(
        "--key-arn", required=True, help="a symmetric KMS key, e.g. an integ run's retained key"
    )
    command = commands.add_parser("live-call")
    command.add_argument("--stack", default=STACK_NAME)
    command.add_argument(
        "--start-again", action="store_true", help="start the newest call's search twice more"
    )
    command = commands.add_parser("cleanup")
    command.add_argument("--yes", action="store_true", help="really delete (voiceprints included)")
    args = parser.parse_args(argv)

    if args.command == "after-destroy":
        report = after_destroy(real_clients())
        _write("after-destroy.json", json.dumps(report, indent=2, default=str))
        for problem in report["problems"]:
            print(f"after-destroy: {problem}", file=sys.stderr)
        return 1 if report["problems"] else 0
    if args.command in ("probe", "verdict"):
        probed = probe(
            {r: client("cloudformation", r) for r in VOICE_ANALYTICS_REGIONS}, client("service-quotas")
        )
        _write("probe.json", json.dumps(probed, indent=2))
        if args.command == "probe":
            print(json.dumps(probed, indent=2))
            return 0
        reports = {
            name: json.loads((VERDICT_DIR / f"{name}.json").read_text())
            for name in ("after-destroy", "domain-token", "live-call")
            if (VERDICT_DIR / f"{name}.json").exists()
        }
        log = args.integ_log.read_text() if args.integ_log.exists() else ""
        text, ok = verdict(log, args.integ_status, reports.get("after-destroy"), probed, reports)
        print(text)
        print(f"(written to {_write('verdict.md', text)})")
        return 0 if ok else 1
    if args.command in ("domain-token", "live-call"):
        if args.command == "domain-token":
            report = domain_token(client("chime-sdk-voice"), args.key_arn, uuid.uuid4().hex)
        else:
            report = live_call(real_clients(), args.stack, args.start_again)
        _write(f"{args.command}.json", json.dumps(report, indent=2))
        print(json.dumps(report, indent=2))
        return 0
    if not args.yes:
        print("cleanup deletes voice profile domains and their voiceprints: add --yes", file=sys.stderr)
        return 2
    for line in cleanup(client("chime-sdk-voice"), client("cloudformation"), client("kms")):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
