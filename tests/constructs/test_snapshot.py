"""Snapshots of synthesized templates. Logical IDs are part of the public contract: a changed
construct ID replaces a resource (for a retained voice profile domain, it orphans one), so any
change here must be deliberate. Update with ``pytest --snapshot-update`` after checking the diff.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.conftest import Synthesized

_ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def _masked(template: dict[str, Any]) -> Any:
    """The template with asset hashes (which change with any handler edit) replaced."""
    return json.loads(_ASSET_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True)))


def test_example_app_template(example_caller: Synthesized, snapshot: Any) -> None:
    assert _masked(example_caller.template) == snapshot


def test_logical_ids_of_a_multi_connector_stack(many: Synthesized, snapshot: Any) -> None:
    assert sorted(f"{v['Type']} {k}" for k, v in many.template["Resources"].items()) == snapshot
