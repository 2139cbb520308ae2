// The per-ticker chart: the price line of the quotes seen since sign-in, candles as "candle" messages arrive.
import { CandlestickSeries, LineSeries, createChart } from "./vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";

const MAX_POINTS = 2000;  // per ticker: a bounded memory however long the board stays open

function seconds(iso) {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}

export class TickerChart {
  constructor(container, summary) {
    this.container = container;
    this.summaryElement = summary;
    this.prices = new Map();   // ticker -> [{time, value}]
    this.candles = new Map();  // ticker -> Map(window start -> candle bar)
    this.ticker = null;
    this.chart = null;
  }

  ensureChart() {
    if (this.chart) return;
    // attributionLogo stays on: the licence's link to TradingView, on the chart itself.
    this.chart = createChart(this.container, {
      autoSize: true,
      layout: { attributionLogo: true },
      timeScale: { timeVisible: true, secondsVisible: true },
    });
    this.candleSeries = this.chart.addSeries(CandlestickSeries, {
      upColor: "#116329", downColor: "#a40e26", borderVisible: false,
      wickUpColor: "#116329", wickDownColor: "#a40e26",
    });
    this.lineSeries = this.chart.addSeries(LineSeries, { color: "#0550ae", lineWidth: 2 });
  }

  addQuote(message) {
    const { ticker_symbol: ticker, price } = message.quote;
    let time = seconds(message.arrived_at) ?? Math.floor(Date.now() / 1000);
    const points = this.prices.get(ticker) ?? [];
    const last = points[points.length - 1];
    // The chart's times must not go back; quotes in the same second replace that second's point.
    if (last && time <= last.time) {
      time = last.time;
      points.pop();
    }
    const point = { time, value: Number(price) };
    points.push(point);
    if (points.length > MAX_POINTS) points.splice(0, points.length - MAX_POINTS);
    this.prices.set(ticker, points);
    if (ticker === this.ticker) {
      this.lineSeries.update(point);
      this.describe();
    }
  }

  addCandle(candle) {
    const time = seconds(candle.window_start);
    const prices = [candle.open, candle.high, candle.low, candle.close];
    if (time === null || typeof candle.ticker_symbol !== "string" || !prices.every(Number.isFinite)) return;
    const bars = this.candles.get(candle.ticker_symbol) ?? new Map();
    bars.set(time, { time, open: candle.open, high: candle.high, low: candle.low, close: candle.close });
    if (bars.size > MAX_POINTS) bars.delete(Math.min(...bars.keys()));
    this.candles.set(candle.ticker_symbol, bars);
    if (candle.ticker_symbol === this.ticker) this.showCandles();
  }

  showCandles() {
    const bars = [...(this.candles.get(this.ticker) ?? new Map()).values()].sort((a, b) => a.time - b.time);
    this.candleSeries.setData(bars);
    this.describe();
  }

  show(ticker) {
    this.ticker = ticker;
    this.ensureChart();
    this.lineSeries.setData(this.prices.get(ticker) ?? []);
    this.showCandles();
    this.chart.timeScale().fitContent();
    this.container.dataset.ticker = ticker;
  }

  describe() {
    const points = this.prices.get(this.ticker) ?? [];
    const candles = this.candles.get(this.ticker)?.size ?? 0;
    const last = points[points.length - 1];
    this.summaryElement.textContent = `${this.ticker}: ${points.length} price point${points.length === 1 ? "" : "s"}` +
      (last ? `, last ${last.value}` : "") + `; ${candles} closed candle${candles === 1 ? "" : "s"}.`;
  }

  clear() {
    this.prices.clear();
    this.candles.clear();
    this.ticker = null;
    if (this.chart) {
      this.chart.remove();
      this.chart = null;
    }
    delete this.container.dataset.ticker;
    this.summaryElement.textContent = "Select a ticker to chart it.";
  }
}
