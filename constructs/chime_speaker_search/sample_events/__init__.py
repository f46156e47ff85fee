"""Sample events the library reads and the requests it serves, for your own tests.

``load(name)`` returns a fresh copy of one sample as a ``dict``; :func:`names` lists them all. The
library's own tests feed each one through the handler, and pin that the request samples pass its
validation and that each ``.delivered`` sample is what the construct's rule makes of the event.

Voice analytics notifications, as the media insights configuration's sinks deliver them (the body of
an SQS message on :attr:`SpeakerSearch.queue`):

``analytics-ready``
    ``VoiceAnalyticsStatus`` with ``detailStatus`` ``AnalyticsReady``: the call is ready for a speaker
    search. AWS publishes the start of this example only (``detail-type``, ``version``, ``id``,
    ``source``, ``account``, ``time``, ``region``; no ``service-type``); the ``detail`` fields
    (``voiceConnectorId``, ``transactionId``, ``callId``) are those AWS's documentation and samples
    read.
``speaker-search-status-identification``
    ``SpeakerSearchStatus`` ``IdentificationSuccessful`` with ranked matches; the scores are quoted
    strings, as in AWS's example (the API returns numbers: the handler reads both).
``speaker-search-status-voiceprint``
    ``SpeakerSearchStatus`` ``VoiceprintGenerationSuccess``, spelled as in AWS's example (AWS's status
    list spells it ``VoiceprintGenerationSuccessful``; the handler reads both).
``voice-tone-analysis-status``
    ``VoiceToneAnalysisStatus`` ``VoiceToneAnalysisSuccessful`` with current and overall tones.

AWS documents the ``SpeakerSearchStatus`` and ``VoiceToneAnalysisStatus`` examples in their media
pipeline form; on a Voice Connector call they name the call by ``voiceConnectorId``,
``transactionId``, ``callId`` and ``isCaller`` instead, and so do these samples.

``get-speaker-search-task-response``
    What ``GetSpeakerSearchTask`` returns once the voiceprint is ready:
    ``SpeakerSearchDetails.VoiceprintGenerationStatus`` ``VoiceprintGenerationSuccess`` (the other
    documented value is ``VoiceprintGenerationFailure``); timestamps as ISO 8601 strings.

Pipeline health, from the account's default bus:

``media-insights-state-change-failure``
    ``Media Insights State Change`` ``chime:MediaInsightsCreateFailed`` as AWS publishes it, without
    the ``fromNumber`` and ``toNumber`` fields AWS's example also carries.
``media-insights-state-change-failure.delivered``
    The same event as the construct's health rule puts it on the queue (no personal data; a field the
    event lacks is ``null``).

Requests, each twice: ``<request>.sent`` is the ``PutEvents`` entry a producer sends (``Detail`` is a
JSON string; set ``EventBusName`` to your ``SpeakerSearch.event_bus``), ``<request>.delivered`` is what
the construct's rule puts on the queue: ``{"envelope": "chime-speaker-search/request",
"ingestionTime": <set by EventBridge>, "event": <the event EventBridge made of the entry>}``.

``speaker-search-consent``, ``enroll-voice-profile``, ``update-voice-profile``, ``delete-voice-profile``

Every value is an opaque example ID (the Voice Connector ID is the one AWS's documentation uses); no
phone number, name or SIP header appears in any sample.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["load", "names"]

_SUFFIX = ".json"


def names() -> tuple[str, ...]:
    """The name of every sample, sorted (``load`` accepts each)."""
    return tuple(
        sorted(
            entry.name.removesuffix(_SUFFIX)
            for entry in resources.files(__name__).iterdir()
            if entry.name.endswith(_SUFFIX)
        )
    )


def load(name: str) -> dict[str, Any]:
    """A fresh copy of the sample ``name`` (see :func:`names`); ``ValueError`` for an unknown name."""
    if name not in names():
        raise ValueError(f"name: {name!r} is not a sample event; the samples are {', '.join(names())}")
    sample: dict[str, Any] = json.loads(resources.files(__name__).joinpath(name + _SUFFIX).read_text("utf-8"))
    return sample
