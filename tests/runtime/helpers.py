"""Helpers for the runtime tests (importable, unlike conftest fixtures)."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
import settings
from botocore.stub import Stubber


def reconfigure(mod: ModuleType, monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """Change handler environment variables and make the handler reread them (clients are kept)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.reset()


@dataclass
class Stubs:
    chime: Stubber
    events: Stubber
    put_events_calls: list[dict[str, Any]]

    def published_details(self) -> list[dict[str, Any]]:
        return [json.loads(e["Detail"]) for call in self.put_events_calls for e in call["Entries"]]


class FakeContext:
    """The part of the Lambda context the handler uses: a deadline that really counts down."""

    aws_request_id = "req-test"

    def __init__(self, remaining_ms: int) -> None:
        self._deadline = time.monotonic() + remaining_ms / 1000.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def logged(caplog: pytest.LogCaptureFixture, message: str, **match: Any) -> list[logging.LogRecord]:
    """Records with this message whose extra fields equal ``match``."""
    return [
        r
        for r in caplog.records
        if r.getMessage() == message and all(getattr(r, k, None) == v for k, v in match.items())
    ]


#: The voice profile domain the enrollment tests configure.
VOICE_PROFILE_DOMAIN = "vpd-0123456789"


def put_ok(stubs: Stubs, count: int = 1) -> None:
    """Queue ``count`` successful PutEvents answers."""
    for _ in range(count):
        stubs.events.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e"}]})


def events_of(stubs: Stubs) -> list[tuple[str, dict[str, Any]]]:
    """Every published event as (detail-type, detail), in order."""
    return [
        (e["DetailType"], json.loads(e["Detail"])) for call in stubs.put_events_calls for e in call["Entries"]
    ]


def listing(stubs: Stubs, *summaries: dict[str, Any], domain: str = VOICE_PROFILE_DOMAIN) -> None:
    """Queue one ListVoiceProfiles page holding ``summaries``."""
    stubs.chime.add_response(
        "list_voice_profiles",
        {"VoiceProfiles": list(summaries)},
        {"VoiceProfileDomainId": domain, "MaxResults": 100},
    )


def state_item(table: str, key: str) -> dict[str, Any] | None:
    """The state table's item ``key`` as DynamoDB stores it (moto), or None."""
    found: dict[str, Any] | None = (
        boto3.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": key}}).get("Item")
    )
    return found


#: Where the enrollment tests' tasks ran (the task index binds each to this call).
INDEXED_CONNECTOR, INDEXED_TRANSACTION = "vc-one", "tx-enrolled"


def index_tasks(table: str, *task_ids: str, kind: str = "speaker_search") -> None:
    """Index ``task_ids`` as this construct's tasks (as a start's answer would)."""
    import aws_calls
    import task_index

    for task_id in task_ids:
        task_index.record(
            table,
            task_id,
            kind=kind,
            voice_connector_id=INDEXED_CONNECTOR,
            transaction_id=INDEXED_TRANSACTION,
            call_leg="Caller",
            deadline=aws_calls.Deadline.after(30),
        )


def voiceprints_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every task's voiceprint is ready (task_scope.readiness is tested on its own, with a Stubber)."""
    import task_scope

    monkeypatch.setattr(task_scope, "readiness", lambda *_, **__: task_scope.Ready())


def in_domain(stubs: Stubs, profile_id: str = "vp-1", domain: str = VOICE_PROFILE_DOMAIN) -> None:
    """Queue the GetVoiceProfile answer that puts ``profile_id`` in ``domain``."""
    stubs.chime.add_response(
        "get_voice_profile",
        {
            "VoiceProfile": {
                "VoiceProfileId": profile_id,
                "VoiceProfileArn": f"arn:aws:chime:us-east-1:111122223333:voice-profile/{profile_id}",
                "VoiceProfileDomainId": domain,
            }
        },
        {"VoiceProfileId": profile_id},
    )
