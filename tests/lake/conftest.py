"""Fixtures for the data lake tests."""

from __future__ import annotations

from typing import Any

import pytest

from lake.lakekit import transform_module
from tickerstream_local.functions import LocalContext, load_function


@pytest.fixture
def transform():
    return transform_module()


@pytest.fixture
def app(deployment):
    """The handler module loaded with the template's environment for FirehoseTransform."""
    return load_function("FirehoseTransform", deployment.function_environment("FirehoseTransform"))


@pytest.fixture
def invoke(app):
    def run(event: dict[str, Any]) -> dict[str, Any]:
        return app.handler(event, LocalContext("FirehoseTransform"))

    return run

