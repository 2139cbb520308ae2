"""Local fan-out latency: PutRecords -> a subscribed WebSocket client's receipt, with 1, 100 and 1,000
connected clients, and BoardFanout's time per batch - on the whole local stack (moto in its own
process, every event-source mapping, the local WebSocket API and its @connections endpoint).

The clients are asyncio clients (`websockets`) all in one process of their own, so they do not share
the stack's GIL; each connects with a quotes.read token (authorizer + $connect) and subscribes to one
ticker. Each round is one PutRecords of that ticker's quote with a new price; its latency is from just
before the PutRecords call to each client's receipt of that price (wall clock, same machine). Between
rounds the bench waits until every client has it (or the round's bound passes: counted as missed).
The mapping polls its shard once a second (Lambda's base rate) and batches for the template's
MaximumBatchingWindowInSeconds, so those dominate p50 with few clients.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import multiprocessing
import resource
import threading
import time
import urllib.parse
import urllib.request
from typing import Any

CLIENT_COUNTS = (1, 100, 1_000)
ROUNDS = {1: 10, 100: 8, 1_000: 5}
ROUND_BOUND_SECONDS = 60.0
TICKER = "FANO"
CONNECT_CONCURRENCY = 50
CONNECT_ATTEMPTS = 5
FDS_PER_CLIENT = 3  # the client's socket, the server's, and headroom for the pushes' connections


def _token(info: dict[str, Any]) -> str:
    basic = base64.b64encode(f"{info['machine_client_id']}:{info['machine_client_secret']}".encode()).decode()
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "tickerstream/quotes.read"}).encode()
    request = urllib.request.Request(info["token_url"], data=form, headers={
        "Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["access_token"]


def _clients_process(url: str, token: str, count: int, conn: Any) -> None:
    """The clients' own process: connect and subscribe `count` clients, then for each price the parent
    names, report every client's receipt time of it (or None if it did not come within the bound)."""
    import resource as child_resource

    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    _, hard = child_resource.getrlimit(child_resource.RLIMIT_NOFILE)
    child_resource.setrlimit(child_resource.RLIMIT_NOFILE, (hard, hard))

    async def main() -> None:
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        refused = 0

        async def one() -> Any:
            nonlocal refused
            async with gate:
                for attempt in range(CONNECT_ATTEMPTS):  # as the board page does: reconnect on a refusal
                    try:
                        client = await connect(url, subprotocols=["tickerstream.v1", token], open_timeout=120,
                                               ping_interval=None, max_queue=None)
                    except InvalidStatus:
                        refused += 1
                        await asyncio.sleep(0.2 * (attempt + 1))
                        continue
                    await client.send(json.dumps({"action": "subscribe", "tickers": [TICKER], "sectors": []}))
                    reply = json.loads(await client.recv())
                    assert reply.get("type") == "subscribed", reply
                    return client
            raise RuntimeError(f"a client was refused {CONNECT_ATTEMPTS} times")

        clients = await asyncio.gather(*(one() for _ in range(count)))
        receipts: list[dict[float, float]] = [{} for _ in clients]

        async def listen(index: int, client: Any) -> None:
            async for text in client:
                received_at = time.time()
                message = json.loads(text)
                if message.get("type") == "quote" and message["quote"]["ticker_symbol"] == TICKER:
                    receipts[index][message["quote"]["price"]] = received_at

        listeners = [asyncio.create_task(listen(i, c)) for i, c in enumerate(clients)]
        loop = asyncio.get_running_loop()
        conn.send(("ready", refused))
        while True:
            price = await loop.run_in_executor(None, conn.recv)
            if price is None:
                break
            deadline = time.monotonic() + ROUND_BOUND_SECONDS
            while time.monotonic() < deadline and any(price not in r for r in receipts):
                await asyncio.sleep(0.005)
            conn.send([r.get(price) for r in receipts])
        for task in listeners:
            task.cancel()
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)

    asyncio.run(main())


class BatchTimer:
    """Wraps BoardFanout's QuoteStream mapping handler: seconds per invocation."""

    def __init__(self, handler: Any) -> None:
        self._handler = handler
        self.seconds: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        started = time.perf_counter()
        try:
            return self._handler(event, context)
        finally:
            with self._lock:
                self.seconds.append(time.perf_counter() - started)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))] if ordered else float("nan")


