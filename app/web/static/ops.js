// The operations view of the dashboard, for superadmins: plain JavaScript, no build step.
//
// It polls GET /api/v1/ops/overview every POLL_MS (one request, the whole deployment, counted
// in the stats limit: 30 a minute of the 600 allowed), rather than holding a stream of its own:
// the figures change by the second, not by the event, and a poll needs nothing new on the
// server. Uses app.js's `$`, `h` and `api` (same page, same session cookie).
"use strict";

const OPS_POLL_MS = 2000;
const OPS_WINDOW_S = 15 * 60;
const SVG_NS = "http://www.w3.org/2000/svg";
const CHART_W = 300;
const CHART_H = 90;

// Each chart: the series it draws (from the overview's `series`), how its values read.
const OPS_CHARTS = [
  { id: "streams", title: "Open streams", lines: [["streams", "open"]], unit: "" },
  { id: "created", title: "Notifications created", lines: [["created_per_second", "per second"]], unit: "/s" },
  { id: "deliveries", title: "Deliveries", lines: [["deliveries_per_second", "per second"]], unit: "/s" },
  {
    id: "latency",
    title: "Delivery latency",
    lines: [["latency_p50_ms", "p50"], ["latency_p99_ms", "p99"]],
    unit: " ms",
  },
  { id: "slow", title: "Slow consumers dropped", lines: [["slow_consumers_dropped", "per point"]], unit: "" },
  { id: "refusals", title: "Limit refusals", lines: [["limit_refusals", "per point"]], unit: "" },
];

const ops = { timer: null, paused: false, running: false, charts: new Map() };

function startOperations() {
  stopOperations();
  ops.running = true;
  if (!ops.charts.size) buildCharts();
  $("ops-pause").onclick = togglePause;
  showPaused();
  pollOperations();
}

function stopOperations() {
  ops.running = false;
  clearTimeout(ops.timer);
  ops.timer = null;
}

function togglePause() {
  ops.paused = !ops.paused;
  showPaused();
  if (!ops.paused) {
    clearTimeout(ops.timer);
    pollOperations();
  }
}

function showPaused() {
  const button = $("ops-pause");
  button.textContent = ops.paused ? "Resume updates" : "Pause updates";
  button.setAttribute("aria-pressed", String(ops.paused));
}

async function pollOperations() {
  if (!ops.running || ops.paused) return;
  let delay = OPS_POLL_MS;
  try {
    renderOverview(await api("/ops/overview"));
  } catch (error) {
    if (!ops.running) return; // signed out meanwhile (a 401 does that)
    $("ops-updated").textContent = `Not refreshed: ${error.message}`;
    if (error.status === 429) delay = 10 * OPS_POLL_MS;
  }
  if (ops.running && !ops.paused) ops.timer = setTimeout(pollOperations, delay);
}

// ------------------------------------------------------------------ figures and tables

const opsNumber = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

function fmt(value, unit = "") {
  return value === null || value === undefined ? "–" : `${opsNumber.format(value)}${unit}`;
}

function renderOverview(o) {
  const totals = o.totals;
  $("ops-total").textContent = fmt(totals.total_connections);
  $("ops-admins").textContent = fmt(totals.active_admin_connections);
  $("ops-customers").textContent = fmt(totals.active_customer_connections);
  $("ops-instance-count").textContent = fmt(totals.instances);
  $("ops-slow").textContent = fmt(totals.slow_consumers_dropped);
  const at = new Date(o.generated_at);
  $("ops-updated").textContent =
    `The whole deployment, updated ${at.toLocaleTimeString()} (answered by ${o.instance})`;
  renderHealth(o.health);
  renderInstances(o.instances, o.instance);
  renderSalons(o.busiest_salons);
  for (const chart of OPS_CHARTS) drawChart(chart, o.series, at.getTime() / 1000);
}

function renderHealth(health) {
  const degraded = [];
  if (!health.database) degraded.push("database not answering");
  if (!health.broker) degraded.push("broker not answering");
  if (!health.loop_lag_ok) degraded.push("event loop lagging");
  const box = $("ops-health");
  box.dataset.state = health.status;
  $("ops-health-label").textContent = health.status === "ok" ? "Healthy" : `Degraded: ${degraded.join(", ")}`;
  const check = (name, ok, okText, badText) => [
    h("dt", {}, name),
    h("dd", { class: ok ? "ops-ok" : "ops-bad", dataset: { ok: String(ok) } },
      h("span", { class: "ops-dot", "aria-hidden": "true" }), ok ? okText : badText),
  ];
  $("ops-checks").replaceChildren(
    ...check("Database", health.database, "OK: answering", "Down: not answering"),
    ...check("Broker", health.broker, "OK: answering", "Down: not answering"),
    ...check("Event-loop lag (p99)", health.loop_lag_ok,
      `OK: ${fmt(health.loop_lag_ms, " ms")}`, `Slow: ${fmt(health.loop_lag_ms, " ms")}`),
  );
}

