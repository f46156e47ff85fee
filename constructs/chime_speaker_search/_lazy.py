"""Values produced when the app is synthesized, so that grants and connectors added later are included."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jsii
from aws_cdk import IStableAnyProducer, IStableListProducer, IStableStringProducer


@jsii.implements(IStableListProducer)
class ListProducer:
    """A ``Lazy.list`` producer calling ``produce`` at synth time."""

    def __init__(self, produce: Callable[[], Sequence[str]]) -> None:
        self._produce = produce

    def produce(self) -> list[str]:
        return list(self._produce())


@jsii.implements(IStableAnyProducer)
class AnyProducer:
    """A ``Lazy.any`` producer calling ``produce`` at synth time."""

    def __init__(self, produce: Callable[[], Any]) -> None:
        self._produce = produce

    def produce(self) -> Any:
        return self._produce()


@jsii.implements(IStableStringProducer)
class StringProducer:
    """A ``Lazy.string`` producer calling ``produce`` at synth time."""

    def __init__(self, produce: Callable[[], str]) -> None:
        self._produce = produce

    def produce(self) -> str:
        return self._produce()
