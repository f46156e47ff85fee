"""The custom-resource entry point refuses a ResourceType that is not a string (found by `make mutation`)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.custom_resources.conftest import load


@pytest.mark.parametrize("resource_type", [["Custom::VoiceProfileDomain"], {"a": 1}, None, 7])
def test_a_non_string_resource_type_is_unsupported(resource_type: Any) -> None:
    index = load("index")
    with pytest.raises(ValueError, match=r"^Unsupported ResourceType"):
        index.on_event({"RequestType": "Create", "ResourceType": resource_type}, None)
