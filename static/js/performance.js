// The operator dashboard: fills the sections from the page's JSON, draws the charts with uPlot, and polls
// the same URL (Accept: application/json) every 15 s.
(function () {
  "use strict";
  const REFRESH_MS = 15000;
  const charts = {};

  function dl(id, rows) {
    const el = document.getElementById(id);
    el.replaceChildren();
    for (const [label, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = value === null || value === undefined ? "–" : String(value);
      el.append(dt, dd);
    }
  }

  function fillAlerts(alerts) {
    const ul = document.getElementById("alerts");
    ul.replaceChildren();
    if (!alerts.length) {
      const li = document.createElement("li");
      li.textContent = "No alert has been computed yet (the compute-alerts schedule runs every minute).";
      ul.append(li);
    }
    for (const a of alerts) {
      const li = document.createElement("li");
      li.className = a.firing ? "alert firing" : "alert ok";
      li.textContent = a.firing ? `${a.name}: ${a.message} (since ${a.since})` : `${a.name}: ok`;
      ul.append(li);
    }
  }

  function fillProviders(calls) {
    const body = document.getElementById("providers");
    body.replaceChildren();
    const names = Object.keys(calls);
    if (!names.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 6;
      td.textContent = "No provider call in the last hour.";
      tr.append(td);
      body.append(tr);
    }
    for (const name of names) {
      const c = calls[name];
      const tr = document.createElement("tr");
      for (const v of [name, c.count, `${Math.round(c.success_rate * 100)} %`, c.p50_ms, c.p95_ms, c.retries]) {
        const td = document.createElement("td");
        td.textContent = String(v);
        tr.append(td);
      }
      body.append(tr);
    }
  }

  function chart(id, series, data) {
    const el = document.getElementById(id);
    const opts = {
      width: Math.max(280, el.clientWidth || 420),
      height: 180,
      series: [{}, ...series],
      axes: [{}, { size: 50 }],
    };
    if (charts[id]) {
      charts[id].setData(data);
    } else {
      charts[id] = new uPlot(opts, data, el);
    }
  }

  function render(d) {
    document.getElementById("updated").textContent = `updated ${new Date(d.at).toLocaleTimeString()}`;
    fillAlerts(d.alerts);
    dl("load", [
      ["Active streams (WebSockets)", d.load.active_streams],
      ["Running tasks", d.load.running],
      ["Queue size", d.load.queue_size],
      ["Average processing time (s, 24 h)", d.load.avg_processing_seconds],
    ]);
    const r = d.providers.rate_limit;
    dl("rate", [
      ["Requests per minute", r.requests_per_minute],
      ["Calls that waited for the limit", r.calls_that_waited],
      ["Mean wait (ms)", r.mean_wait_ms],
      ["Longest wait (ms)", r.max_wait_ms],
    ]);
    dl("system", [
      ["CPU", `${d.system.cpu_percent} %`],
      ["Load average", d.system.load_average.join(" / ")],
      ["Memory used", `${d.system.memory_percent} %`],
      ["Free disk (GB)", d.system.disk_free_gb],
    ]);
    fillProviders(d.providers.calls);
    const s = d.series;
    chart("chart-tasks", [{ label: "tasks", stroke: "#2563eb", fill: "rgba(37,99,235,.15)" }], [s.hours, s.tasks_per_hour]);
    chart("chart-errors", [{ label: "error rate", stroke: "#dc2626" }], [s.hours, s.error_rate]);
    chart("chart-stages", [{ label: "p50", stroke: "#16a34a" }, { label: "p95", stroke: "#ca8a04" }],
      [s.hours, s.chunk_p50_ms, s.chunk_p95_ms]);
    chart("chart-queue", [{ label: "queued", stroke: "#7c3aed" }, { label: "running", stroke: "#0891b2" }],
      [s.minutes, s.queue_depth, s.running]);
    chart("chart-disk", [{ label: "free GB", stroke: "#475569" }], [s.minutes, s.disk_free_gb]);
  }

  async function refresh() {
    try {
      const r = await fetch(window.location.pathname, { headers: { Accept: "application/json" } });
      if (r.ok) render(await r.json());
    } catch (e) {
      document.getElementById("updated").textContent = "could not update; retrying";
    }
  }

  render(JSON.parse(document.getElementById("ops-data").textContent));
  setInterval(refresh, REFRESH_MS);
})();
