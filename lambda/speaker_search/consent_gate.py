"""Consent binds what leaves the handler (``REQUIRE_CONSENT=true``): results of calls not granted.

No ``Speaker Search Result`` and no ``Voice Tone Analysis Result`` of a call that is not granted is
published. A result names its call by ``voiceConnectorId`` / ``transactionId`` when it has both,
else through the task index (``task_index``: the call this construct started the task for). A
result whose call cannot be identified is withheld: fail closed. Each withheld result is logged
(``result_withheld``, IDs only) and counted in ``ResultsWithheld`` with ``Status``:

* ``declined``: the call's latest decision is ``declined``;
* ``no-decision``: no decision is recorded for the call;
* ``call-unknown``: the result does not name its call and its task is not in the index.

The same decision binds voice profile requests (``task_scope.py``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import aws_calls
import consent_state
import state
import task_index

DECLINED = "declined"
NO_DECISION = "no-decision"
CALL_UNKNOWN = "call-unknown"


class Call(NamedTuple):
    voice_connector_id: str
    transaction_id: str


def call_of_result(result: dict[str, Any], table: str, deadline: aws_calls.Deadline) -> Call | None:
    """The call a result belongs to: its own IDs, else its task's index entry, else None."""
    voice_connector_id, transaction_id = result.get("voiceConnectorId"), result.get("transactionId")
    if voice_connector_id and transaction_id:
        return Call(voice_connector_id, transaction_id)
    entry = task_index.lookup(table, result["taskId"], deadline)
    return None if entry is None else Call(entry.voice_connector_id, entry.transaction_id)


def refusal(call: Call, table: str, deadline: aws_calls.Deadline) -> str | None:
    """None when ``call`` is granted; else why not (``DECLINED`` or ``NO_DECISION``)."""
    consent = consent_state.get_call(table, call.voice_connector_id, call.transaction_id, deadline).consent
    if consent == state.GRANTED:
        return None
    return DECLINED if consent == state.DECLINED else NO_DECISION


def withheld(result: dict[str, Any], table: str, deadline: aws_calls.Deadline) -> str | None:
    """None when the result may be published; else the ``Status`` it is withheld with.

    Raises :class:`state.StateError` when the table cannot be read (the record is redelivered).
    """
    call = call_of_result(result, table, deadline)
    if call is None:
        return CALL_UNKNOWN
    return refusal(call, table, deadline)
