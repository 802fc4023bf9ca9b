// linli server pages: refresh the main panel in place every N seconds while the tab is visible.
(function () {
  "use strict";
  const main = document.getElementById("main");
  if (!main) return;
  const every = Number(main.dataset.refresh || 0) * 1000;
  if (!every) return;
  let dirty = false;  // never throw away what someone is typing into a form
  main.addEventListener("input", function () { dirty = true; });
  async function refresh() {
    if (document.hidden || dirty) return;
    const active = document.activeElement;
    if (active && main.contains(active) && active.closest("form")) return;
    try {
      const resp = await fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (!resp.ok) return;
      const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      const fresh = doc.getElementById("main");
      if (fresh) main.innerHTML = fresh.innerHTML;
    } catch (e) {
      /* offline for a moment: try again next time */
    }
  }
  setInterval(refresh, every);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
})();

// Live updates (SSE): notifications for work orders, headline figures, confirmations for dangerous forms.
(function () {
  "use strict";
  const box = document.getElementById("toasts");
  // <select data-autosubmit>: choosing an option submits its form (no inline handlers: the CSP forbids them)
  document.addEventListener("change", function (ev) {
    const el = ev.target;
    if (el instanceof HTMLSelectElement && el.dataset.autosubmit && el.form) el.form.submit();
  });
  document.addEventListener("submit", function (ev) {
    const form = ev.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      ev.preventDefault();
    }
  }, true);
  if (!box || !window.EventSource) return;
  let i18n = {};
  try { i18n = JSON.parse(box.dataset.i18n || "{}"); } catch (e) { i18n = {}; }
  function toast(item) {
    const div = document.createElement("div");
    div.className = "toast" + (item.severity === "alarm" ? " alarm" : "");
    const a = document.createElement("a");
    a.href = "/workorders/" + item.order_id;
    a.textContent = "#" + item.order_id + " " + (i18n["act_" + item.action] || item.action);
    const p = document.createElement("div");
    p.textContent = item.fault + " · " + item.site + "/" + item.device + " · " + item.who;
    div.appendChild(a);
    div.appendChild(p);
    box.appendChild(div);
    while (box.children.length > 4) box.removeChild(box.firstChild);
    setTimeout(function () { div.remove(); }, 12000);
  }
  function cards(s) {
    document.querySelectorAll("[data-key]").forEach(function (el) {
      if (s[el.dataset.key] !== undefined) el.textContent = s[el.dataset.key];
    });
  }
  function summary(s) {
    // a kind's dashboard counts that kind only: its cards take that kind's figures, not the fleet's
    const own = document.querySelector("#summary[data-kind]");
    if (own) {
      fetch("/api/v1/dashboards/summary?kind=" + encodeURIComponent(own.dataset.kind), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; }).then(function (k) { if (k) cards(k); })
        .catch(function () { /* next update */ });
    } else {
      cards(s);
    }
    const nav = document.getElementById("nav-open-orders");
    if (nav) {
      nav.textContent = s.overdue_orders ? s.open_orders + "!" : s.open_orders;
      nav.hidden = !s.open_orders;
    }
    document.querySelectorAll(".live-dot").forEach(function (d) { d.classList.add("on"); });
  }
  const es = new EventSource(box.dataset.stream);
  es.addEventListener("workorder", function (ev) {
    const item = JSON.parse(ev.data);
    toast(item);
    document.dispatchEvent(new CustomEvent("linli:workorder", { detail: item }));
  });
  es.addEventListener("summary", function (ev) { summary(JSON.parse(ev.data)); });
  es.onerror = function () {
    document.querySelectorAll(".live-dot").forEach(function (d) { d.classList.remove("on"); });
  };
})();

// Phones: under ~480 px the stylesheet shows each table row as a card; every cell is labelled with its column's
// heading (data-label, from the table's <thead>), again whenever the page refreshes part of itself.
(function () {
  "use strict";
  function label(root) {
    for (const table of root.querySelectorAll("table")) {
      const heads = Array.from(table.querySelectorAll("thead th")).map(function (th) { return th.textContent.trim(); });
      if (!heads.length) continue;
      for (const row of table.querySelectorAll("tbody tr")) {
        let col = 0;
        for (const cell of row.children) {
          if (!cell.hasAttribute("data-label") && heads[col]) cell.setAttribute("data-label", heads[col]);
          col += Number(cell.getAttribute("colspan") || 1);
        }
      }
    }
  }
  label(document);
  new MutationObserver(function () { label(document); }).observe(document.body, { childList: true, subtree: true });
})();
