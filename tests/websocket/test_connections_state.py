"""WsConnections against a model, for any sequence of messages from a few connections (hypothesis
stateful test): every reply says exactly what the model holds, the ByTopic index holds exactly the
model's subscriptions, the per-connection bound is never passed, and a refused message changes nothing."""

from __future__ import annotations

import json

import boto3
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from moto import mock_aws

from tickerstream_local.template import parameter_defaults

from .conftest import TABLE, context, create_connections_table, load

SECTORS = parameter_defaults()["LakeSectors"].split(",")
MOST = 3  # a small bound, so sequences reach it
CONNECTIONS = ["c1", "c2", "c3"]
tickers = st.lists(st.sampled_from(["QXZ", "TBV", "NFLX", "AMZN", "X.Y", "B-1", "bad", "TOOLONGTICKER"]), max_size=3)
sectors = st.lists(st.sampled_from([*SECTORS[:3], "healthcare", "CASINOS"]), max_size=2)


class Connections(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.mock = mock_aws()
        self.mock.start()
        session = boto3.Session(region_name="us-east-1")
        self.client = create_connections_table(session)
        self.routes = load("WsConnections", BOARD_MAX_SUBSCRIPTIONS=str(MOST))
        self.model: dict[str, tuple[set[str], set[str]]] = {}

    def teardown(self):
        self.mock.stop()

    def _call(self, route: str, connection_id: str, body=None, headers=None, authorizer=None):
        event = {"requestContext": {"routeKey": route, "connectionId": connection_id, "authorizer": authorizer or {}}}
        if body is not None:
            event["body"] = json.dumps(body)
        if headers:
            event["headers"] = headers
        return self.routes.handler(event, context("WsConnections"))

    @rule(connection_id=st.sampled_from(CONNECTIONS))
    def connect(self, connection_id):
        if connection_id in self.model:
            return  # API Gateway never reuses a live connection id
        answer = self._call("$connect", connection_id, headers={"Sec-WebSocket-Protocol": "tickerstream.v1, t"},
                            authorizer={"sub": "u", "client_id": "c", "scope": "tickerstream/quotes.read"})
        assert answer["statusCode"] == 200
        self.model[connection_id] = (set(), set())

    @rule(connection_id=st.sampled_from(CONNECTIONS))
    def disconnect(self, connection_id):
        assert self._call("$disconnect", connection_id) == {"statusCode": 200}
        self.model.pop(connection_id, None)

    @rule(connection_id=st.sampled_from(CONNECTIONS), action=st.sampled_from(["subscribe", "unsubscribe"]),
          named_tickers=tickers, named_sectors=sectors)
    def change(self, connection_id, action, named_tickers, named_sectors):
        answer = json.loads(self._call(action, connection_id, {"action": action, "tickers": named_tickers,
                                                               "sectors": named_sectors})["body"])
        normal_sectors = {s.strip().upper() for s in named_sectors}
        valid = (connection_id in self.model and (named_tickers or named_sectors)
                 and all(t.isupper() and len(t) <= 10 for t in named_tickers) and normal_sectors <= set(SECTORS)
                 and len(named_tickers) <= MOST and len(named_sectors) <= MOST)
        if valid:
            held_tickers, held_sectors = self.model[connection_id]
            if action == "subscribe":
                new = (held_tickers | set(named_tickers), held_sectors | normal_sectors)
            else:
                new = (held_tickers - set(named_tickers), held_sectors - normal_sectors)
            if len(new[0]) + len(new[1]) > MOST:
                valid = False
        if not valid:
            assert answer["type"] == "error", answer
            return
        self.model[connection_id] = new
        assert answer == {"type": f"{action}d", "tickers": sorted(new[0]), "sectors": sorted(new[1])}

    @invariant()
    def the_index_holds_exactly_the_models_subscriptions(self):
        items = self.client.scan(TableName=TABLE)["Items"]
        indexed = {(i["connection_id"]["S"], i["subscribed_topic"]["S"]) for i in items if "subscribed_topic" in i}
        expected = {(c, f"TICKER#{t}") for c, (ts, _) in self.model.items() for t in ts}
        expected |= {(c, f"SECTOR#{s}") for c, (_, ss) in self.model.items() for s in ss}
        assert indexed == expected
        assert {i["connection_id"]["S"] for i in items if i["topic"]["S"] == "META"} == set(self.model)
        for connection_id in self.model:
            assert sum(1 for c, _ in indexed if c == connection_id) <= MOST


Connections.TestCase.settings = settings(max_examples=30, stateful_step_count=20, deadline=None)
test_connections_follow_the_model = Connections.TestCase
