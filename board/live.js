// The board's WebSocket: token as a subprotocol, subscribe on open, keep-alive, reconnect with backoff.
//
// API Gateway closes a connection idle for 10 minutes and any connection after 2 hours. The board
// sends the `ping` action every few minutes (answered with a pong: traffic both ways), and reconnects on
// its own before the 2-hour mark; any other close is followed by a reconnect with exponential backoff
// and jitter, and every new connection subscribes again.

export const PROTOCOL = "tickerstream.v1";
export const KEEPALIVE_MS = 5 * 60 * 1000;
export const LIFETIME_MS = 115 * 60 * 1000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
// A connection that stayed up this long was a good one: the next failure starts the backoff again.
const STABLE_MS = 10_000;

export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Seconds since the epoch at which a JWT expires, or null if it names none (it is not verified here). */
export function tokenExpiry(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(payload + "=".repeat((4 - (payload.length % 4)) % 4)));
    return typeof claims.exp === "number" ? claims.exp : null;
  } catch {
    return null;
  }
}

export class LiveConnection {
  constructor({ url, token, sectors, onMessage, onState }) {
    this.url = url;
    this.token = token;
    this.sectors = sectors;
    this.onMessage = onMessage;
    this.onState = onState;
    this.socket = null;
    this.attempt = 0;
    this.stopped = false;
    this.timers = new Set();
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.close(1000, "signed out");
    }
  }

  later(ms, action) {
    const timer = setTimeout(() => { this.timers.delete(timer); action(); }, ms);
    this.timers.add(timer);
    return timer;
  }

  connect() {
    if (this.stopped) return;
    const expiry = tokenExpiry(this.token);
    if (expiry !== null && expiry * 1000 <= Date.now()) {
      this.stopped = true;
      this.onState("expired", "Your session has expired: sign in again.");
      return;
    }
    this.onState(this.attempt ? "reconnecting" : "connecting",
      this.attempt ? `Reconnecting (attempt ${this.attempt + 1})…` : "Connecting…");
    let socket;
    try {
      socket = new WebSocket(this.url, [PROTOCOL, this.token]);
    } catch (error) {
      this.onState("refused", `Cannot open the live connection: ${error.message}`);
      return;
    }
    this.socket = socket;
    let opened = 0;
    let keepalive = null;
    let lifetime = null;
    socket.addEventListener("open", () => {
      opened = Date.now();
      this.subscribe();
      keepalive = setInterval(() => this.send({ action: "ping" }), KEEPALIVE_MS);
      lifetime = this.later(LIFETIME_MS, () => {
        if (this.socket === socket) socket.close(4000, "renewing before the 2-hour limit");
      });
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        this.onState("live", "The server sent a message that is not JSON; it was ignored.");
        return;
      }
      if (message.type === "subscribed") {
        const sectors = Array.isArray(message.sectors) ? message.sectors.length : 0;
        const tickers = Array.isArray(message.tickers) ? message.tickers.length : 0;
        this.onState("live", `Live: ${sectors} sectors` + (tickers ? `, ${tickers} tickers` : ""));
      }
      this.onMessage(message);
    });
    socket.addEventListener("close", (event) => {
      clearInterval(keepalive);
      if (lifetime) { clearTimeout(lifetime); this.timers.delete(lifetime); }
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      const renewing = event.code === 4000;
      if (opened && Date.now() - opened >= STABLE_MS) this.attempt = 0;
      // The browser does not tell a refused handshake (401/403) from a network failure: both close
      // with 1006 before opening. An expired token is caught above; anything else is retried.
      const delay = renewing ? 0 : backoffDelay(this.attempt);
      this.attempt = renewing ? 0 : this.attempt + 1;
      const why = opened ? "The live connection closed" : "The live connection could not be opened";
      this.onState("reconnecting", renewing ? "Renewing the live connection…"
        : `${why}; reconnecting in ${(delay / 1000).toFixed(1)} s.`);
      this.later(delay, () => this.connect());
    });
  }

  subscribe() {
    this.send({ action: "subscribe", sectors: this.sectors });
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }
}
