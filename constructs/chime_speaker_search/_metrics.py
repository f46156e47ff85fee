"""Metrics and rules with the options a CDK user expects, shared by every ``metric_*`` and ``on_*`` method."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events

#: The keyword options of ``aws_cloudwatch.MetricOptions`` (statistic, period, label, unit, color...).
METRIC_OPTIONS = frozenset(inspect.signature(cloudwatch.MetricOptions.__init__).parameters) - {"self"}


def metric_options(options: Mapping[str, Any], *, statistic: str, period: Duration) -> dict[str, Any]:
    """The user's metric ``options`` over this metric's defaults; an unknown option is a ``TypeError``."""
    unknown = sorted(set(options) - METRIC_OPTIONS)
    if unknown:
        raise TypeError(
            f"unexpected metric option(s) {', '.join(unknown)}; the options of "
            f"aws_cloudwatch.MetricOptions are {', '.join(sorted(METRIC_OPTIONS))}"
        )
    return {"statistic": statistic, "period": period, **options}


def metric(
    namespace: str,
    metric_name: str,
    dimensions: Mapping[str, str],
    options: Mapping[str, Any],
    *,
    statistic: str,
    period: Duration,
) -> cloudwatch.Metric:
    """A metric of the library's own namespace; ``options`` override the defaults, as in aws-cdk-lib."""
    merged = metric_options(
        {"dimensions_map": dict(dimensions), **options}, statistic=statistic, period=period
    )
    return cloudwatch.Metric(namespace=namespace, metric_name=metric_name, **merged)


# EventPattern fields, and the names EventBridge uses for them in a pattern.
_PATTERN_FIELDS = (
    "account",
    "detail",
    "detail_type",
    "id",
    "region",
    "resources",
    "source",
    "time",
    "version",
)


def merge_event_pattern(ours: events.EventPattern, user: events.EventPattern | None) -> events.EventPattern:
    """``ours`` narrowed by a user's ``event_pattern``: the rule still matches only this construct's events.

    The user may add fields, and ``detail`` keys of their own (``status``, ``voiceConnectorId``...).
    A field or ``detail`` key that ``ours`` fixes may be repeated only if it allows our value:
    anything else would match nothing, and raises ``ValueError`` naming ``event_pattern``.
    """
    if user is None:
        return ours
    merged: dict[str, Any] = {}
    for field in _PATTERN_FIELDS:
        mine, theirs = getattr(ours, field), getattr(user, field)
        if field == "detail" and mine is not None and theirs is not None:
            detail = dict(theirs)
            for key, values in mine.items():
                _check_allows("event_pattern", f"detail.{key}", theirs.get(key), values)
                detail[key] = values
            merged[field] = detail
        elif mine is not None:
            _check_allows("event_pattern", field, theirs, mine)
            merged[field] = mine
        elif theirs is not None:
            merged[field] = theirs
    return events.EventPattern(**merged)


def _check_allows(prop: str, field: str, theirs: Any, mine: Any) -> None:
    if theirs is None or theirs == mine:
        return
    if isinstance(theirs, list) and isinstance(mine, list) and set(mine) <= set(map(str, theirs)):
        return
    raise ValueError(
        f"{prop}: {field} {theirs!r} excludes this construct's {mine!r}, so the rule would match "
        f"nothing; leave {field} out (the rule sets it)"
    )
