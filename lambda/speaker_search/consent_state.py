"""Consent per call in the state table (``call#<sha256(connector|transaction)>``).

The item records whether ``AnalyticsReady`` has arrived and the latest consent decision, so
consent and the notification can arrive in either order (``consent.py``, ``tasks.py``), and so
results and voice profile requests can be bound to the call's consent (``consent_gate.py``).

Decisions are ordered by EventBridge's ingestion time of their request (``decidedAtMs``, exact
milliseconds since 1970 as a number), never by the event's producer-set ``time``. The condition of
the write is built here from the decision, so DynamoDB compares one stored value with one given:

* ``declined`` applies unless a strictly later decision is stored: it wins a tie whatever order the
  two arrive in, and a redelivered decline (same time) is applied again;
* ``granted`` applies over no decision, an earlier one, or a grant of the same time (its own
  redelivery, applied again so the start that followed it is redone after a transient failure).

Items written by the previous version carry ``decidedAt`` as text (the event's ``time``) and no
``decidedAtMs``. Their decision is honoured as it stands, at an unknown time: a new ``declined``
overrides it; a new ``granted`` overrides only a stored ``granted``, never a stored ``declined``.
They expire within a day of the upgrade. Every write here replaces the text with ``decidedAtMs``.

The item lives ``CONSENT_TTL_S`` from its first write: long enough for a call of up to a day and
the 24 hours after it in which its voiceprint can be enrolled (the enrollment checks read it).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

import aws_calls
import state

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef
    from notifications import Instant

CONSENT_TTL_S = 48 * 3600


class CallRecord(NamedTuple):
    consent: str | None  # GRANTED, DECLINED or None (no decision yet)
    consent_reference: str | None
    #: Ingestion time of the request that made the decision (ms since 1970); None: no decision,
    #: or one stored by the previous version (time unknown).
    decided_at_ms: Decimal | None
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
        {":true": {"BOOL": True}, ":exp": state.number(state._now() + CONSENT_TTL_S)},
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
    decided_at: Instant,
    deadline: aws_calls.Deadline,
) -> tuple[CallRecord, bool]:
    """Store a decision unless the stored one outranks it; return (the call's state, applied?).

    Ranking (module docstring): the later ingestion time wins; on a tie ``declined`` wins.
    """
    key = call_key(voice_connector_id, transaction_id)
    values: dict[str, AttributeValueTypeDef] = {
        ":c": state.string(consent),
        ":t": state.exact_number(decided_at.epoch_ms),
        ":exp": state.number(state._now() + CONSENT_TTL_S),
    }
    expression = "SET consent = :c, decidedAtMs = :t, expiresAt = if_not_exists(expiresAt, :exp)"
    if consent_reference is not None:
        expression += ", consentReference = :r"
        values[":r"] = state.string(consent_reference)
    removed = ["decidedAt"] + ([] if consent_reference is not None else ["consentReference"])
    expression += " REMOVE " + ", ".join(removed)
    response = _write_decision(table, key, expression, values, deadline, condition=consent_condition(consent))
    if response is None:
        return _call_record(state.get(table, key, deadline)), False
    return _call_record(response.get("Attributes")), True


def consent_condition(consent: str) -> str:
    """The write's condition for ``consent`` at ingestion time ``:t`` (module docstring)."""
    if consent == state.DECLINED:
        return "attribute_not_exists(decidedAtMs) OR decidedAtMs <= :t"
    # A stored decline, also a previous version's (no decidedAtMs), keeps an equal or older grant out.
    return (
        "attribute_not_exists(consent) OR decidedAtMs < :t"
        " OR (consent = :c AND (decidedAtMs = :t OR attribute_not_exists(decidedAtMs)))"
    )


def _write_decision(
    table: str,
    key: str,
    expression: str,
    values: dict[str, AttributeValueTypeDef],
    deadline: aws_calls.Deadline,
    *,
    condition: str,
) -> dict[str, Any] | None:
    """The write's answer, or None when its condition did not hold."""
    try:
        return state.update(
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
        return None


def get_call(
    table: str, voice_connector_id: str, transaction_id: str, deadline: aws_calls.Deadline
) -> CallRecord:
    return _call_record(state.get(table, call_key(voice_connector_id, transaction_id), deadline))


def _call_record(item: dict[str, Any] | None) -> CallRecord:
    item = item or {}
    return CallRecord(
        consent=state.string_of(item, "consent"),
        consent_reference=state.string_of(item, "consentReference"),
        decided_at_ms=Decimal(item["decidedAtMs"]["N"]) if "decidedAtMs" in item else None,
        ready=bool(item.get("ready", {}).get("BOOL", False)),
    )
