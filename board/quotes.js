// The live table: latest quote per ticker, grouped by sector, never moved back by an older message.

/** (sequence, sub_sequence) as a comparable pair; null when the message does not carry a valid one. */
export function position(message) {
  if (typeof message.sequence !== "string" || !/^[0-9]{1,128}$/.test(message.sequence)) return null;
  const sub = message.sub_sequence ?? 0;
  if (!Number.isInteger(sub) || sub < 0) return null;
  return { sequence: BigInt(message.sequence), sub };
}

/** Whether position `a` comes after `b` in the stream (Kinesis sequence numbers grow within a ticker's shard). */
export function isNewer(a, b) {
  if (!b) return true;
  return a.sequence > b.sequence || (a.sequence === b.sequence && a.sub > b.sub);
}

const PRICE = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 6 });
const CHANGE = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 6, signDisplay: "exceptZero" });

function direction(change) {
  return change > 0 ? "up" : change < 0 ? "down" : "flat";
}

export class QuoteTable {
  constructor(container, sectors, { onSelect }) {
    this.container = container;
    this.onSelect = onSelect;
    this.rows = new Map();       // ticker -> {row, position, quote}
    this.sections = new Map();   // sector -> {section, tbody, summary, empty}
    this.selected = null;
    this.dropped = 0;
    for (const sector of sectors) this.section(sector);
    container.addEventListener("keydown", (event) => this.keydown(event));
    container.addEventListener("click", (event) => {
      const row = event.target.closest("tr[data-ticker]");
      if (row) this.select(row.dataset.ticker);
    });
  }

  section(sector) {
    let entry = this.sections.get(sector);
    if (entry) return entry;
    const id = `sector-${sector.replace(/[^A-Za-z0-9]/g, "-")}`;
    const section = document.createElement("section");
    section.className = "sector";
    section.dataset.sector = sector;
    section.setAttribute("aria-labelledby", `${id}-title`);
    section.innerHTML = `
      <h3 id="${id}-title"></h3>
      <p class="summary" id="${id}-summary">Summary: loading…</p>
      <p class="empty">Waiting for live quotes…</p>
      <table aria-labelledby="${id}-title" aria-describedby="${id}-summary" hidden>
        <thead><tr>
          <th scope="col">Ticker</th><th scope="col">Price</th><th scope="col">Change</th>
          <th scope="col" class="col-time">Time</th>
        </tr></thead>
        <tbody></tbody>
      </table>`;
    section.querySelector("h3").textContent = sector;
    entry = {
      section,
      table: section.querySelector("table"),
      tbody: section.querySelector("tbody"),
      summary: section.querySelector(".summary"),
      empty: section.querySelector(".empty"),
    };
    const after = [...this.sections.keys()].sort().find((name) => name > sector);
    this.container.insertBefore(section, after ? this.sections.get(after).section : null);
    this.sections.set(sector, entry);
    return entry;
  }

  /** A `quote` message: shown if newer than what the row shows; returns whether it was. */
  apply(message) {
    const quote = message.quote;
    const at = position(message);
    if (!quote || typeof quote.ticker_symbol !== "string" || at === null ||
        !Number.isFinite(quote.price) || !Number.isFinite(quote.change)) {  // JSON numbers, never coerced
      this.dropped += 1;
      return false;
    }
    const known = this.rows.get(quote.ticker_symbol);
    if (known && !isNewer(at, known.position)) {
      this.dropped += 1;  // out of order or a repeat: the row already shows something newer
      return false;
    }
    const entry = known ?? this.addRow(quote);
    entry.position = at;
    entry.quote = quote;
    entry.arrivedAt = message.arrived_at;
    this.render(entry, Boolean(known));
    return true;
  }

  addRow(quote) {
    const sector = this.section(quote.sector || "OTHER");
    const row = document.createElement("tr");
    row.dataset.ticker = quote.ticker_symbol;
    row.tabIndex = 0;
    row.setAttribute("aria-selected", "false");
    row.innerHTML = `<td class="ticker"></td><td class="price"></td><td class="change"></td><td class="col-time"></td>`;
    row.cells[0].textContent = quote.ticker_symbol;
    const after = [...sector.tbody.rows].find((other) => other.dataset.ticker > quote.ticker_symbol);
    sector.tbody.insertBefore(row, after ?? null);
    sector.table.hidden = false;
    sector.empty.hidden = true;
    const entry = { row };
    this.rows.set(quote.ticker_symbol, entry);
    return entry;
  }

  render(entry, flash) {
    const { row, quote } = entry;
    const way = direction(Number(quote.change));
    const arrow = { up: "▲", down: "▼", flat: "■" }[way];
    row.dataset.direction = way;
    row.cells[1].textContent = PRICE.format(Number(quote.price));
    const change = row.cells[2];
    change.className = `change ${way}`;
    change.innerHTML = `<span aria-hidden="true">${arrow}</span> <span class="value"></span> <span class="direction"></span>`;
    change.querySelector(".value").textContent = CHANGE.format(Number(quote.change));
    change.querySelector(".direction").textContent = way;
    const time = entry.arrivedAt ? new Date(entry.arrivedAt) : null;
    row.cells[3].textContent = time && !Number.isNaN(time.getTime()) ? time.toLocaleTimeString() : "";
    if (flash) {
      row.classList.remove("flash-up", "flash-down");
      void row.offsetWidth;  // restart the animation on a second change within the flash
      if (way !== "flat") row.classList.add(`flash-${way}`);
    }
  }

  summary(sector, text) {
    this.section(sector).summary.textContent = text;
  }

  select(ticker) {
    if (!this.rows.has(ticker)) return;
    if (this.selected) this.rows.get(this.selected)?.row.setAttribute("aria-selected", "false");
    this.selected = ticker;
    const { row } = this.rows.get(ticker);
    row.setAttribute("aria-selected", "true");
    this.onSelect(ticker);
  }

  keydown(event) {
    const row = event.target.closest?.("tr[data-ticker]");
    if (!row) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      this.select(row.dataset.ticker);
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const all = [...this.container.querySelectorAll("tr[data-ticker]")];
      const next = all[all.indexOf(row) + (event.key === "ArrowDown" ? 1 : -1)];
      next?.focus();
    }
  }

  clear() {
    this.rows.clear();
    this.selected = null;
    for (const entry of this.sections.values()) {
      entry.tbody.replaceChildren();
      entry.table.hidden = true;
      entry.empty.hidden = false;
    }
  }
}
