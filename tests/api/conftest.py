"""Fixtures of the API tests: the API functions loaded on the moto deployment."""

from __future__ import annotations

import pytest

from tickerstream_local.functions import LocalContext, load_function


@pytest.fixture
def context():
    return LocalContext("tickerstream-local-Api")


@pytest.fixture
def api_query(deployment):
    return load_function("ApiQuery", deployment.function_environment("ApiQuery"))


@pytest.fixture
def api_ingest(deployment):
    return load_function("ApiIngest", deployment.function_environment("ApiIngest"))
