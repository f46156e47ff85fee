"""Sources and detail-types of every event the library reads or publishes.

Plain strings, no CDK: consumers match on them in their own rules and tests, and the handler
(``lambda/speaker_search/``) spells them the same (tests/constructs/test_event_types.py checks that
it does, and that every detail-type the handler publishes or serves is here). Sample events of each
are in :mod:`chime_speaker_search.sample_events`.
"""

from __future__ import annotations

#: ``source`` of every event the library publishes (results, outcomes, audit and health events).
RESULT_EVENT_SOURCE = "chime-speaker-search"
#: Default ``source`` of request events (``SpeakerSearch(request_source=...)``).
DEFAULT_REQUEST_SOURCE = "chime-speaker-search.requests"

# -- published ------------------------------------------------------------------------------
#: A speaker search result (matches, best match) for one call.
RESULT_EVENT_DETAIL_TYPE = "Speaker Search Result"
#: A voice tone analysis result, with ``voice_tone_analysis=True``.
VOICE_TONE_EVENT_DETAIL_TYPE = "Voice Tone Analysis Result"
#: The audit record of a consent decision.
CONSENT_RECORDED_DETAIL_TYPE = "Speaker Search Consent Recorded"
VOICE_PROFILE_ENROLLED_DETAIL_TYPE = "Voice Profile Enrolled"
VOICE_PROFILE_UPDATED_DETAIL_TYPE = "Voice Profile Updated"
VOICE_PROFILE_DELETED_DETAIL_TYPE = "Voice Profile Deleted"
VOICE_PROFILE_REQUEST_FAILED_DETAIL_TYPE = "Voice Profile Request Failed"
#: A Voice Connector found without the search's configuration attached, and whether it was re-attached
#: (the stack's attachment guard, lambda/attachment_guard/).
CONFIGURATION_DETACHED_DETAIL_TYPE = "Analytics Configuration Detached"

#: Every detail-type the library publishes with :data:`RESULT_EVENT_SOURCE`.
PUBLISHED_DETAIL_TYPES = (
    RESULT_EVENT_DETAIL_TYPE,
    VOICE_TONE_EVENT_DETAIL_TYPE,
    CONSENT_RECORDED_DETAIL_TYPE,
    VOICE_PROFILE_ENROLLED_DETAIL_TYPE,
    VOICE_PROFILE_UPDATED_DETAIL_TYPE,
    VOICE_PROFILE_DELETED_DETAIL_TYPE,
    VOICE_PROFILE_REQUEST_FAILED_DETAIL_TYPE,
    CONFIGURATION_DETACHED_DETAIL_TYPE,
)

# -- requests (source: the construct's request_source) --------------------------------------
#: A caller's consent decision for one call (``require_consent=True``).
CONSENT_REQUEST_DETAIL_TYPE = "Speaker Search Consent"
ENROLL_VOICE_PROFILE_DETAIL_TYPE = "Enroll Voice Profile"
UPDATE_VOICE_PROFILE_DETAIL_TYPE = "Update Voice Profile"
DELETE_VOICE_PROFILE_DETAIL_TYPE = "Delete Voice Profile"
#: Requests that create, change or erase voiceprints (``enable_enrollment=True``).
ENROLLMENT_REQUEST_DETAIL_TYPES = (
    ENROLL_VOICE_PROFILE_DETAIL_TYPE,
    UPDATE_VOICE_PROFILE_DETAIL_TYPE,
    DELETE_VOICE_PROFILE_DETAIL_TYPE,
)
#: Every request detail-type the library serves: consent, then the voice profile requests.
REQUEST_DETAIL_TYPES = (CONSENT_REQUEST_DETAIL_TYPE, *ENROLLMENT_REQUEST_DETAIL_TYPES)

# -- read from AWS --------------------------------------------------------------------------
#: Media insights pipeline state changes (the account's default bus only).
PIPELINE_EVENT_SOURCE = "aws.chime"
PIPELINE_EVENT_DETAIL_TYPE = "Media Insights State Change"
#: ``source`` of the voice analytics notifications (the same as the pipeline's).
VOICE_ANALYTICS_EVENT_SOURCE = "aws.chime"
#: Voice analytics notifications, delivered by the configuration's sinks (never EventBridge).
VOICE_ANALYTICS_STATUS_DETAIL_TYPE = "VoiceAnalyticsStatus"
SPEAKER_SEARCH_STATUS_DETAIL_TYPE = "SpeakerSearchStatus"
VOICE_TONE_ANALYSIS_STATUS_DETAIL_TYPE = "VoiceToneAnalysisStatus"
#: Every notification detail-type the handler reads from the configuration's sinks.
VOICE_ANALYTICS_DETAIL_TYPES = (
    VOICE_ANALYTICS_STATUS_DETAIL_TYPE,
    SPEAKER_SEARCH_STATUS_DETAIL_TYPE,
    VOICE_TONE_ANALYSIS_STATUS_DETAIL_TYPE,
)
#: Every detail-type the library reads: AWS's notifications and state changes, and the requests.
READ_DETAIL_TYPES = (*VOICE_ANALYTICS_DETAIL_TYPES, PIPELINE_EVENT_DETAIL_TYPE, *REQUEST_DETAIL_TYPES)

#: Marks a request that the construct's own rule put on the notification queue: the rule wraps
#: the event with EventBridge's ingestion time (``{"envelope", "ingestionTime", "event"}``).
REQUEST_ENVELOPE = "chime-speaker-search/request"
