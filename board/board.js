// tickerstream's live board: sign in (Cognito InitiateAuth or a pasted access token), then the live
// quotes over the WebSocket API, a chart of the selected ticker, and the sector summaries of the REST API.
//
// The access token lives in this module's memory only: never in a URL, never in storage. Reloading the
// page signs out.
import { LiveConnection, tokenExpiry } from "./live.js";
import { QuoteTable } from "./quotes.js";
import { TickerChart } from "./chart.js";

const SUMMARY_REFRESH_MS = 30_000;
// A sector whose quotes just changed has its summary read again soon, at most this often.
const SECTOR_REFRESH_DELAY_MS = 3_000;
const $ = (id) => document.getElementById(id);

const state = {
  config: null, token: null, live: null, table: null, chart: null, summaryTimer: null, pendingSectors: new Map(),
  expiryTimer: null,
};

function setConnection(kind, text) {
  const element = $("connection");
  element.dataset.state = kind;
  element.textContent = text;
  if (kind === "expired") signOut("Your session has expired: sign in again.");
}

async function loadConfig() {
  const response = await fetch("config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json answered ${response.status}`);
  return response.json();
}

/** Cognito's InitiateAuth (USER_PASSWORD_AUTH) with the user client: the access token, or an Error to show. */
async function passwordSignIn(username, password) {
  const { cognito_endpoint_url: endpoint, user_client_id: clientId } = state.config;
  const response = await fetch(endpoint, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.1",
      "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
    },
    body: JSON.stringify({
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: clientId,
      AuthParameters: { USERNAME: username, PASSWORD: password },
    }),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const code = String(answer.__type || `HTTP ${response.status}`).split("#").pop();
    throw new Error(`${code}: ${answer.message || "sign-in failed"}`);
  }
  if (!answer.AuthenticationResult) {
    throw new Error(`sign-in needs the ${answer.ChallengeName} challenge, which the board does not answer: ` +
      "sign in with `tickerstream sign-in` and paste the access token");
  }
  return answer.AuthenticationResult.AccessToken;
}

function checkToken(token) {
  const trimmed = token.trim().replace(/^Bearer\s+/i, "");
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(trimmed)) {
    throw new Error("that is not a JWT access token (three base64url parts separated by dots)");
  }
  const expiry = tokenExpiry(trimmed);
  if (expiry !== null && expiry * 1000 <= Date.now()) throw new Error("that token has expired");
  return trimmed;
}

function signIn(token) {
  state.token = token;
  $("sign-in").hidden = true;
  $("board").hidden = false;
  $("sign-out").hidden = false;
  $("sign-in-error").textContent = "";
  $("password").value = "";
  $("token").value = "";
  state.live = new LiveConnection({
    url: state.config.websocket_url,
    token,
    sectors: state.config.sectors,
    onState: setConnection,
    onMessage: handleMessage,
  });
  state.live.start();
  const expiry = tokenExpiry(token);
  if (expiry !== null) {
    // Timers cap at 2^31 - 1 ms (about 24.8 days); a longer token is checked again at reconnect.
    const remaining = Math.min(expiry * 1000 - Date.now(), 2 ** 31 - 1);
    state.expiryTimer = setTimeout(() => signOut("Your session has expired: sign in again."), remaining);
  }
  refreshSummaries();
  state.summaryTimer = setInterval(() => refreshSummaries(), SUMMARY_REFRESH_MS);
  $("quotes").focus();
}

function signOut(reason = "") {
  state.live?.stop();
  state.live = null;
  state.token = null;
  clearInterval(state.summaryTimer);
  clearTimeout(state.expiryTimer);
  for (const timer of state.pendingSectors.values()) clearTimeout(timer);
  state.pendingSectors.clear();
  state.table.clear();
  state.chart.clear();
  $("board").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = reason;
  const connection = $("connection");
  if (connection.dataset.state !== "expired") {
    connection.dataset.state = "signed-out";
    connection.textContent = "Signed out";
  }
  $("username").focus();
}

function handleMessage(message) {
  if (message.type === "quote") {
    if (state.table.apply(message)) {
      state.chart.addQuote(message);
      refreshSectorSoon(message.quote.sector);
    }
  } else if (message.type === "candle") {
    state.chart.addCandle(message.candle || {});
  } else if (message.type === "error") {
    setConnection($("connection").dataset.state, `The server refused a request: ${message.message}`);
  }
}

function refreshSectorSoon(sector) {
  if (!state.config.sectors.includes(sector) || state.pendingSectors.has(sector)) return;
  state.pendingSectors.set(sector, setTimeout(() => {
    state.pendingSectors.delete(sector);
    if (state.token) refreshSummaries([sector]);
  }, SECTOR_REFRESH_DELAY_MS));
}

async function refreshSummaries(sectors = state.config.sectors) {
  const { api_url: api } = state.config;
  const token = state.token;
  await Promise.all(sectors.map(async (sector) => {
    try {
      const response = await fetch(`${api.replace(/\/$/, "")}/sectors/${encodeURIComponent(sector)}`,
        { headers: { Authorization: token } });
      if (state.token !== token) return;  // signed out meanwhile
      if (response.status === 401) {
        signOut("The API refused the token: sign in again.");
        return;
      }
      const body = await response.json().catch(() => ({}));
      if (response.status === 404) {
        state.table.summary(sector, "Summary: no quotes stored for this sector yet.");
      } else if (!response.ok) {
        state.table.summary(sector, `Summary unavailable (${response.status}${body.error ? `: ${body.error.code}` : ""}).`);
      } else {
        const average = body.average_change === null ? "–" : (body.average_change > 0 ? "+" : "") + body.average_change;
        state.table.summary(sector, `${body.quote_count} quotes · ▲ ${body.advances} up · ▼ ${body.declines} down · ` +
          `${body.unchanged} unchanged · average change ${average}`);
      }
    } catch (error) {
      if (state.token === token) state.table.summary(sector, `Summary unavailable (${error.message}).`);
    }
  }));
}

async function main() {
  try {
    state.config = await loadConfig();
  } catch (error) {
    $("sign-in-error").textContent = `The board cannot start: ${error.message}.`;
    return;
  }
  state.table = new QuoteTable($("quotes"), state.config.sectors, { onSelect: (ticker) => state.chart.show(ticker) });
  state.chart = new TickerChart($("chart"), $("chart-summary"));
  if (!state.config.websocket_url) {
    $("sign-in-error").textContent = "This stack has no WebSocket API (config.json has no websocket_url).";
  }
  $("password-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const username = $("username").value.trim();
    const password = $("password").value;
    if (!username || !password) {
      $("sign-in-error").textContent = "Enter your user name and password.";
      return;
    }
    $("sign-in-error").textContent = "";
    setConnection("signing-in", "Signing in…");
    try {
      signIn(await passwordSignIn(username, password));
    } catch (error) {
      setConnection("signed-out", "Signed out");
      $("sign-in-error").textContent = `Sign-in failed: ${error.message}`;
    }
  });
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    try {
      signIn(checkToken($("token").value));
    } catch (error) {
      $("sign-in-error").textContent = `Token refused: ${error.message}`;
    }
  });
  $("sign-out").addEventListener("click", () => signOut());
  document.body.dataset.ready = "true";
}

main();
