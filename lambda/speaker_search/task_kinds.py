"""The kinds of analytics task AnalyticsReady starts, and their idempotency tokens.

Speaker search always; voice tone analysis with ``VOICE_TONE_ANALYSIS=true``. Each kind has its
own start and stop call, log names and metrics, and a deterministic ``ClientRequestToken``
(:func:`client_request_token`), so redeliveries and retries never start a second task.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, NamedTuple

import metrics
from settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_chime_sdk_voice import ChimeSDKVoiceClient


class StartRequest(NamedTuple):
    voice_connector_id: str
    transaction_id: str
    call_leg: str
    voice_profile_domain_id: str
    client_request_token: str


class TaskKind(NamedTuple):
    """One kind of analytics task that AnalyticsReady starts."""

    #: Log message prefix (``<name>_started``, ``<name>_start_failed``).
    name: str
    #: Last part of the token material, so two kinds never share a token.
    material_suffix: str
    operation: str
    #: Calls the API and returns the new task's ID (or None if the response has none).
    start: Callable[[ChimeSDKVoiceClient, StartRequest], str | None]
    started_metric: str
    duplicate_metric: str
    failed_metric: str
    latency_metric: str
    #: Stops a running task (connector ID, task ID); used when consent is declined after a start.
    stop: Callable[[ChimeSDKVoiceClient, str, str], None] | None = None
    stop_operation: str = ""
    #: The start takes the configured ``CallLeg`` and voice profile domain (and cannot run
    #: without them); voice tone takes neither.
    uses_call_leg: bool = True


def _start_speaker_search(client: ChimeSDKVoiceClient, request: StartRequest) -> str | None:
    response = client.start_speaker_search_task(
        VoiceConnectorId=request.voice_connector_id,
        TransactionId=request.transaction_id,
        VoiceProfileDomainId=request.voice_profile_domain_id,
        CallLeg=request.call_leg,  # type: ignore[arg-type]
        ClientRequestToken=request.client_request_token,
    )
    return response.get("SpeakerSearchTask", {}).get("SpeakerSearchTaskId")


def _stop_speaker_search(client: ChimeSDKVoiceClient, voice_connector_id: str, task_id: str) -> None:
    client.stop_speaker_search_task(VoiceConnectorId=voice_connector_id, SpeakerSearchTaskId=task_id)


SPEAKER_SEARCH = TaskKind(
    name="speaker_search",
    material_suffix="speaker-search",
    operation="StartSpeakerSearchTask",
    start=_start_speaker_search,
    started_metric=metrics.SPEAKER_SEARCH_STARTED,
    duplicate_metric=metrics.SPEAKER_SEARCH_DUPLICATE_STARTS,
    failed_metric=metrics.SPEAKER_SEARCH_FAILED_STARTS,
    latency_metric=metrics.SPEAKER_SEARCH_START_LATENCY,
    stop=_stop_speaker_search,
    stop_operation="StopSpeakerSearchTask",
)

#: StartVoiceToneAnalysisTask's required LanguageCode: the API's enum has only this value.
VOICE_TONE_LANGUAGE_CODE: Literal["en-US"] = "en-US"


def _start_voice_tone(client: ChimeSDKVoiceClient, request: StartRequest) -> str | None:
    response = client.start_voice_tone_analysis_task(
        VoiceConnectorId=request.voice_connector_id,
        TransactionId=request.transaction_id,
        LanguageCode=VOICE_TONE_LANGUAGE_CODE,
        ClientRequestToken=request.client_request_token,
    )
    return response.get("VoiceToneAnalysisTask", {}).get("VoiceToneAnalysisTaskId")


def _stop_voice_tone(client: ChimeSDKVoiceClient, voice_connector_id: str, task_id: str) -> None:
    client.stop_voice_tone_analysis_task(VoiceConnectorId=voice_connector_id, VoiceToneAnalysisTaskId=task_id)


VOICE_TONE = TaskKind(
    name="voice_tone",
    material_suffix="voice-tone",
    operation="StartVoiceToneAnalysisTask",
    start=_start_voice_tone,
    started_metric=metrics.VOICE_TONE_STARTED,
    duplicate_metric=metrics.VOICE_TONE_DUPLICATE_STARTS,
    failed_metric=metrics.VOICE_TONE_FAILED_STARTS,
    latency_metric=metrics.VOICE_TONE_START_LATENCY,
    stop=_stop_voice_tone,
    stop_operation="StopVoiceToneAnalysisTask",
    uses_call_leg=False,
)
#: Token material in place of the call leg for kinds that take none (one task per call).
NO_CALL_LEG = "-"


def task_kinds(settings: Settings) -> tuple[TaskKind, ...]:
    """The kinds of task each call gets with these settings."""
    if settings.voice_tone_analysis:
        return (SPEAKER_SEARCH, VOICE_TONE)
    return (SPEAKER_SEARCH,)


def kind_token(
    kind: TaskKind, voice_connector_id: str, transaction_id: str, call_leg: str | None
) -> str | None:
    """The token of ``kind``'s task for this call (None if the kind needs a leg and has none)."""
    leg = call_leg if kind.uses_call_leg else NO_CALL_LEG
    return None if leg is None else client_request_token(voice_connector_id, transaction_id, leg, kind)


def client_request_token(
    voice_connector_id: str, transaction_id: str, call_leg: str, kind: TaskKind = SPEAKER_SEARCH
) -> str:
    """Deterministic idempotency token: 64 hex chars, within the API's 2-64 ``[-_a-zA-Z0-9]``.

    boto3 does not fill this token in for chime-sdk-voice, and a SIP Call-ID is not a valid
    token. The same call, leg and kind always give the same token, so a redelivery or retry
    cannot start a second task.
    """
    material = f"{voice_connector_id}|{transaction_id}|{call_leg}|{kind.material_suffix}"
    return hashlib.sha256(material.encode()).hexdigest()  # UTF-8; a SHA-256 is 64 hex digits
