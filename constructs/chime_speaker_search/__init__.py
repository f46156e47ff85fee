"""AWS CDK constructs for Amazon Chime SDK voice analytics speaker search on Voice Connector calls."""

from ._validation import VOICE_ANALYTICS_REGIONS
from ._version import __version__
from .call_leg import CallLeg
from .event_types import (
    CONFIGURATION_DETACHED_DETAIL_TYPE,
    CONSENT_RECORDED_DETAIL_TYPE,
    CONSENT_REQUEST_DETAIL_TYPE,
    DEFAULT_REQUEST_SOURCE,
    DELETE_VOICE_PROFILE_DETAIL_TYPE,
    ENROLL_VOICE_PROFILE_DETAIL_TYPE,
    ENROLLMENT_REQUEST_DETAIL_TYPES,
    PUBLISHED_DETAIL_TYPES,
    RESULT_EVENT_DETAIL_TYPE,
    RESULT_EVENT_SOURCE,
    UPDATE_VOICE_PROFILE_DETAIL_TYPE,
    VOICE_PROFILE_DELETED_DETAIL_TYPE,
    VOICE_PROFILE_ENROLLED_DETAIL_TYPE,
    VOICE_PROFILE_REQUEST_FAILED_DETAIL_TYPE,
    VOICE_PROFILE_UPDATED_DETAIL_TYPE,
    VOICE_TONE_EVENT_DETAIL_TYPE,
)
from .speaker_search import SpeakerSearch
from .voice_analytics_configuration import VoiceAnalyticsConfiguration
from .voice_connector import IVoiceConnector, VoiceConnector
from .voice_profile_domain import IVoiceProfileDomain, VoiceProfileDomain

__all__ = [
    "CONFIGURATION_DETACHED_DETAIL_TYPE",
    "CONSENT_RECORDED_DETAIL_TYPE",
    "CONSENT_REQUEST_DETAIL_TYPE",
    "DEFAULT_REQUEST_SOURCE",
    "DELETE_VOICE_PROFILE_DETAIL_TYPE",
    "ENROLLMENT_REQUEST_DETAIL_TYPES",
    "ENROLL_VOICE_PROFILE_DETAIL_TYPE",
    "PUBLISHED_DETAIL_TYPES",
    "RESULT_EVENT_DETAIL_TYPE",
    "RESULT_EVENT_SOURCE",
    "UPDATE_VOICE_PROFILE_DETAIL_TYPE",
    "VOICE_ANALYTICS_REGIONS",
    "VOICE_PROFILE_DELETED_DETAIL_TYPE",
    "VOICE_PROFILE_ENROLLED_DETAIL_TYPE",
    "VOICE_PROFILE_REQUEST_FAILED_DETAIL_TYPE",
    "VOICE_PROFILE_UPDATED_DETAIL_TYPE",
    "VOICE_TONE_EVENT_DETAIL_TYPE",
    "CallLeg",
    "IVoiceConnector",
    "IVoiceProfileDomain",
    "SpeakerSearch",
    "VoiceAnalyticsConfiguration",
    "VoiceConnector",
    "VoiceProfileDomain",
    "__version__",
]
