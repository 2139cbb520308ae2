"""Shared test set-up: fake credentials, a region, no tracing, and template-driven moto deployments."""

from __future__ import annotations

import os

# Before anything imports boto3 or Powertools: never reach real AWS, never need X-Ray.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
        "SAM_CLI_TELEMETRY": "0",
    }
)
os.environ.pop("AWS_PROFILE", None)

import boto3  # noqa: E402
import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from tickerstream_local.moto_patches import install as patch_moto  # noqa: E402
from tickerstream_local.stack import Deployment, deploy  # noqa: E402

# In-process moto as the local stack runs it: touched-items rollback, writes safe for writer threads.
patch_moto()


@pytest.fixture
def aws():
    """In-process moto for the duration of one test."""
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


@pytest.fixture
def deployment(aws) -> Deployment:
    """template.yaml's resources, provisioned on in-process moto."""
    return deploy(aws)


@pytest.fixture
def quote_processor(deployment):
    """QuoteProcessor's handler module, loaded with the environment template.yaml gives it."""
    from tickerstream_local.functions import load_function

    return load_function("QuoteProcessor", deployment.function_environment("QuoteProcessor"))


@pytest.fixture
def lambda_context():
    from tickerstream_local.functions import LocalContext

    return LocalContext("tickerstream-local-QuoteProcessor")
