"""CandleAggregator's tests: its code on the path, events shaped as Lambda's tumbling-window invokes."""

from __future__ import annotations

import sys

import pytest

from tickerstream_local.template import REPO_ROOT

_CODE = str(REPO_ROOT / "functions" / "candle_aggregator")
if _CODE not in sys.path:
    sys.path.insert(0, _CODE)


@pytest.fixture
def aggregator(deployment):
    """CandleAggregator's handler module, loaded with the environment template.yaml gives it."""
    from aws_lambda_powertools.utilities import parameters

    from tickerstream_local.functions import load_function

    parameters.clear_caches()
    module = load_function("CandleAggregator", deployment.function_environment("CandleAggregator"))
    yield module
    parameters.clear_caches()


@pytest.fixture
def context():
    from tickerstream_local.functions import LocalContext

    return LocalContext("tickerstream-local-CandleAggregator")


@pytest.fixture
def alerts_queue(deployment):
    """An SQS queue subscribed (raw delivery) to AlertsTopic: what subscribers receive."""
    from candles.candle_support import subscribe_queue

    return subscribe_queue(deployment)
