"""Alerts: the threshold's edges, one alert per ticker and window, the webhook behind SNS, the secret."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from candle_aggregator.candles import Candle, crosses, direction, move_percent
from candle_aggregator.webhook import Webhook, WebhookUnavailable, secret_reader, url_of
from candles.candle_support import WINDOW, candles_in_table, quote, received_alerts, records_of, run_window
from tickerstream_local.webhook_receiver import WebhookReceiver


def candle(open_: float, close: float, count: int = 2) -> Candle:
    return Candle("A", "S", open_, max(open_, close), min(open_, close), close, count, (1, 0), (2, 0))


@pytest.mark.parametrize(
    ("open_", "close", "threshold", "alerts"),
    [
        (100.0, 105.0, "5", False),  # exactly at the threshold: not MORE than it
        (100.0, 95.0, "5", False),
        (100.0, 105.000001, "5", True),
        (100.0, 94.999999, "5", True),
        (0.1, 0.105, "5", False),  # exact in decimals although 0.105/0.1 - 1 is 0.04999… in floats
        (3.0, 3.15, "5", False),
        (50.0, 50.0, "0", False),  # a flat window never moves "more than" anything
        (50.0, 50.000001, "0", True),
        (84.51, 84.51, "5", False),
    ],
)
def test_threshold_edges(open_, close, threshold, alerts):
    assert crosses(candle(open_, close), Decimal(threshold)) is alerts


@given(st.integers(1, 10**12), st.integers(1, 10**12), st.integers(0, 10**4))
def test_crosses_is_exactly_the_definition(open_units, close_units, threshold_hundredths):
    o, c = open_units / 10**6, close_units / 10**6
    threshold = Decimal(threshold_hundredths) / 100
    exact = abs(Decimal(repr(c)) - Decimal(repr(o))) / Decimal(repr(o)) * 100
    assert crosses(candle(o, c), threshold) is (exact > threshold)
    assert abs(move_percent(candle(o, c))) > threshold if exact > threshold else True


def test_direction():
    assert direction(candle(10.0, 12.0)) == "up" and direction(candle(10.0, 8.0)) == "down"


def test_single_quote_and_flat_windows_never_alert_but_big_moves_do(aggregator, context, deployment, alerts_queue):
    records = records_of([
        quote("ONE", 10.0),  # a single quote: 0 %
        quote("FLAT", 20.0), quote("FLAT", 30.0), quote("FLAT", 20.0),  # up and back: 0 % open to close
        quote("EDGE", 100.0), quote("EDGE", 95.0),  # exactly -5 %
        quote("DOWN", 100.0, "ENERGY"), quote("DOWN", 94.99, "ENERGY"),
    ])
    run_window(aggregator.handler, context, [records])
    alerts = received_alerts(deployment, alerts_queue)
    assert [(a["ticker"], attrs["direction"], attrs["sector"]) for a, attrs in alerts] == [("DOWN", "down", "ENERGY")]
    assert alerts[0][0]["move_percent"] == -5.01
    assert len(candles_in_table(deployment)) == 4


# -- the webhook ---------------------------------------------------------------------------------------

def point_secret(deployment, url: str) -> None:
    from tickerstream_local.provision_analytics import point_secret_at

    point_secret_at(deployment, "AlertWebhookSecret", url)


MOVERS = [quote("UP", 10.0), quote("UP", 12.0), quote("DN", 10.0, "ENERGY"), quote("DN", 8.0, "ENERGY")]


def test_alerts_reach_the_webhook_after_sns(aggregator, context, deployment, alerts_queue):
    with WebhookReceiver() as receiver:
        point_secret(deployment, receiver.url)
        run_window(aggregator.handler, context, [records_of(MOVERS)])
        assert sorted(a["ticker"] for a in receiver.alerts) == ["DN", "UP"]
    assert sorted(a["ticker"] for a, _ in received_alerts(deployment, alerts_queue)) == ["DN", "UP"]


@pytest.mark.parametrize("failure", ["status", "refused", "slow"])
def test_a_failing_or_slow_webhook_never_costs_the_sns_alert(aggregator, context, deployment, alerts_queue, capsys, caplog,
                                                             failure):
    import time

    receiver = WebhookReceiver(fail_with=500 if failure == "status" else None, delay=5.0 if failure == "slow" else 0.0)
    receiver.start()
    url = receiver.url
    if failure == "refused":
        receiver.stop()  # nothing listens there any more
    aggregator.webhook._timeout = 0.5
    point_secret(deployment, url)
    started = time.monotonic()
    try:
        response = run_window(aggregator.handler, context, [records_of(MOVERS)])
    finally:
        if failure != "refused":
            receiver.stop()
    assert time.monotonic() - started < 4.5  # one short timeout at most, not one per alert
    assert response["batchItemFailures"] == []  # the window closed: a webhook never holds up the shard
    assert sorted(a["ticker"] for a, _ in received_alerts(deployment, alerts_queue)) == ["DN", "UP"]
    out = capsys.readouterr().out
    logged = out + "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert url not in logged and f":{receiver.port}" not in logged  # the URL is a secret: never logged
    metrics = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    assert [m["WebhookFailures"] for m in metrics if "WebhookFailures" in m] == [[1.0]]
    assert "Webhook delivery failed" in logged


def test_an_empty_url_turns_the_webhook_off(aggregator, context, deployment, alerts_queue, capsys):
    run_window(aggregator.handler, context, [records_of(MOVERS)])  # the template's placeholder {"url": ""}
    out = capsys.readouterr().out
    assert [json.loads(l)["WebhookFailures"] for l in out.splitlines() if "WebhookFailures" in l] == [[0.0]]
    assert len(received_alerts(deployment, alerts_queue)) == 2


def test_the_secret_is_read_once_per_cache_period(deployment):
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    client = deployment.client("secretsmanager")
    calls = []
    client.meta.events.register("before-call.secrets-manager.GetSecretValue", lambda **kw: calls.append(1))
    point_secret(deployment, "https://hooks.example.com/one")
    read = secret_reader(deployment.ctx.refs["AlertWebhookSecret"], max_age=300, provider=SecretsProvider(boto3_client=client))
    assert read() == "https://hooks.example.com/one"
    point_secret(deployment, "https://hooks.example.com/two")
    assert read() == "https://hooks.example.com/one"  # cached: no second read within max_age
    assert len(calls) == 1
    fresh = secret_reader(deployment.ctx.refs["AlertWebhookSecret"], max_age=0, provider=SecretsProvider(boto3_client=client))
    assert fresh() == "https://hooks.example.com/two"
    assert len(calls) == 2


def test_an_unreadable_secret_is_a_counted_failure_without_its_value(deployment):
    read = secret_reader("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf")
    with pytest.raises(WebhookUnavailable, match="ResourceNotFoundException"):
        read()
    result = Webhook(read).deliver([{"ticker": "A"}], json.dumps)
    assert (result.posted, result.failures) == (0, 1)


@pytest.mark.parametrize(("value", "url"), [
    ('{"url": ""}', None), ("", None), ('{"url": "https://h.example/x"}', "https://h.example/x"),
    ("https://h.example/y", "https://h.example/y"),
])
def test_secret_values(value, url):
    assert url_of(value) == url


@pytest.mark.parametrize("value", ['{"url": "ftp://h.example/x"}', "{not json", "javascript:alert(1)"])
def test_unusable_secret_values_are_refused_without_echoing_them(value):
    with pytest.raises(WebhookUnavailable) as raised:
        url_of(value)
    assert "h.example" not in str(raised.value) and "alert(1)" not in str(raised.value)


def test_many_alerts_go_in_posts_of_25():
    posts = []
    hook = Webhook(lambda: "https://h.example/x", post=lambda url, body, timeout: posts.append(json.loads(body)) or 204)
    result = hook.deliver([{"n": n} for n in range(60)], json.dumps)
    assert [len(p["alerts"]) for p in posts] == [25, 25, 10] and result.posted == 60


def test_the_window_in_the_alert_is_lambdas(aggregator, context, deployment, alerts_queue):
    run_window(aggregator.handler, context, [records_of(MOVERS)])
    bodies = [a for a, _ in received_alerts(deployment, alerts_queue)]
    assert {(b["window_start"], b["window_end"]) for b in bodies} == {(WINDOW["start"], WINDOW["end"])}
