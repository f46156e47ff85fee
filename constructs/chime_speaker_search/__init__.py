"""AWS CDK constructs for Amazon Chime SDK voice analytics speaker search on Voice Connector calls."""

from ._validation import VOICE_ANALYTICS_REGIONS
from ._version import __version__
from .call_leg import CallLeg
from .speaker_search import (
    RESULT_EVENT_DETAIL_TYPE,
    RESULT_EVENT_SOURCE,
    VOICE_TONE_EVENT_DETAIL_TYPE,
    SpeakerSearch,
)
from .voice_analytics_configuration import VoiceAnalyticsConfiguration
from .voice_connector import IVoiceConnector, VoiceConnector
from .voice_profile_domain import IVoiceProfileDomain, VoiceProfileDomain

__all__ = [
    "RESULT_EVENT_DETAIL_TYPE",
    "RESULT_EVENT_SOURCE",
    "VOICE_ANALYTICS_REGIONS",
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
