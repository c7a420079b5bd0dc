// Parley's analytics dashboard: signs in with a tenant API key or token (kept in this tab's
// sessionStorage, sent as a Bearer credential to this origin only), reads
// /v1/analytics/summary and /v1/analytics/timeseries, and draws them as inline SVG.
// Plain ES2020, no libraries, no build step. Every drawn value carries data-* attributes.
"use strict";

(() => {
  const STORE_KEY = "parley.dashboard.credential";
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = {
    messages_in: "#3b6fd8", messages_out: "#2ba37a",
    response_p50_ms: "#3b6fd8", response_p95_ms: "#d8763b",
    delivery_rate: "#2ba37a", read_rate: "#8a5cd8",
    failures: "#c73a3a", dead_letters: "#7a1f1f",
    languages: "#3b6fd8", sentiments: "#d8a23b",
  };
  const TILES = [
    ["messages_in", "Messages in"], ["messages_out", "Messages out"],
    ["conversations_started", "Conversations started"],
    ["conversations_ended", "Conversations ended"],
    ["response_p50_ms", "Response p50 (ms)"], ["response_p95_ms", "Response p95 (ms)"],
    ["first_response_p50_ms", "First response p50 (ms)"],
    ["engine_p50_ms", "Engine p50 (ms)"],
    ["delivery_rate", "Delivery rate"], ["read_rate", "Read rate"],
  ];
  const $ = (id) => document.getElementById(id);

  function el(name, attrs = {}, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function shown(value, isRate) {
    if (value === null || value === undefined) return "–";
    return isRate ? `${(value * 100).toFixed(1)} %` : String(value);
  }

  // --- the credential ---------------------------------------------------------------------
  const credential = () => sessionStorage.getItem(STORE_KEY);

  function signOut(message) {
    sessionStorage.removeItem(STORE_KEY);
    $("board").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
  }

  async function api(path, params) {
    const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v));
    const answer = await fetch(`${path}?${query}`, {
      headers: { Authorization: `Bearer ${credential()}`, Accept: "application/json" },
    });
    const body = await answer.json().catch(() => ({}));
    if (answer.status === 401 || answer.status === 403) {
      const problem = new Error(body.detail || body.title || "not allowed");
      problem.signOut = true;
      throw problem;
    }
    if (!answer.ok) throw new Error(body.detail || body.title || `HTTP ${answer.status}`);
    return body;
  }

  // --- the range ---------------------------------------------------------------------------
  // datetime-local inputs hold UTC wall time here ("2026-12-07T10:00").
  const toInput = (date) => date.toISOString().slice(0, 16);
  const fromInput = (value) => (value ? `${value}:00Z` : "");

  function initialRange() {
    const url = new URLSearchParams(location.search);
    const to = url.get("to") ? new Date(url.get("to")) : new Date();
    const from = url.get("from") ? new Date(url.get("from")) : new Date(to - 24 * 3600e3);
    $("from").value = toInput(from);
    $("to").value = toInput(to);
    if (url.get("interval")) $("interval").value = url.get("interval");
    if (url.get("channel")) $("channel").value = url.get("channel");
  }

  function params() {
    return { from: fromInput($("from").value), to: fromInput($("to").value),
      channel: $("channel").value };
  }

  // --- drawing -----------------------------------------------------------------------------
  function tiles(figures) {
    const box = $("tiles");
    box.replaceChildren();
    for (const [metric, label] of TILES) {
      const tile = document.createElement("div");
      tile.className = "tile";
      tile.dataset.metric = metric;
      tile.dataset.value = figures[metric] === null ? "" : String(figures[metric]);
      const name = document.createElement("div");
      name.className = "label";
      name.textContent = label;
      const value = document.createElement("div");
      value.className = "value";
      value.textContent = shown(figures[metric], metric.endsWith("_rate"));
      tile.append(name, value);
      box.append(tile);
    }
  }

  function legend(series) {
    const box = document.createElement("div");
    box.className = "legend";
    for (const { key, label } of series) {
      const item = document.createElement("span");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = COLORS[key];
      item.append(swatch, label);
      box.append(item);
    }
    return box;
  }

  const tickLabel = (start, interval) =>
    interval === "day" ? start.slice(5, 10) : start.slice(11, 16);

  // Buckets along x; each series a bar per bucket ("bar") or a polyline with points ("line").
  function timeChart(container, buckets, interval, series, kind, isRate = false) {
    container.replaceChildren();
    const width = 560, height = 200, left = 44, bottom = 22, top = 8;
    const values = buckets.flatMap((b) => series.map((s) => b.figures[s.key] ?? 0));
    const max = isRate ? 1 : Math.max(1, ...values);
    const plotW = width - left - 6, plotH = height - top - bottom;
    const step = plotW / Math.max(1, buckets.length);
    const y = (v) => top + plotH - (v / max) * plotH;
    const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
    for (const frac of [0, 0.5, 1]) {
      const v = max * frac;
      svg.append(el("line", { x1: left, x2: width - 6, y1: y(v), y2: y(v), stroke: "#e3e6eb" }));
      svg.append(el("text", { x: left - 4, y: y(v) + 3, "text-anchor": "end" },
        isRate ? `${Math.round(v * 100)}%` : String(Math.round(v))));
    }
    const every = Math.max(1, Math.ceil(buckets.length / 8));
    buckets.forEach((b, i) => {
      if (i % every === 0) {
        svg.append(el("text", { x: left + step * (i + 0.5), y: height - 6,
          "text-anchor": "middle" }, tickLabel(b.start, interval)));
      }
    });
    series.forEach((s, n) => {
      const points = [];
      buckets.forEach((b, i) => {
        const value = b.figures[s.key];
        const attrs = { "data-series": s.key, "data-bucket": b.start,
          "data-value": value === null ? "" : value, fill: COLORS[s.key] };
        if (kind === "bar") {
          const w = (step * 0.8) / series.length;
          const x = left + step * i + step * 0.1 + w * n;
          const v = value ?? 0;
          const rect = el("rect", { ...attrs, x, y: y(v), width: Math.max(1, w),
            height: top + plotH - y(v) });
          rect.append(el("title", {}, `${s.label} ${b.start}: ${shown(value, isRate)}`));
          svg.append(rect);
        } else if (value !== null && value !== undefined) {
          const cx = left + step * (i + 0.5);
          points.push(`${cx},${y(value)}`);
          const dot = el("circle", { ...attrs, cx, cy: y(value), r: 3 });
          dot.append(el("title", {}, `${s.label} ${b.start}: ${shown(value, isRate)}`));
          svg.append(dot);
        }
      });
      if (kind === "line" && points.length > 1) {
        svg.insertBefore(el("polyline", { points: points.join(" "), fill: "none",
          stroke: COLORS[s.key], "stroke-width": 2 }), svg.firstChild.nextSibling);
      }
    });
    container.append(legend(series), svg);
  }

  // One horizontal bar per label of one or more {label: count} maps.
  function countChart(container, groups) {
    container.replaceChildren();
    const rows = groups.flatMap(({ key, counts }) =>
      Object.entries(counts).map(([label, n]) => ({ key, label, n })));
    if (!rows.length) {
      const none = document.createElement("p");
      none.className = "empty";
      none.textContent = "None in this range.";
      container.append(none);
      return;
    }
    const width = 560, rowH = 22, left = 150;
    const max = Math.max(1, ...rows.map((r) => r.n));
    const svg = el("svg", { viewBox: `0 0 ${width} ${rows.length * rowH + 6}`, role: "img" });
    rows.forEach((r, i) => {
      const y = 3 + i * rowH;
      const w = ((width - left - 50) * r.n) / max;
      svg.append(el("text", { x: left - 6, y: y + 14, "text-anchor": "end" },
        groups.length > 1 ? `${r.key.replace("_", " ")}: ${r.label}` : r.label));
      const bar = el("rect", { x: left, y: y + 3, width: Math.max(1, w), height: rowH - 8,
        fill: COLORS[r.key], "data-series": r.key, "data-label": r.label, "data-value": r.n });
      bar.append(el("title", {}, `${r.label}: ${r.n}`));
      svg.append(bar);
      svg.append(el("text", { x: left + w + 5, y: y + 14 }, String(r.n)));
    });
    container.append(svg);
  }

  async function load() {
    $("board-error").textContent = "";
    const range = params();
    const interval = $("interval").value;
    try {
      const [summary, series] = await Promise.all([
        api("/v1/analytics/summary", range),
        api("/v1/analytics/timeseries", { ...range, interval }),
      ]);
      const figures = summary.figures;
      const buckets = series.buckets;
      tiles(figures);
      timeChart($("chart-messages"), buckets, interval, [
        { key: "messages_in", label: "in" }, { key: "messages_out", label: "out" }], "bar");
      timeChart($("chart-response"), buckets, interval, [
        { key: "response_p50_ms", label: "p50" }, { key: "response_p95_ms", label: "p95" }],
      "line");
      timeChart($("chart-rates"), buckets, interval, [
        { key: "delivery_rate", label: "delivered" }, { key: "read_rate", label: "read" }],
      "line", true);
      countChart($("chart-failures"), [
        { key: "failures", counts: figures.failures },
        { key: "dead_letters", counts: figures.dead_letters }]);
      countChart($("chart-languages"), [{ key: "languages", counts: figures.languages }]);
      countChart($("chart-sentiments"), [{ key: "sentiments", counts: figures.sentiments }]);
      document.body.dataset.loaded = "true";
    } catch (error) {
      if (error.signOut) signOut(`Signed out: ${error.message}`);
      else $("board-error").textContent = error.message;
    }
  }

  function showBoard() {
    $("login").hidden = true;
    $("board").hidden = false;
    $("logout").hidden = false;
    return load();
  }

  document.addEventListener("DOMContentLoaded", () => {
    initialRange();
    $("login").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(STORE_KEY, $("credential").value.trim());
      $("credential").value = "";
      showBoard();
    });
    $("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      load();
    });
    $("logout").addEventListener("click", () => signOut());
    if (credential()) showBoard();
    else signOut();
  });
})();
