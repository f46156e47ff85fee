"""Encryption on every queue, stream and log group that offers it; bounded log retention."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Synthesized

STACKS = ["example_caller", "example_callee", "single", "callee_with_options", "many", "parameter_leg"]


def _of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


@pytest.mark.parametrize("name", STACKS)
def test_queues_are_encrypted_and_tls_only(name: str, every_stack: dict[str, Synthesized]) -> None:
    template = every_stack[name].template
    queues = _of_type(template, "AWS::SQS::Queue")
    assert queues
    for logical_id, queue in queues.items():
        props = queue.get("Properties", {})
        assert props.get("KmsMasterKeyId") or props.get("SqsManagedSseEnabled"), logical_id
    secured = {
        ref["Ref"]
        for policy in _of_type(template, "AWS::SQS::QueuePolicy").values()
        if any(
            s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        )
        for ref in policy["Properties"]["Queues"]
    }
    assert secured == set(queues)


@pytest.mark.parametrize("name", STACKS)
def test_streams_are_kms_encrypted(name: str, every_stack: dict[str, Synthesized]) -> None:
    for logical_id, stream in _of_type(every_stack[name].template, "AWS::Kinesis::Stream").items():
        assert stream["Properties"]["StreamEncryption"]["EncryptionType"] == "KMS", logical_id


@pytest.mark.parametrize("name", STACKS)
def test_log_groups_are_encrypted_with_bounded_retention(
    name: str, every_stack: dict[str, Synthesized]
) -> None:
    template = every_stack[name].template
    log_groups = _of_type(template, "AWS::Logs::LogGroup")
    functions = _of_type(template, "AWS::Lambda::Function")
    machines = _of_type(template, "AWS::StepFunctions::StateMachine")
    for logical_id, log_group in log_groups.items():
        assert log_group["Properties"]["KmsKeyId"], logical_id
        assert 0 < log_group["Properties"]["RetentionInDays"] <= 365, logical_id
    # Every function, including the Provider framework's, and every state machine (the framework's
    # waiter) writes to a log group declared here; every log group declared here is written to.
    used = set()
    for logical_id, function in functions.items():
        reference = function["Properties"]["LoggingConfig"]["LogGroup"]
        assert reference["Ref"] in log_groups, logical_id
        used.add(reference["Ref"])
    for logical_id, machine in machines.items():
        (destination,) = machine["Properties"]["LoggingConfiguration"]["Destinations"]
        (target, _) = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"]
        assert target in log_groups, logical_id
        used.add(target)
    assert used == set(log_groups)


@pytest.mark.parametrize("name", STACKS)
def test_keys_rotate(name: str, every_stack: dict[str, Synthesized]) -> None:
    keys = _of_type(every_stack[name].template, "AWS::KMS::Key")
    assert keys
    for logical_id, key in keys.items():
        assert key["Properties"]["EnableKeyRotation"] is True, logical_id
