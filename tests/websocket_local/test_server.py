"""The local WebSocket server behaves as API Gateway does, on a small template with stand-in functions:
handshake authorization (401/403), subprotocol from $connect, route selection, route responses, the
quotas (128 KB message, 32 KB frame, idle timeout, lifetime) and the @connections API."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tickerstream_local.stack import _load_provisioners, deploy
from tickerstream_local.websocket import LocalWebSocketServer, Quotas
from websocket_local.synthetic import GOOD, PROTOCOL, WRITE_ONLY, StandIns, websocket_template


@pytest.fixture
def stand_ins():
    return StandIns()


@pytest.fixture
def make_server(aws, stand_ins):
    _load_provisioners()
    deployment = deploy(aws, template=websocket_template(), stack_name="wstest")
    started = []

    def make(**quotas):
        server = LocalWebSocketServer(deployment, port=0, handlers=stand_ins.handlers(), quotas=Quotas(**quotas))
        started.append(server.start())
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server):
    return make_server()


def management(server):
    return boto3.client("apigatewaymanagementapi", endpoint_url=server.connections_url, region_name="us-east-1")


def refused_status(server, subprotocols):
    with pytest.raises(InvalidStatus) as refused:
        connect(server.url, subprotocols=subprotocols, open_timeout=10)
    return refused.value.response.status_code


def test_the_stage_and_routes_come_from_the_template(server):
    assert server.url.endswith("/dev")
    assert set(server.config.routes) == {"$connect", "$disconnect", "echo", "silent", "$default"}
    assert server.config.routes["$connect"].authorizer.function_id == "Authorizer"
    assert {k for k, r in server.config.routes.items() if r.has_route_response} == {"echo", "$default"}


def test_handshake_without_the_identity_source_is_refused_401_without_calling_the_authorizer(server, stand_ins):
    assert refused_status(server, None) == 401
    assert stand_ins.events == []


def test_handshake_refusals_unauthorized_401_deny_403(server, stand_ins):
    assert refused_status(server, [PROTOCOL, "forged"]) == 401
    assert refused_status(server, [PROTOCOL, WRITE_ONLY]) == 403
    assert stand_ins.of_type("CONNECT") == []  # $connect never ran for a refused handshake
    request = stand_ins.events[0]
    assert request["type"] == "REQUEST" and request["methodArn"].endswith("/dev/$connect")
    assert request["requestContext"]["eventType"] == "CONNECT" and request["requestContext"]["routeKey"] == "$connect"
    assert request["multiValueHeaders"]["Sec-WebSocket-Protocol"] == [f"{PROTOCOL}, forged"]


def test_wrong_stage_is_forbidden(server):
    with pytest.raises(InvalidStatus) as refused:
        connect(server.url.replace("/dev", "/prod"), subprotocols=[PROTOCOL, GOOD])
    assert refused.value.response.status_code == 403


def test_accepted_with_the_subprotocol_connect_chose_and_the_authorizer_context_on_every_route(server, stand_ins):
    with connect(server.url, subprotocols=[PROTOCOL, GOOD]) as client:
        assert client.subprotocol == PROTOCOL
        client.send(json.dumps({"action": "echo", "n": 1}))
        answer = json.loads(client.recv(timeout=10))
    assert answer["echo"] == {"action": "echo", "n": 1}
    assert answer["authorizer"] == {"sub": "user-1", "scope": "quotes.read", "principalId": "user-1"}
    (connected,) = stand_ins.of_type("CONNECT")
    assert connected["requestContext"]["authorizer"]["sub"] == "user-1"
    deadline = time.monotonic() + 10
    while not stand_ins.of_type("DISCONNECT") and time.monotonic() < deadline:
        time.sleep(0.05)
    (gone,) = stand_ins.of_type("DISCONNECT")
    assert gone["requestContext"]["connectionId"] == connected["requestContext"]["connectionId"]
    assert gone["requestContext"]["disconnectStatusCode"] == 1000


def test_unknown_or_unparsable_actions_go_to_default_and_routes_without_response_send_nothing(server, stand_ins):
    with connect(server.url, subprotocols=[PROTOCOL, GOOD]) as client:
        for message in ('{"action":"nope"}', "not json", '{"action":["list"]}', '{"action":"$connect"}'):
            client.send(message)
            assert json.loads(client.recv(timeout=10)) == {"type": "error", "message": "unknown action"}
        client.send('{"action":"silent"}')
        client.send('{"action":"echo","n":2}')
        assert json.loads(client.recv(timeout=10))["echo"]["n"] == 2  # nothing came from `silent` first
    routed = [e["requestContext"]["routeKey"] for e in stand_ins.of_type("MESSAGE")]
    assert routed == ["$default"] * 4 + ["silent", "echo"]


def test_a_function_error_tells_the_client_and_keeps_the_connection(server):
    with connect(server.url, subprotocols=[PROTOCOL, GOOD]) as client:
        client.send('{"action":"echo","fail":true}')
        assert json.loads(client.recv(timeout=10))["message"] == "Internal server error"
        client.send('{"action":"echo","n":3}')
        assert json.loads(client.recv(timeout=10))["echo"]["n"] == 3


@pytest.mark.parametrize("size", [32 * 1024 + 1, 128 * 1024 + 1])
def test_oversized_frames_and_messages_close_the_connection_1009(server, stand_ins, size):
    with connect(server.url, subprotocols=[PROTOCOL, GOOD], max_size=None) as client:
        client.send(json.dumps({"action": "echo", "pad": "x" * size}))
        with pytest.raises(ConnectionClosed) as closed:
            client.recv(timeout=10)
    assert closed.value.rcvd.code == 1009
    assert stand_ins.of_type("MESSAGE") == []  # never reached a function


def test_a_message_within_the_frame_quota_is_routed(server):
    with connect(server.url, subprotocols=[PROTOCOL, GOOD]) as client:
        client.send(json.dumps({"action": "echo", "pad": "x" * (30 * 1024)}))
        assert len(json.loads(client.recv(timeout=10))["echo"]["pad"]) == 30 * 1024


def test_idle_connections_are_closed_going_away(make_server):
    server = make_server(idle_timeout=0.5)
    with connect(server.url, subprotocols=[PROTOCOL, GOOD]) as client:
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            client.recv(timeout=10)
    assert closed.value.rcvd.code == 1001 and 0.4 < time.monotonic() - started < 5


def test_activity_does_not_extend_the_lifetime(make_server):
    server = make_server(idle_timeout=5, max_lifetime=1.0)
    with connect(server.url, subprotocols=[PROTOCOL, GOOD]) as client:
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                client.send('{"action":"echo"}')
                client.recv(timeout=10)
                time.sleep(0.1)
    assert closed.value.rcvd.code == 1001 and 0.9 < time.monotonic() - started < 5


def test_connections_api_post_get_delete_and_gone(server, stand_ins):
    api = management(server)
    with connect(server.url, subprotocols=[PROTOCOL, GOOD]) as client:
        (connected,) = stand_ins.of_type("CONNECT")
        connection_id = connected["requestContext"]["connectionId"]
        api.post_to_connection(ConnectionId=connection_id, Data=b'{"type":"quote"}')
        assert client.recv(timeout=10) == '{"type":"quote"}'
        described = api.get_connection(ConnectionId=connection_id)
        assert described["Identity"]["SourceIp"] == "127.0.0.1" and "ConnectedAt" in described
        with pytest.raises(ClientError) as too_big:
            api.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1))
        assert too_big.value.response["Error"]["Code"] == "PayloadTooLargeException"
        api.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=10)
    for call in (lambda: api.post_to_connection(ConnectionId=connection_id, Data=b"x"),
                 lambda: api.get_connection(ConnectionId=connection_id),
                 lambda: api.delete_connection(ConnectionId="neverWasHere=")):
        with pytest.raises(ClientError) as gone:
            call()
        assert gone.value.response["Error"]["Code"] == "GoneException"
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_connections_api_keeps_the_http_connection_alive_and_stop_closes_it(make_server, stand_ins):
    import http.client

    server = make_server()
    with connect(server.url, subprotocols=[PROTOCOL, GOOD]) as client:
        (connection_id,) = server.connections
        http_connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        for n in range(3):  # one TCP connection, three requests
            http_connection.request("POST", f"/dev/@connections/{connection_id}", body=f'{{"n":{n}}}'.encode())
            answer = http_connection.getresponse()
            assert (answer.status, answer.getheader("Connection"), answer.read()) == (200, "keep-alive", b"")
            assert json.loads(client.recv(timeout=10)) == {"n": n}
        assert len(server.management_connections) == 1
        started = time.monotonic()
        server.stop()  # does not wait for the kept-alive connection's client to hang up
    assert time.monotonic() - started < 10 and not server.management_connections
