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


@pytest.fixture(scope="module")
def local_api():
    """template.yaml's API on the local werkzeug server, its functions real, AWS a moto server."""
    from api.local_api import local_api_stack

    with local_api_stack() as stack:
        yield stack
