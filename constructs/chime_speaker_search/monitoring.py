"""Operations side of SpeakerSearch: metric names, the pipeline health rule and the dashboard widgets.

The handler emits its metrics in CloudWatch Embedded Metric Format (``lambda/speaker_search/metrics.py``
and ``health.py``), and so does the stack's attachment guard (``lambda/attachment_guard/guard_report.py``);
the names below must match the constants there (a test checks that they do). Every metric has the
dimension ``SearchId`` (the construct's ``search_id``); results and pipeline failures also come with
``SearchId, Status``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from constructs import Construct

if TYPE_CHECKING:
    from .speaker_search import SpeakerSearch

#: CloudWatch namespace of every metric the handler emits.
METRIC_NAMESPACE = "ChimeSpeakerSearch"

# EMF metric names (same spelling as lambda/speaker_search/metrics.py).
SPEAKER_SEARCH_STARTED = "SpeakerSearchStarted"
SPEAKER_SEARCH_DUPLICATE_STARTS = "SpeakerSearchDuplicateStarts"
SPEAKER_SEARCH_FAILED_STARTS = "SpeakerSearchFailedStarts"
SPEAKER_SEARCH_START_LATENCY = "SpeakerSearchStartLatency"
SPEAKER_SEARCH_RESULTS = "SpeakerSearchResults"
VOICE_TONE_STARTED = "VoiceToneStarted"
VOICE_TONE_DUPLICATE_STARTS = "VoiceToneDuplicateStarts"
VOICE_TONE_FAILED_STARTS = "VoiceToneFailedStarts"
VOICE_TONE_START_LATENCY = "VoiceToneStartLatency"
VOICE_TONE_RESULTS = "VoiceToneResults"

#: ``status`` values of published Speaker Search Result events (the ``Status`` dimension).
SPEAKER_SEARCH_RESULT_STATUSES = (
    "IdentificationSuccessful",
    "IdentificationNoMatchesFound",
    "IdentificationFailure",
    "VoiceprintGenerationSuccessful",
    "VoiceprintGenerationFailure",
)
#: ``status`` values of published Voice Tone Analysis Result events.
VOICE_TONE_RESULT_STATUSES = (
    "VoiceToneAnalysisSuccessful",
    "VoiceToneAnalysisFailure",
    "VoiceToneAnalysisCompleted",
)
#: ``Status`` dimension values of ``CallsNotSearched``: why the consent gate kept a call from
#: being searched (lambda/speaker_search/tasks.py and user_requests.py emit them).
CALLS_NOT_SEARCHED_REASONS = ("declined", "ended")
RESULTS_WITHHELD = "ResultsWithheld"
#: ``Status`` values of ``ResultsWithheld``: why a result of a call under the consent gate was not
#: published (lambda/speaker_search/consent_gate.py).
RESULTS_WITHHELD_REASONS = ("declined", "no-decision", "call-unknown")
INPUTS_REFUSED = "InputsRefused"
#: ``Status`` values of ``InputsRefused``: why the handler refused an input without acting on it
#: (lambda/speaker_search/perimeter.py and user_requests.py).
INPUTS_REFUSED_REASONS = ("raw-invocation", "foreign-queue", "invalid-receipt-handle", "no-envelope")

#: Media insights pipeline failures the handler logged (lambda/speaker_search/health.py), by kind in
#: the ``Status`` dimension (:data:`PIPELINE_FAILURE_KINDS`).
PIPELINE_FAILURES = "PipelineFailures"
#: The failures of those kinds that need action (:data:`PIPELINE_FAILURE_KINDS_NEEDING_ACTION`), without
#: a ``Status``: what the pipeline-failures alarm watches.
PIPELINE_FAILURES_NEEDING_ACTION = "PipelineFailuresNeedingAction"
#: Kinds of pipeline failure (``Status`` of :data:`PIPELINE_FAILURES`): the Voice Connector could not
#: create the pipeline (``CreateFailed``), the pipeline failed in a way that needs action
#: (``PermanentFailure``), one of its elements failed while the pipeline went on (``ElementFailure``),
#: or it hit a failure the service retries by itself, "no action is required" (``TemporaryFailure``).
PIPELINE_FAILURE_KINDS = ("CreateFailed", "PermanentFailure", "ElementFailure", "TemporaryFailure")
PIPELINE_FAILURE_KINDS_NEEDING_ACTION = ("CreateFailed", "PermanentFailure", "ElementFailure")

# The attachment guard's metrics (lambda/attachment_guard/guard_report.py), dimension ``SearchId``.
CONFIGURATION_DETACHED = "ConfigurationDetached"
CONFIGURATION_REPAIRED = "ConfigurationRepaired"
ATTACHMENT_CHECK_FAILURES = "AttachmentCheckFailures"

#: Source and detail-type of the pipeline's state changes. They reach only the account's default
#: bus (Chime SDK developer guide, "Using Amazon EventBridge notifications").
PIPELINE_EVENT_SOURCE = "aws.chime"
PIPELINE_EVENT_DETAIL_TYPE = "Media Insights State Change"
#: ``detail.eventType`` values that mean a call is not being analysed (same guide): the Voice
#: Connector could not create the pipeline, the pipeline hit a failure the service retries, or a
#: failure that needs action from you (``failureReason`` says which).
PIPELINE_FAILURE_EVENT_TYPES = (
    "chime:MediaInsightsCreateFailed",
    "chime:MediaInsightsTemporaryFailure",
    "chime:MediaInsightsPermanentFailure",
)
#: A pipeline of several elements (ours: the voice analytics processor and its sinks) reports an
#: element that failed while the pipeline goes on under this ``eventType``, with that element's
#: ``status`` ``Failed`` in ``detail.mediaInsightsPipelineElementStatuses`` (same guide, section
#: "AmazonTranscribeProcessor has failed and S3RecordingSink is in progress").
PIPELINE_ELEMENT_FAILURE_EVENT_TYPE = "chime:MediaInsightsInProgress"
PIPELINE_ELEMENT_FAILED_STATUS = "Failed"

MetricFactory = Callable[..., cloudwatch.Metric]


def pipeline_health_rule(scope: Construct, id: str) -> events.Rule:
    """A rule on the default bus for the pipeline failures of the connectors added later.

    It matches either a failure ``eventType`` (:data:`PIPELINE_FAILURE_EVENT_TYPES`) or an element
    failure (:data:`PIPELINE_ELEMENT_FAILURE_EVENT_TYPE` with an element whose ``status`` is
    ``Failed``; EventBridge matches a field inside an array of objects when any of them matches), an
    ``$or`` inside ``detail``. The pattern starts without connectors; :func:`watch_voice_connector` adds
    each one, for both branches (a rule whose ``voiceConnectorId`` list is empty is never created: the
    first connector is added in the same synth). Only the default bus: the pipeline publishes nowhere else.
    """
    return events.Rule(
        scope,
        id,
        description="chime-speaker-search: media insights pipeline and element failures of this search's "
        "connectors",
        event_pattern=events.EventPattern(
            source=[PIPELINE_EVENT_SOURCE],
            detail_type=[PIPELINE_EVENT_DETAIL_TYPE],
            detail={
                "$or": [
                    {"eventType": list(PIPELINE_FAILURE_EVENT_TYPES)},
                    {
                        "eventType": [PIPELINE_ELEMENT_FAILURE_EVENT_TYPE],
                        "mediaInsightsPipelineElementStatuses": {"status": [PIPELINE_ELEMENT_FAILED_STATUS]},
                    },
                ]
            },
        ),
    )


#: Fields of a pipeline state change that the handler needs, and nothing else: the event also
#: carries ``fromNumber``/``toNumber`` (phone numbers) and ``callId``, which never enter the queue.
#: ``mediaInsightsPipelineElementStatuses`` holds only each element's ``type``, ``status`` and time.
PIPELINE_EVENT_FIELDS = (
    "eventType",
    "voiceConnectorId",
    "transactionId",
    "mediaInsightsPipelineArn",
    "mediaInsightsPipelineConfigurationArn",
    "failureOrigin",
    "httpStatusCode",
    "failureReason",
    "mediaInsightsPipelineElementStatuses",
)


def pipeline_event_input() -> events.RuleTargetInput:
    """The message the health rule puts on the notification queue: the event minus personal data.

    A field missing from the event arrives as null or an empty string (the handler accepts both).
    """
    return events.RuleTargetInput.from_object(
        {
            "id": events.EventField.event_id,
            "detail-type": events.EventField.detail_type,
            "source": events.EventField.source,
            "time": events.EventField.time,
            "detail": {
                name: events.EventField.from_path(f"$.detail.{name}") for name in PIPELINE_EVENT_FIELDS
            },
        }
    )


def watch_voice_connector(rule: events.Rule, voice_connector_id: str) -> None:
    """Widen the health rule to one more connector (CDK merges and dedupes the pattern's lists)."""
    rule.add_event_pattern(detail={"voiceConnectorId": [voice_connector_id]})


def triggered_rules_metric(rule: events.Rule, **options: Any) -> cloudwatch.Metric:
    """``AWS/Events`` ``TriggeredRules`` of a default-bus rule: events it matched (sum)."""
    options.setdefault("statistic", "Sum")
    options["period"] = options.get("period") or Duration.minutes(5)
    return cloudwatch.Metric(
        namespace="AWS/Events",
        metric_name="TriggeredRules",
        dimensions_map={"RuleName": rule.rule_name},
        **options,
    )


def dashboard_rows(search: SpeakerSearch, *, voice_tone: bool) -> list[list[cloudwatch.IWidget]]:
    """The widgets an operator looks at first, as dashboard rows (each row is one ``add_widgets``)."""
    starts = [
        search.metric_starts(label="started"),
        search.metric_duplicate_starts(label="duplicate starts"),
        search.metric_failed_starts(label="failed starts"),
    ]
    latency = [
        search.metric_start_latency(statistic="p50", label="start latency p50"),
        search.metric_start_latency(statistic="p99", label="start latency p99"),
    ]
    results = [search.metric_results(status=s, label=s) for s in SPEAKER_SEARCH_RESULT_STATUSES]
    if voice_tone:
        starts += [
            search.metric_voice_tone_starts(label="voice tone started"),
            search.metric_voice_tone_duplicate_starts(label="voice tone duplicate starts"),
            search.metric_voice_tone_failed_starts(label="voice tone failed starts"),
        ]
        latency += [
            search.metric_voice_tone_start_latency(statistic="p50", label="voice tone start latency p50"),
            search.metric_voice_tone_start_latency(statistic="p99", label="voice tone start latency p99"),
        ]
    health = [
        search.metric_dead_letter_queue_depth(label="dead-letter queue depth"),
        search.metric_pipeline_failures(label="pipeline failures (all kinds)"),
        *(
            search.metric_pipeline_failures(kind=k, label=f"pipeline failures: {k}")
            for k in PIPELINE_FAILURE_KINDS
        ),
    ]
    attachment = [
        search.metric_configuration_detached(label="configuration found detached"),
        search.metric_configuration_repaired(label="configuration re-attached"),
        search.metric_attachment_check_failures(label="attachment checks failed"),
    ]
    handler = [
        search.metric_handler_errors(label="handler errors"),
        search.metric_handler_throttles(label="handler throttles"),
    ]
    rows: list[list[cloudwatch.IWidget]] = [
        [
            _graph("Task starts", starts),
            _graph("Start latency (notification time to started task, ms)", latency),
        ],
        [_graph("Speaker search results by status", results)],
        [
            _graph("Dead-letter queue and pipeline failures", health),
            _graph("Handler errors and throttles", handler),
        ],
        [_graph("Configuration attachment (the stack's attachment guard)", attachment)],
    ]
    if voice_tone:
        tone = [search.metric_voice_tone_results(status=s, label=s) for s in VOICE_TONE_RESULT_STATUSES]
        rows[1].append(_graph("Voice tone results by status", tone))
    return rows


def _graph(title: str, metrics: Sequence[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=12, height=6)
