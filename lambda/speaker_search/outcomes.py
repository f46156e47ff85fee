"""What became of one notification, and the handler's logger."""

from __future__ import annotations

import logging
import os
from typing import Any, Literal, NamedTuple

LOGGER_NAME = "chime_speaker_search"
logger = logging.getLogger(LOGGER_NAME)

#: ``started``: a task was started; ``duplicate``: it was already running; ``failed``: the record
#: must be retried (or go to the dead-letter queue); ``published``: an event was published;
#: ``skipped``: a documented no-op.
OutcomeKind = Literal["started", "duplicate", "failed", "published", "skipped"]


class Outcome(NamedTuple):
    kind: OutcomeKind
    reason: str
    #: A failure that can never succeed (a permanent AWS error, malformed input): the entry point
    #: sends the record straight to the dead-letter queue instead of letting SQS redeliver it.
    dead_letter: bool = False
    #: A failure that should come back sooner than the queue's visibility timeout (seconds), e.g. a
    #: voiceprint that is not ready yet; the entry point shortens the record's visibility.
    retry_after_s: float | None = None

    @property
    def failed(self) -> bool:
        return self.kind == "failed"


def skip(fields: dict[str, Any], reason: str, level: int) -> Outcome:
    logger.log(level, "notification_skipped", extra={**fields, "reason": reason})
    return Outcome("skipped", reason)


def apply_log_level() -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logger.setLevel(level if level in logging.getLevelNamesMapping() else logging.INFO)
