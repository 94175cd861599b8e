"""The simple API conformance tests again, with /simple/ serving a view (default_view) of the built-in index:
a view answers every standard as the index itself does (issue 14)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_simple_api import *  # noqa: F403
from tests.unit.test_simple_api import demo, project  # noqa: F401


@pytest.fixture
def settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The usual settings plus a view over the built-in index that /simple/ serves."""
    return {**settings, "views": {"all": {"members": ["default"]}}, "default_view": "all"}
