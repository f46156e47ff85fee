"""Consent per call in the state table (``call#<sha256(connector|transaction)>``).

The item records whether ``AnalyticsReady`` has arrived and the latest consent decision, so
consent and the notification can arrive in either order (``consent.py``, ``tasks.py``).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, NamedTuple

import aws_calls
import state

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef


class CallRecord(NamedTuple):
    consent: str | None  # GRANTED, DECLINED or None (no decision yet)
    consent_reference: str | None
    decided_at: str | None
    ready: bool  # AnalyticsReady has arrived


def call_key(voice_connector_id: str, transaction_id: str) -> str:
    digest = hashlib.sha256(f"{voice_connector_id}|{transaction_id}".encode()).hexdigest()
    return f"call#{digest}"


def note_analytics_ready(
    table: str, voice_connector_id: str, transaction_id: str, deadline: aws_calls.Deadline
) -> CallRecord:
    """Record that the call is ready to be searched; return the call's state after the write."""
    response = state.update(
        table,
        call_key(voice_connector_id, transaction_id),
        "SET ready = :true, expiresAt = if_not_exists(expiresAt, :exp)",
        {":true": {"BOOL": True}, ":exp": state.number(state._now() + state.CALL_TTL_S)},
        deadline,
        return_values="ALL_NEW",
        names=False,
    )
    return _call_record(response.get("Attributes"))


def record_consent(
    table: str,
    voice_connector_id: str,
    transaction_id: str,
    *,
    consent: str,
    consent_reference: str | None,
    decided_at: str,
    deadline: aws_calls.Deadline,
) -> tuple[CallRecord, bool]:
    """Store a decision unless a later one is stored; return (the call's state, applied?).

    The latest decision wins, by the request event's ``time`` (ISO 8601 UTC, compared as text).
    On a tie ``declined`` wins: when in doubt, do not search.
    """
    key = call_key(voice_connector_id, transaction_id)
    values: dict[str, AttributeValueTypeDef] = {
        ":c": state.string(consent),
        ":t": state.string(decided_at),
        ":declined": state.string(state.DECLINED),
        ":exp": state.number(state._now() + state.CALL_TTL_S),
    }
    expression = "SET consent = :c, decidedAt = :t, expiresAt = if_not_exists(expiresAt, :exp)"
    if consent_reference is not None:
        expression += ", consentReference = :r"
        values[":r"] = state.string(consent_reference)
    else:
        expression += " REMOVE consentReference"
    # A redelivered decision (same time, same value) applies again, so its follow-up work is redone.
    condition = (
        "attribute_not_exists(decidedAt) OR decidedAt < :t"
        " OR (decidedAt = :t AND (:c = :declined OR consent = :c))"
    )
    try:
        response = state.update(
            table,
            key,
            expression,
            values,
            deadline,
            return_values="ALL_NEW",
            names=False,
            condition=condition,
        )
    except state.ConditionFailedError:
        return _call_record(state.get(table, key, deadline)), False
    return _call_record(response.get("Attributes")), True


def get_call(
    table: str, voice_connector_id: str, transaction_id: str, deadline: aws_calls.Deadline
) -> CallRecord:
    return _call_record(state.get(table, call_key(voice_connector_id, transaction_id), deadline))


def _call_record(item: dict[str, Any] | None) -> CallRecord:
    item = item or {}
    return CallRecord(
        consent=state.string_of(item, "consent"),
        consent_reference=state.string_of(item, "consentReference"),
        decided_at=state.string_of(item, "decidedAt"),
        ready=bool(item.get("ready", {}).get("BOOL", False)),
    )
