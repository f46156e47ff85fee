"""Fixtures for the custom resource handler tests.

Every test gets an isolated AWS environment (fake credentials, us-east-1, no profile or endpoint
overrides), handler modules with no cached client, backoff sleeps recorded instead of slept, and seeded
jitter. ``invoke(module, client, event)`` runs the real ``on_event`` entry point with ``client`` injected
through the module's ``_client()`` getter. ``shared`` is lambda/_common/cfn_custom_resource.py, the module
every custom resource handler imports (the very module object, so patching it reaches the handlers).
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from tests.custom_resources.fakes import FakeChimeSdkMediaPipelines, FakeChimeSdkVoice
from tests.support import load_handler, use_offline_aws

HANDLER_FOLDERS = ("voice_profile_domain", "media_insights_configuration", "streaming_association")

Invoke = Callable[[ModuleType, Any, dict[str, Any]], dict[str, Any]]


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    use_offline_aws(monkeypatch)


def shared_module() -> ModuleType:
    """``cfn_custom_resource`` as the handlers import it (top-level: it is deployed beside each index.py)."""
    for folder in HANDLER_FOLDERS:
        load_handler(folder)  # also puts lambda/_common on sys.path
    return importlib.import_module("cfn_custom_resource")


@pytest.fixture
def shared() -> ModuleType:
    return shared_module()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture(autouse=True)
def quiet_handlers(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    """No real sleeping, reproducible jitter and no client left over from another test."""
    random.seed(1234)
    # The one backoff sleep of every custom resource handler lives in the shared module.
    monkeypatch.setattr(shared_module(), "_sleep", sleeps.append)
    for folder in HANDLER_FOLDERS:
        load_handler(folder)._client.cache_clear()


@pytest.fixture
def domain_handler() -> ModuleType:
    return load_handler("voice_profile_domain")


@pytest.fixture
def configuration_handler() -> ModuleType:
    return load_handler("media_insights_configuration")


@pytest.fixture
def association_handler() -> ModuleType:
    return load_handler("streaming_association")


@pytest.fixture
def voice() -> FakeChimeSdkVoice:
    return FakeChimeSdkVoice()


@pytest.fixture
def pipelines() -> FakeChimeSdkMediaPipelines:
    return FakeChimeSdkMediaPipelines()


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch) -> Invoke:
    def run(module: ModuleType, client: Any, event: dict[str, Any]) -> dict[str, Any]:
        monkeypatch.setattr(module, "_client", lambda: client)
        result: dict[str, Any] = module.on_event(event, None)
        return result

    return run
