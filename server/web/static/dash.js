// Dashboard charts: each .chart[data-panel] loads /api/v1/dashboards/panels/<id> and draws it with Chart.js
// (vendored under static/vendor/chartjs, no CDN). Charts reload on live work-order news and every 60 s.
(function () {
  "use strict";
  const root = document.querySelector(".charts");
  if (!root || !window.Chart) return;
  const COLORS = ["#0f766e", "#1d4ed8", "#b45309", "#b91c1c", "#6d28d9", "#0e7490", "#4d7c0f", "#be185d",
                  "#475569", "#ca8a04", "#15803d", "#9333ea"];
  const charts = {};
  function url(panel) {
    const q = new URLSearchParams({ since: root.dataset.since, until: root.dataset.until, lang: root.dataset.lang });
    if (root.dataset.site) q.set("site", root.dataset.site);
    return "/api/v1/dashboards/panels/" + encodeURIComponent(panel) + "?" + q.toString();
  }
  async function load(box) {
    const panel = box.dataset.panel;
    let data;
    try {
      const resp = await fetch(url(panel), { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!resp.ok) return;
      data = await resp.json();
    } catch (e) { return; }
    // the unit (元, kWh, …) beside the title and on the value axis, not only in the tooltips
    const unit = box.querySelector(".unit");
    if (unit) unit.textContent = data.unit ? " · " + data.unit : "";
    const canvasBox = box.querySelector(".canvas-box");
    let empty = canvasBox.querySelector(".nodata");
    const hasData = data.series.some(function (s) { return s.values.some(function (v) { return v; }); });
    if (!hasData) {
      if (!empty) {
        empty = document.createElement("div");
        empty.className = "nodata";
        empty.textContent = root.dataset.nodata;
        canvasBox.appendChild(empty);
      }
    } else if (empty) { empty.remove(); }
    const type = box.dataset.chart === "line" ? "line" : (box.dataset.chart === "doughnut" ? "doughnut" : "bar");
    const stacked = !!box.dataset.stacked;
    const datasets = data.series.map(function (s, i) {
      const c = COLORS[i % COLORS.length];
      return { label: s.name, data: s.values, backgroundColor: type === "line" ? c + "33" : c, borderColor: c,
               borderWidth: type === "line" ? 2 : 0, tension: 0, fill: false, pointRadius: 2 };
    });
    if (charts[panel]) {
      charts[panel].data.labels = data.labels;
      charts[panel].data.datasets = datasets;
      charts[panel].update();
      return;
    }
    charts[panel] = new window.Chart(box.querySelector("canvas"), {
      type: type,
      data: { labels: data.labels, datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } },
                   tooltip: { callbacks: { label: function (ctx) {
                     return ctx.dataset.label + ": " + ctx.formattedValue + (data.unit ? " " + data.unit : ""); } } } },
        scales: type === "doughnut" ? {} : {
          x: { stacked: stacked, ticks: { maxRotation: 0, autoSkip: true } },
          y: { stacked: stacked, beginAtZero: true, ticks: data.unit ? {} : { precision: 0 },
               title: { display: !!data.unit, text: data.unit || "" } },
        },
      },
    });
    box.dataset.loaded = "1";
  }
  function loadAll() { root.querySelectorAll(".chart[data-panel]").forEach(load); }
  loadAll();
  let pending = null;
  document.addEventListener("linli:workorder", function () {
    if (pending) return;
    pending = setTimeout(function () { pending = null; loadAll(); }, 1500);
  });
  setInterval(function () { if (!document.hidden) loadAll(); }, 60000);
})();
