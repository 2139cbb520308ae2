"""The live board in a real browser: Debian's Chromium driven by Playwright for Python (the system
browser: no browser download is possible here), against the whole local stack (template.yaml on moto,
the local WebSocket API, BoardFanout on the quote stream).

A person signs up through the local Cognito, opens the board, signs in through its form, and sees a quote
produced on the stream appear in the table; the keyboard charts it; screenshots at desktop size and at
320 px are saved under the test's tmp_path (their paths are printed). Without /usr/bin/chromium these
tests FAIL, naming the installer: they never skip.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from playwright.sync_api import expect

from tickerstream_local.runner import LocalStack

CHROMIUM = Path("/usr/bin/chromium")
INSTALLER = "scripts/install-chromium (or `make chromium`; `make test` runs it first)"
PASSWORD = "Correct-Horse-9!battery"
EMAIL = "watcher@example.com"


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"THE BOARD'S BROWSER TEST CANNOT RUN: {CHROMIUM} is missing. Install Debian's Chromium with "
                    f"{INSTALLER}. This test fails rather than skip, so a machine without a browser never "
                    "passes the board untested.", pytrace=False)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    state = tmp_path_factory.mktemp("board") / "local.json"
    running = LocalStack(api_port=0, moto_port=0, ws_port=0, state_file=state, ops_interval=None,
                         parameter_overrides={"AllowedEmailDomains": "example.com"})
    with contextlib.redirect_stdout(io.StringIO()):  # the functions' JSON logs; the tests print their own lines
        running.start()
    try:
        yield running
    finally:
        with contextlib.redirect_stdout(io.StringIO()):
            running.stop()


@pytest.fixture(scope="module")
def user(stack):
    info = stack.info
    idp = boto3.client("cognito-idp", region_name=info["region"], endpoint_url=info["cognito_endpoint_url"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    idp.sign_up(ClientId=info["user_client_id"], Username=EMAIL, Password=PASSWORD,
                UserAttributes=[{"Name": "email", "Value": EMAIL}])
    code = stack.api.app.identity.sent_codes[EMAIL]
    idp.confirm_sign_up(ClientId=info["user_client_id"], Username=EMAIL, ConfirmationCode=code)
    return EMAIL, PASSWORD


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    def console(message):
        # A sector with no quotes stored yet is the API's 404 (unknown_sector): an answer the page shows.
        if message.type == "error" and "/sectors/" not in (message.location or {}).get("url", ""):
            problems.append(f"console {message.type}: {message.text} at {message.location}")

    opened.on("console", console)
    opened.problems = problems
    yield opened
    context.close()


def put_quote(stack, quote: dict) -> None:
    info = stack.info
    kinesis = boto3.client("kinesis", region_name=info["region"], endpoint_url=info["aws_endpoint_url"],
                           aws_access_key_id="testing", aws_secret_access_key="testing")
    kinesis.put_record(StreamName=info["resources"]["QuoteStream"], Data=json.dumps(quote).encode(),
                       PartitionKey=quote["ticker_symbol"])


def sign_in(page, stack, user) -> None:
    page.goto(stack.info["board_url"])
    page.wait_for_selector("body[data-ready=true]")
    page.get_by_label("User name (e-mail)").fill(user[0])
    page.get_by_label("Password").fill(user[1])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#connection[data-state=live]", timeout=20_000)


def test_config_json_is_what_the_running_stack_says(stack):
    """`/config.json` of a running stack: its URLs, pool, user client and the template's sectors."""
    info = stack.info
    assert info["board_url"] == info["api_url"] + "/"
    with urllib.request.urlopen(info["board_url"] + "config.json", timeout=10) as answer:
        config = json.loads(answer.read())
    assert config["api_url"] == info["api_url"]
    assert config["websocket_url"] == info["websocket_url"] and config["websocket_url"].startswith("ws://127.0.0.1:")
    assert config["cognito_endpoint_url"] == info["cognito_endpoint_url"]
    assert (config["user_pool_id"], config["user_client_id"], config["region"]) == (
        info["user_pool_id"], info["user_client_id"], info["region"])
    assert "HEALTHCARE" in config["sectors"]
    assert json.loads(stack.state_file.read_text())["board_url"] == info["board_url"]


