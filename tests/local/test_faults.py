"""The fault plan: which calls fail, how they fail, and that only the functions' clients meet the faults."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from tickerstream_local.faults import Fault, FaultPlan, InjectedCrash, crash, server_error, throttled
from tickerstream_local.server import MotoServer

TABLE = "faults"


@given(after=st.integers(0, 50), count=st.integers(1, 10), period=st.integers(1, 30), calls=st.integers(0, 300))
def test_bursts_fail_count_calls_in_every_period_after_the_first(after, count, period, calls):
    every = count + period
    fault = Fault("dynamodb:PutItem", after=after, count=count, every=every)
    failed = [number for number in range(calls) if fault.hit()]
    assert all(number >= after for number in failed)
    for start in range(after, calls - every + 1, every):  # each whole period holds one burst, at its start
        assert [n for n in failed if start <= n < start + every] == list(range(start, start + count))


@given(after=st.integers(0, 50), count=st.integers(1, 10), calls=st.integers(0, 100))
def test_a_single_burst_fails_count_calls_once(after, count, calls):
    fault = Fault("dynamodb:PutItem", after=after, count=count)
    assert sum(fault.hit() for _ in range(calls)) == min(count, max(0, calls - after))


def test_a_burst_must_fit_its_period():
    with pytest.raises(ValueError, match="shorter"):
        Fault("dynamodb:PutItem", count=5, every=5)
    with pytest.raises(ValueError, match="<service>:<Operation>"):
        Fault("PutItem")


@pytest.fixture(scope="module")
def endpoint():
    with MotoServer(port=0) as server:
        boto3.Session(region_name="us-east-1").client("dynamodb", endpoint_url=server.endpoint_url).create_table(
            TableName=TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        yield server.endpoint_url


def _function_client(endpoint: str, attempts: int = 1):
    """A client as the template's functions make theirs: boto3.client(), boto3's default session."""
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}))


def _put(client, key: str) -> None:
    client.put_item(TableName=TABLE, Item={"pk": {"S": key}})


def _stored(endpoint: str, key: str) -> bool:
    own = boto3.Session(region_name="us-east-1").client("dynamodb", endpoint_url=endpoint)
    return "Item" in own.get_item(TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True)


@pytest.mark.parametrize(("fault", "status", "code"), [
    (throttled("dynamodb:PutItem"), 400, "ProvisionedThroughputExceededException"),
    (throttled("dynamodb:PutItem", code="ThrottlingException"), 400, "ThrottlingException"),
    (server_error("dynamodb:PutItem"), 500, "InternalServerError"),
])
def test_errors_reach_the_function_as_aws_sends_them_and_nothing_is_written(endpoint, fault, status, code):
    plan = FaultPlan([fault])
    plan.install(endpoint)
    try:
        client = _function_client(endpoint)
        with pytest.raises(ClientError) as raised:
            _put(client, f"not-{code}")
        _put(client, f"then-{code}")  # the burst (count 1) is over
    finally:
        plan.uninstall()
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert not _stored(endpoint, f"not-{code}") and _stored(endpoint, f"then-{code}")
    assert plan.injected == {f"dynamodb:PutItem {code}": 1}


def test_a_lost_response_after_commit_leaves_the_write_done(endpoint):
    plan = FaultPlan([server_error("dynamodb:PutItem", committed=True)])
    plan.install(endpoint)
    try:
        with pytest.raises(ClientError, match="InternalServerError"):
            _put(_function_client(endpoint), "committed")
    finally:
        plan.uninstall()
    assert _stored(endpoint, "committed")


def test_botocore_retries_meet_the_faults_per_attempt(endpoint):
    plan = FaultPlan([throttled("dynamodb:PutItem", count=1)])
    plan.install(endpoint)
    try:
        _put(_function_client(endpoint, attempts=2), "retried")  # attempt 1 throttled, attempt 2 lands
    finally:
        plan.uninstall()
    assert _stored(endpoint, "retried") and plan.total == 1


def test_a_crash_escapes_the_client_call(endpoint):
    plan = FaultPlan([crash("dynamodb:PutItem", after=1)])
    plan.install(endpoint)
    try:
        client = _function_client(endpoint, attempts=3)
        _put(client, "before-crash")
        with pytest.raises(InjectedCrash):
            _put(client, "crashed")
    finally:
        plan.uninstall()
    assert _stored(endpoint, "before-crash") and not _stored(endpoint, "crashed")


def test_only_the_default_sessions_clients_to_the_stacks_endpoint_meet_faults(endpoint):
    plan = FaultPlan([server_error("dynamodb:PutItem", count=1000)])
    before = _function_client(endpoint)  # made before install: no hook
    plan.install(endpoint)
    try:
        own_session = boto3.Session(region_name="us-east-1").client("dynamodb", endpoint_url=endpoint)
        _put(own_session, "own-session")
        _put(before, "made-before")
        other_endpoint = _function_client(endpoint.replace("localhost", "127.0.0.1"))
        _put(other_endpoint, "other-endpoint")
        with pytest.raises(ClientError):
            _put(_function_client(endpoint), "faulted")
    finally:
        plan.uninstall()
    _put(_function_client(endpoint), "after-uninstall")
    assert plan.total == 1
    assert all(_stored(endpoint, key) for key in ("own-session", "made-before", "other-endpoint", "after-uninstall"))


def test_a_fault_touching_one_table_counts_and_fails_only_that_tables_calls(endpoint):
    plan = FaultPlan([server_error("dynamodb:PutItem", count=1, every=2, touching="spared-not")])
    plan.install(endpoint)
    try:
        client = _function_client(endpoint)
        _put(client, "spared-1")  # another key: neither counted nor failed
        _put(client, "spared-2")
        with pytest.raises(ClientError):
            _put(client, "spared-not-1")
        _put(client, "spared-not-2")  # the second matching call: between bursts
    finally:
        plan.uninstall()
    assert plan.faults[0].calls == 2 and all(_stored(endpoint, k) for k in ("spared-1", "spared-2", "spared-not-2"))
