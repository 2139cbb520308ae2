"""The X-Ray SDK is imported only when the template turns SDK tracing on."""

import os
import subprocess
import sys

from tickerstream_local.template import REPO_ROOT

PROBE = (
    "import sys, app; "
    "print('aws_xray_sdk' in sys.modules, type(app.tracer).__name__)"
)


def import_quote_processor(trace_disabled: str) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "functions/quote_processor"), str(REPO_ROOT / "layers/shared")]),
        "POWERTOOLS_TRACE_DISABLED": trace_disabled,
        "QUOTES_TABLE": "t",
        "QUARANTINE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
    }
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_sdk_tracing_off_never_imports_the_xray_sdk():
    assert import_quote_processor("true") == "False _NoTracer"


def test_sdk_tracing_on_uses_powertools_tracer():
    assert import_quote_processor("false") == "True Tracer"


def test_template_defaults_the_stream_consumer_to_lambda_tracing_only(deployment):
    env = deployment.function_environment("QuoteProcessor")
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
