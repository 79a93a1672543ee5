"""Suite-wide fixtures: every test must leave no hook attached to any model."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture(autouse=True)
def no_leaked_hooks():
    """Fail a test that leaves a hook on a model (hooks must only live inside a with-block)."""
    yield
    hooks = sys.modules.get("interp_core.hooks")
    if hooks is not None:
        leaked = hooks.leaked_hooks()
        assert not leaked, f"hooks left attached after the test: {leaked[:5]}"
