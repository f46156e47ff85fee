"""Consent decisions in the state table (``consent_state.py``): ordered by ingestion time, never by text.

Each decision is written with a condition built from it, and the item it leaves is what every later
delivery reads, so both are pinned: the ranking (later ingestion time wins; a tie goes to
``declined`` whatever the arrival order; a redelivery applies again), instants compared as numbers
(fractions, offsets, 25 fractional digits), items of the previous version (``decidedAt`` as text)
read safely, and a condition that never compares two constants. The table is moto's.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

import aws_calls
import boto3
import consent_state
import pytest
import state
from notifications import parse_instant

from tests.runtime.conftest import StateAws
from tests.runtime.helpers import state_item

NOW = 1_900_000_000.0
CONNECTOR, TRANSACTION = "vc-1", "tx-1"


@pytest.fixture
def table(handler: ModuleType, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(state, "_now", lambda: NOW)
    return state_aws.table_name


def deadline() -> aws_calls.Deadline:
    return aws_calls.Deadline.after(30)


def call_item(table: str) -> dict[str, Any] | None:
    return state_item(table, consent_state.call_key(CONNECTOR, TRANSACTION))


def decide(table: str, decision: str, at: str, reference: str | None = "ivr-42") -> bool:
    """Record ``decision`` ingested ``at``; True if it was applied."""
    instant = parse_instant(at)
    assert instant is not None, at
    _, applied = consent_state.record_consent(
        table,
        CONNECTOR,
        TRANSACTION,
        consent=decision,
        consent_reference=reference,
        decided_at=instant,
        deadline=deadline(),
    )
    return applied


def stored(table: str) -> str | None:
    return consent_state.get_call(table, CONNECTOR, TRANSACTION, deadline()).consent


# -- what is stored ------------------------------------------------------------------------------


def test_analytics_ready_marks_the_call_and_keeps_it_two_days(table: str) -> None:
    record = consent_state.note_analytics_ready(table, CONNECTOR, TRANSACTION, deadline())

    assert record == consent_state.CallRecord(
        consent=None, consent_reference=None, decided_at_ms=None, ready=True
    )
    assert call_item(table) == {
        "pk": {"S": consent_state.call_key(CONNECTOR, TRANSACTION)},
        "ready": {"BOOL": True},
        "expiresAt": {"N": str(int(NOW + 48 * 3600))},
    }


def test_a_decision_is_stored_with_its_exact_ingestion_time_and_read_back(table: str) -> None:
    assert decide(table, "granted", "2029-11-25T10:01:00.250Z") is True

    assert call_item(table) == {
        "pk": {"S": consent_state.call_key(CONNECTOR, TRANSACTION)},
        "consent": {"S": "granted"},
        "consentReference": {"S": "ivr-42"},
        "decidedAtMs": {"N": "1890295260250"},
        "expiresAt": {"N": str(int(NOW + 48 * 3600))},
    }
    record = consent_state.get_call(table, CONNECTOR, TRANSACTION, deadline())
    assert (record.consent, record.consent_reference, str(record.decided_at_ms), record.ready) == (
        "granted",
        "ivr-42",
        "1890295260250",
        False,
    )


def test_a_later_decision_without_a_reference_drops_the_earlier_reference(table: str) -> None:
    decide(table, "granted", "2029-11-25T10:01:00Z")

    assert decide(table, "declined", "2029-11-25T10:02:00Z", reference=None) is True

    item = call_item(table)
    assert item is not None
    assert "consentReference" not in item
    assert item["consent"] == {"S": "declined"}


def test_a_refused_decision_returns_the_stored_one(table: str) -> None:
    decide(table, "declined", "2029-11-25T10:02:00Z", reference="ivr-7")

    record, applied = consent_state.record_consent(
        table,
        CONNECTOR,
        TRANSACTION,
        consent="granted",
        consent_reference="ivr-8",
        decided_at=parse_instant("2029-11-25T10:01:00Z"),  # type: ignore[arg-type]
        deadline=deadline(),
    )

    assert applied is False
    assert (record.consent, record.consent_reference) == ("declined", "ivr-7")


# -- the ranking ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "winner"),
    [
        (("granted", "2029-11-25T10:00:00Z"), ("declined", "2029-11-25T10:00:01Z"), "declined"),
        (("declined", "2029-11-25T10:00:00Z"), ("granted", "2029-11-25T10:00:01Z"), "granted"),
        # older decisions arriving last are ignored, either way round
        (("declined", "2029-11-25T10:00:01Z"), ("granted", "2029-11-25T10:00:00Z"), "declined"),
        (("granted", "2029-11-25T10:00:01Z"), ("declined", "2029-11-25T10:00:00Z"), "granted"),
        # a tie goes to declined whatever the arrival order
        (("granted", "2029-11-25T10:00:00Z"), ("declined", "2029-11-25T10:00:00Z"), "declined"),
        (("declined", "2029-11-25T10:00:00Z"), ("granted", "2029-11-25T10:00:00Z"), "declined"),
    ],
    ids=[
        "decline-later",
        "grant-later",
        "old-grant-late",
        "old-decline-late",
        "tie-grant-first",
        "tie-decline-first",
    ],
)
def test_the_later_ingestion_time_wins_and_a_tie_goes_to_declined(
    table: str, first: tuple[str, str], second: tuple[str, str], winner: str
) -> None:
    assert decide(table, *first) is True
    assert decide(table, *second) is (second[0] == winner)
    assert stored(table) == winner


@pytest.mark.parametrize("decision", ["granted", "declined"])
def test_a_redelivered_decision_is_applied_again(table: str, decision: str) -> None:
    assert decide(table, decision, "2029-11-25T10:00:00Z") is True
    assert decide(table, decision, "2029-11-25T10:00:00Z") is True  # its follow-up work is redone
    assert stored(table) == decision


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("2029-11-25T10:00:00Z", "2029-11-25T10:00:00.5Z"),  # as text, ".5Z" sorts before "Z"
        ("2029-11-25T10:00:00.9Z", "2029-11-25T10:00:01Z"),
        ("2029-11-25T10:00:00.1Z", "2029-11-25T10:00:00.10000000000000000000001Z"),
        ("2029-11-25T10:30:00+01:00", "2029-11-25T09:45:00Z"),  # 09:30Z, then 09:45Z
        ("2029-11-25T09:59:59Z", "2029-11-25T05:00:00-05:00"),  # 10:00Z
    ],
    ids=["fraction-after-whole", "whole-after-fraction", "22nd-digit", "offset", "negative-offset"],
)
@pytest.mark.parametrize("order", ["grant-earlier", "decline-earlier"])
def test_instants_are_compared_as_numbers(table: str, earlier: str, later: str, order: str) -> None:
    first, second = ("granted", "declined") if order == "grant-earlier" else ("declined", "granted")
    decide(table, first, earlier)
    assert decide(table, second, later) is True
    assert stored(table) == second
    # and the other way round: the earlier one, arriving last, is refused
    assert decide(table, first, earlier) is False
    assert stored(table) == second


@pytest.mark.parametrize("decision", ["granted", "declined"])
def test_each_decisions_condition_compares_stored_values_with_given_ones_only(decision: str) -> None:
    condition = consent_state.consent_condition(decision)
    # issue 23 item 7: no comparison of two placeholders (two constants) inside the condition
    assert not re.search(r":\w+\s*(=|<>|<=?|>=?)\s*:\w+", condition)
    assert ":declined" not in condition


def test_each_decision_has_its_own_condition() -> None:
    assert consent_state.consent_condition("granted") != consent_state.consent_condition("declined")


# -- items of the previous version -----------------------------------------------------------------


def put_legacy(table: str, decision: str) -> None:
    """An item as the previous version wrote it: the event's ``time`` as text, far in the future."""
    boto3.client("dynamodb").put_item(
        TableName=table,
        Item={
            "pk": {"S": consent_state.call_key(CONNECTOR, TRANSACTION)},
            "consent": {"S": decision},
            "decidedAt": {"S": "2099-01-01T00:00:00Z"},
            "ready": {"BOOL": True},
            "expiresAt": {"N": str(int(NOW + 3600))},
        },
    )


@pytest.mark.parametrize(
    ("legacy", "new", "applied"),
    [
        ("declined", "granted", False),  # a stored decline is never overridden by a grant
        ("declined", "declined", True),
        ("granted", "declined", True),  # a decline always overrides
        ("granted", "granted", True),
    ],
)
def test_a_previous_versions_decision_is_honoured_at_an_unknown_time(
    table: str, legacy: str, new: str, applied: bool
) -> None:
    put_legacy(table, legacy)
    record = consent_state.get_call(table, CONNECTOR, TRANSACTION, deadline())
    assert (record.consent, record.decided_at_ms, record.ready) == (legacy, None, True)

    assert decide(table, new, "2029-11-25T10:00:00Z") is applied

    item = call_item(table)
    assert item is not None
    assert item["consent"] == {"S": new if applied else legacy}
    if applied:  # rewritten in the new form: the text time is gone
        assert "decidedAt" not in item
        assert item["decidedAtMs"] == {"N": "1890295200000"}
        assert item["expiresAt"] == {"N": str(int(NOW + 3600))}  # the first write's TTL stays