def test_board_publish_to_the_local_stack_writes_what_it_serves(stack, monkeypatch, capsys):
    from tickerstream_cli.main import main
    from tickerstream_local.paths import LOCAL_STACK_ENV

    monkeypatch.setenv(LOCAL_STACK_ENV, str(stack.state_file))
    assert main(["board", "publish"]) == 0
    bucket = stack.info["resources"]["BoardBucket"]
    assert f"s3://{bucket}/" in capsys.readouterr().out
    s3 = boto3.client("s3", region_name=stack.info["region"], endpoint_url=stack.info["aws_endpoint_url"],
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    stored = json.loads(s3.get_object(Bucket=bucket, Key="config.json")["Body"].read())
    with urllib.request.urlopen(stack.info["board_url"] + "config.json", timeout=10) as answer:
        assert stored == json.loads(answer.read())
    index = s3.get_object(Bucket=bucket, Key="index.html")
    assert index["ContentType"].startswith("text/html") and b"board.js" in index["Body"].read()


def test_sign_in_and_see_a_produced_quote_appear(stack, user, page, tmp_path):
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.on("websocket", lambda socket: urls.append(socket.url))
    sign_in(page, stack, user)
    # The token travels as a subprotocol and in the Authorization header, never in a URL, never stored.
    assert any(url.startswith("ws://") for url in urls)
    assert not [url for url in urls if "eyJ" in url]
    assert page.evaluate("() => [localStorage.length, sessionStorage.length, document.cookie]") == [0, 0, ""]
    assert "Live" in page.locator("#connection").inner_text()
    put_quote(stack, {"ticker_symbol": "QXZ", "sector": "HEALTHCARE", "change": -0.05, "price": 84.51})
    row = page.locator("tr[data-ticker=QXZ]")
    row.wait_for(timeout=30_000)
    assert row.locator("td.price").inner_text() == "84.51"
    change = row.locator("td.change").inner_text()
    # Down is said with an arrow, a sign and a word, not only a colour.
    assert "▼" in change and "-0.05" in change and "down" in change
    assert page.locator("section[data-sector=HEALTHCARE] tr[data-ticker=QXZ]").count() == 1

    put_quote(stack, {"ticker_symbol": "QXZ", "sector": "HEALTHCARE", "change": 0.25, "price": 84.76})
    expect(row.locator("td.price")).to_have_text("84.76", timeout=30_000)
    assert "▲" in row.locator("td.change").inner_text() and row.get_attribute("data-direction") == "up"

    # The sector's summary comes from the REST API (GET /sectors/HEALTHCARE with the same token).
    expect(page.locator("section[data-sector=HEALTHCARE] .summary")).to_contain_text("2 quotes", timeout=30_000)

    # Keyboard only: Tab from the quotes reaches the row (with a visible focus ring), Enter charts it.
    page.locator("#quotes").focus()
    page.keyboard.press("Tab")
    expect(row).to_be_focused()
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    assert row.get_attribute("aria-selected") == "true"
    # (the page's CSP forbids eval, so waits go through locators, never wait_for_function)
    expect(page.locator("#chart")).to_have_attribute("data-ticker", "QXZ")
    assert page.locator("#chart-summary").inner_text().startswith("QXZ: ")
    assert page.locator("#chart canvas").count() > 0

    desktop = tmp_path / "board-desktop.png"
    page.screenshot(path=str(desktop), full_page=True)
    page.set_viewport_size({"width": 320, "height": 900})
    page.wait_for_timeout(300)
    narrow = tmp_path / "board-320px.png"
    page.screenshot(path=str(narrow), full_page=True)
    print(f"\nboard screenshots: {desktop} {narrow}")
    assert desktop.stat().st_size > 10_000 and narrow.stat().st_size > 10_000
    # Readable at 320 px: nothing wider than the screen, so no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    assert page.locator("tr[data-ticker=QXZ] td.price").is_visible()
    assert page.problems == []


def test_the_page_reconnects_and_resubscribes_by_itself(stack, user, page):
    """The server ends the connection (as at the idle or lifetime limit): the page comes back on its own."""
    sign_in(page, stack, user)
    before = set(stack.websocket.connections)
    assert before
    for connection_id in before:
        request = urllib.request.Request(f"{stack.info['connections_url']}/@connections/{connection_id}",
                                         method="DELETE")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 204
    expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting", timeout=10_000)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=20_000)
    after = set(stack.websocket.connections)
    assert after and not after & before
    put_quote(stack, {"ticker_symbol": "RCN", "sector": "ENERGY", "change": 1.5, "price": 12.5})
    expect(page.locator("section[data-sector=ENERGY] tr[data-ticker=RCN] td.price")).to_have_text(
        "12.50", timeout=30_000)


def test_a_wrong_password_is_said_and_nothing_connects(stack, user, page):
    page.goto(stack.info["board_url"])
    page.wait_for_selector("body[data-ready=true]")
    page.get_by_label("User name (e-mail)").fill(user[0])
    page.get_by_label("Password").fill("not-the-password-1A!")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("NotAuthorizedException")
    assert page.locator("#board").is_hidden()
    assert page.locator("#connection").get_attribute("data-state") == "signed-out"


def test_a_pasted_token_that_is_not_a_jwt_is_refused(stack, page):
    page.goto(stack.info["board_url"])
    page.wait_for_selector("body[data-ready=true]")
    page.locator("summary").click()
    page.get_by_label("Access token (from tickerstream sign-in)").fill("not a token")
    page.get_by_role("button", name="Use this token").click()
    assert "not a JWT" in page.get_by_role("alert").inner_text()
    assert page.locator("#board").is_hidden()


def test_the_page_orders_quotes_by_kinesis_sequence_numbers(stack, page):
    """Kinesis sequence numbers are 56-digit decimals: compared as integers, never as floats or strings."""
    page.goto(stack.info["board_url"])
    page.wait_for_selector("body[data-ready=true]")
    verdicts = page.evaluate("""async () => {
      const { position, isNewer } = await import('/quotes.js');
      const at = (sequence, sub_sequence) => position({ sequence, sub_sequence });
      const big = '49590338271490256608559692538361571095921575989136588898';
      const next = '49590338271490256608559692538361571095921575989136588899';
      return {
        bigger: isNewer(at(next, 0), at(big, 0)),
        smaller: isNewer(at(big, 0), at(next, 0)),
        same: isNewer(at(big, 0), at(big, 0)),
        sub: isNewer(at(big, 2), at(big, 1)),
        numericNotText: isNewer(at('10', 0), at('9', 0)),
        first: isNewer(at('1', 0), null),
        invalid: [at('12a', 0), at('', 0), at(12, 0), at('1', -1), at('1', 1.5)].every((p) => p === null),
      };
    }""")
    assert verdicts == {"bigger": True, "smaller": False, "same": False, "sub": True, "numericNotText": True,
                        "first": True, "invalid": True}


def test_the_reconnect_backoff_grows_and_stays_bounded(stack, page):
    page.goto(stack.info["board_url"])
    page.wait_for_selector("body[data-ready=true]")
    delays = page.evaluate("""async () => {
      const { backoffDelay } = await import('/live.js');
      return [0, 1, 2, 3, 6, 20].map((attempt) => [backoffDelay(attempt, () => 0), backoffDelay(attempt, () => 1)]);
    }""")
    lows, highs = [low for low, _ in delays], [high for _, high in delays]
    assert lows == sorted(lows) and highs == sorted(highs)
    assert delays[0] == [250, 500] and highs[-1] == 30_000 and lows[-1] == 15_000


def test_the_table_drops_what_is_not_newer_and_the_chart_shows_candles(stack, page):
    """The page's own modules on a detached element: an older or repeated quote never replaces a newer
    one (a row moves only forwards); candles and the price line reach the real chart library."""
    page.goto(stack.info["board_url"])
    page.wait_for_selector("body[data-ready=true]")
    seen = page.evaluate("""async () => {
      const { QuoteTable } = await import('/quotes.js');
      const { TickerChart } = await import('/chart.js');
      const host = document.createElement('div');
      document.body.append(host);
      const table = new QuoteTable(host, ['HEALTHCARE'], { onSelect: () => {} });
      const quote = (sequence, sub_sequence, price, change) => ({ type: 'quote', sequence, sub_sequence,
        arrived_at: '2026-11-21T18:00:0' + sub_sequence + 'Z',
        quote: { ticker_symbol: 'QXZ', sector: 'HEALTHCARE', change, price } });
      const applied = [quote('200', 1, 84.5, -0.1), quote('200', 0, 1, 9), quote('199', 5, 2, 9),
                       quote('200', 1, 3, 9), quote('201', 0, 85, 0.5), { type: 'quote', quote: {} },
                       quote('202', 0, 'abc', 1), quote('203', 0, 86, null)]
        .map((message) => table.apply(message));
      const chartBox = document.createElement('div');
      chartBox.style.width = '400px'; chartBox.style.height = '200px';
      const summary = document.createElement('p');
      document.body.append(chartBox, summary);
      const chart = new TickerChart(chartBox, summary);
      chart.addQuote(quote('201', 0, 85, 0.5));
      chart.addCandle({ ticker_symbol: 'QXZ', sector: 'HEALTHCARE', window_start: '2026-11-21T17:59:00Z',
                        window_end: '2026-11-21T18:00:00Z', open: 84, high: 85, low: 83.5, close: 84.5, count: 4 });
      chart.addCandle({ ticker_symbol: 'QXZ', window_start: '2026-11-21T18:00:00Z', open: 'x', high: 1, low: 1, close: 1 });
      chart.show('QXZ');
      return { applied, dropped: table.dropped, price: host.querySelector('tr[data-ticker=QXZ] td.price').textContent,
               summary: summary.textContent, canvases: chartBox.querySelectorAll('canvas').length };
    }""")
    assert seen["applied"] == [True, False, False, False, True, False, False, False]
    assert seen["dropped"] == 6 and seen["price"] == "85.00"
    assert seen["summary"] == "QXZ: 1 price point, last 85; 1 closed candle."
    assert seen["canvases"] > 0
    assert page.problems == []


def _paste(page, token: str) -> None:
    page.locator("summary").click()
    page.get_by_label("Access token (from tickerstream sign-in)").fill(token)
    page.get_by_role("button", name="Use this token").click()


def test_a_pasted_access_token_connects_and_an_expired_one_is_refused(stack, user, page):
    import base64

    info = stack.info
    idp = boto3.client("cognito-idp", region_name=info["region"], endpoint_url=info["cognito_endpoint_url"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    token = idp.initiate_auth(ClientId=info["user_client_id"], AuthFlow="USER_PASSWORD_AUTH",
                              AuthParameters={"USERNAME": user[0], "PASSWORD": user[1]})["AuthenticationResult"]["AccessToken"]

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    expired = f"{part({'alg': 'RS256'})}.{part({'exp': int(time.time()) - 60})}.c2ln"
    page.goto(info["board_url"])
    page.wait_for_selector("body[data-ready=true]")
    _paste(page, expired)
    expect(page.get_by_role("alert")).to_contain_text("expired")
    assert page.locator("#board").is_hidden()
    page.get_by_label("Access token (from tickerstream sign-in)").fill(f"Bearer {token}")
    page.get_by_role("button", name="Use this token").click()
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=20_000)
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#connection")).to_have_attribute("data-state", "signed-out")
    assert page.locator("#board").is_hidden() and page.locator("tr[data-ticker]").count() == 0