function renderInstances(instances, answering) {
  const rows = instances.map((i) => h(
    "tr",
    { dataset: { instance: i.instance } },
    h("th", { scope: "row" }, i.instance, i.instance === answering ? h("span", { class: "muted small" }, " (answered)") : null),
    h("td", {}, fmt(i.active_admin_connections)),
    h("td", {}, fmt(i.active_customer_connections)),
    h("td", {}, fmt(i.notifications_per_second)),
    h("td", {}, fmt(i.deliveries_per_second)),
    h("td", {}, fmt(i.loop_lag_p99_ms, " ms")),
    h("td", {}, i.instance === answering ? "now" : `${fmt(i.last_announcement_seconds)} s ago`),
  ));
  $("ops-instances").tBodies[0].replaceChildren(...rows);
}

function renderSalons(salons) {
  const rows = salons.map((s) => h(
    "tr",
    { dataset: { salon: s.salon_id } },
    h("th", { scope: "row" }, s.name ?? `Salon #${s.salon_id}`),
    h("td", { dataset: { streams: s.streams } }, fmt(s.streams)),
    h("td", { dataset: { notifications: s.notifications_last_hour ?? "" } }, fmt(s.notifications_last_hour)),
  ));
  $("ops-salons").tBodies[0].replaceChildren(...rows);
  $("ops-salons-empty").hidden = salons.length > 0;
}

// ------------------------------------------------------------------ charts (SVG by hand)

function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, value);
  return el;
}

function buildCharts() {
  const root = $("ops-charts");
  for (const chart of OPS_CHARTS) {
    const plot = svg("svg", {
      viewBox: `0 0 ${CHART_W} ${CHART_H}`, preserveAspectRatio: "none", role: "img", class: "ops-plot",
    });
    const paths = chart.lines.map((_, index) => svg("path", { class: `ops-line ops-line-${index}` }));
    plot.append(svg("line", { x1: 0, y1: CHART_H - 0.5, x2: CHART_W, y2: CHART_H - 0.5, class: "ops-axis" }), ...paths);
    const now = h("span", { class: "ops-chart-now" }, "–");
    const legend = chart.lines.length > 1
      ? h("span", { class: "ops-legend" }, chart.lines.map(([, label], index) =>
        h("span", { class: `ops-key ops-key-${index}` }, label)))
      : null;
    const figure = h(
      "figure",
      { class: "ops-chart card", dataset: { chart: chart.id } },
      h("figcaption", {}, h("span", { class: "ops-chart-title" }, chart.title), now),
      plot,
      h("div", { class: "ops-chart-foot" }, h("span", {}, "15 min ago"), legend,
        h("span", { class: "ops-chart-max" }, "peak –"), h("span", {}, "now")),
    );
    root.append(figure);
    ops.charts.set(chart.id, { figure, plot, paths, now, max: figure.querySelector(".ops-chart-max") });
  }
}

function drawChart(chart, series, nowSeconds) {
  const parts = ops.charts.get(chart.id);
  const times = series.t;
  const start = nowSeconds - OPS_WINDOW_S;
  const lines = chart.lines.map(([key]) => series[key]);
  const peak = Math.max(0, ...lines.flat().filter((v) => v !== null));
  const top = peak > 0 ? peak * 1.15 : 1;
  lines.forEach((values, index) => {
    const segments = [[]];
    values.forEach((value, i) => {
      if (value === null) {
        segments.push([]); // no deliveries in that interval: no latency, a gap in the line
        return;
      }
      const x = ((times[i] - start) / OPS_WINDOW_S) * CHART_W;
      const y = CHART_H - 1 - (value / top) * (CHART_H - 6);
      segments[segments.length - 1].push(`${x.toFixed(1)},${y.toFixed(1)}`);
    });
    // A point alone is drawn as a dot (a zero-length line with round caps).
    const d = segments.filter((points) => points.length)
      .map((points) => `M${points.join(" L")}${points.length === 1 ? " h0.01" : ""}`);
    parts.paths[index].setAttribute("d", d.join(" "));
  });
  const latest = chart.lines.map(([key, label], index) => {
    // Latency has no value where nothing was delivered: the last one measured stands.
    const last = lines[index].findLast((v) => v !== null) ?? null;
    return chart.lines.length > 1 ? `${label} ${fmt(last, chart.unit)}` : fmt(last, chart.unit);
  });
  parts.now.textContent = latest.join(" · ");
  parts.max.textContent = `peak ${fmt(peak, chart.unit)}`;
  parts.figure.dataset.points = String(times.length);
  parts.figure.dataset.peak = String(peak);
  parts.plot.setAttribute("aria-label",
    `${chart.title} over the last 15 minutes: now ${latest.join(", ")}; peak ${fmt(peak, chart.unit)}; ` +
    `${times.length} points, one every ${fmt(series.interval)} s`);
}