def _clients_within_limits(wanted: int) -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return min(wanted, max(1, (hard - 256) // FDS_PER_CLIENT))


def _one_count(stack: Any, token: str, wanted: int, price_base: float) -> dict[str, float]:
    count = _clients_within_limits(wanted)
    kinesis = stack.deployment.client("kinesis")
    stream = stack.deployment.physical["QuoteStream"]
    (mapping,) = [m for m in stack.mappings if m.function_id == "BoardFanout" and m.event_name == "QuoteStream"]
    timer = BatchTimer(mapping.handler)
    mapping.handler = timer
    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_clients_process, args=(stack.info["websocket_url"], token, count, child), daemon=True)
    connect_started = time.perf_counter()
    process.start()
    try:
        waited = 0
        while not parent.poll(1):
            waited += 1
            if not process.is_alive() or waited > 600:
                raise RuntimeError(f"{count} clients did not connect and subscribe (see the clients' error above)")
        ready, refused_handshakes = parent.recv()
        assert ready == "ready"
        connect_seconds = time.perf_counter() - connect_started
        latencies: list[float] = []
        missed = 0
        for round_number in range(ROUNDS.get(wanted, 5)):
            price = price_base + round_number + 0.5
            quote = {"ticker_symbol": TICKER, "sector": "TECHNOLOGY", "change": 0.5, "price": price}
            sent_at = time.time()
            kinesis.put_records(StreamName=stream, Records=[{"Data": json.dumps(quote).encode(), "PartitionKey": TICKER}])
            parent.send(price)
            receipts = parent.recv()
            latencies += [received - sent_at for received in receipts if received is not None]
            missed += sum(1 for received in receipts if received is None)
        parent.send(None)
        process.join(timeout=60)
    finally:
        mapping.handler = timer._handler
        if process.is_alive():
            process.kill()
    batches = list(timer.seconds)
    prefix = f"fanout_{wanted}_clients"
    return {
        f"{prefix}_connected": float(count),
        f"{prefix}_connect_and_subscribe_s": connect_seconds,
        f"{prefix}_refused_handshakes": float(refused_handshakes),
        f"{prefix}_p50_ms": _percentile(latencies, 0.50) * 1000,
        f"{prefix}_p95_ms": _percentile(latencies, 0.95) * 1000,
        f"{prefix}_missed": float(missed),
        f"{prefix}_deliveries": float(len(latencies)),
        f"{prefix}_batch_p50_ms": _percentile(batches, 0.50) * 1000,
        f"{prefix}_batch_max_ms": max(batches) * 1000 if batches else float("nan"),
    }


def run() -> dict[str, float]:
    from tickerstream_local.runner import LocalStack

    results: dict[str, float] = {}
    # the functions' EMF metrics and logs go to stdout, as in Lambda; keep them out of the report
    with contextlib.redirect_stdout(io.StringIO()), \
            LocalStack(api_port=0, moto_port=0, ws_port=0, state_file=None, ops_interval=None) as stack:
        token = _token(stack.info)
        for number, wanted in enumerate(CLIENT_COUNTS):
            results.update(_one_count(stack, token, wanted, price_base=1000.0 * (number + 1)))
            time.sleep(2)  # the previous clients' $disconnect settle before the next count connects
    return results


def table(r: dict[str, float]) -> list[tuple[str, str, str]]:
    rows = []
    for wanted in CLIENT_COUNTS:
        p = f"fanout_{wanted}_clients"
        if f"{p}_p50_ms" not in r:
            continue
        connected = int(r[f"{p}_connected"])
        label = f"{wanted:,}" if connected == wanted else f"{connected:,} (of {wanted:,}: ulimit -n)"
        missed = int(r[f"{p}_missed"])
        rows.append((f"Fan-out PutRecords -> client receipt, {label} subscribed clients (p50 / p95)",
                     f"{r[f'{p}_p50_ms']:.0f} / {r[f'{p}_p95_ms']:.0f} ms"
                     + (f", {missed} receipts missed" if missed else ", none missed"),
                     "poll 1 s + batching window; none missed"))
        rows.append((f"BoardFanout time per batch, {label} subscribers (p50 / max)",
                     f"{r[f'{p}_batch_p50_ms']:.0f} / {r[f'{p}_batch_max_ms']:.0f} ms",
                     "within BoardPushBudgetSeconds"))
    return rows
