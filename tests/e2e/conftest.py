"""An AWS endpoint the tests own: a stack deployed onto it stops, and what it wrote stays readable."""

from __future__ import annotations

import pytest

from tickerstream_local.server import MotoServer


@pytest.fixture
def local_aws():
    with MotoServer(port=0, separate_process=True) as server:
        yield server
