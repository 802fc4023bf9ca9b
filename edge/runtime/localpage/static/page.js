// linli local page: label table cells for the phone layout, and refresh pages that ask for it
// (<main data-refresh="N">: every N seconds, the page is fetched again and its <main> replaced in place, unless
// someone is typing into a form). A static file: the page has no inline scripts.
(function () {
  "use strict";
  // each cell gets its column's heading (data-label): under ~480 px the stylesheet shows rows as labelled cards
  function label(root) {
    for (const table of root.querySelectorAll("table")) {
      let heads = Array.from(table.querySelectorAll("thead th"));
      if (!heads.length && table.rows.length && table.rows[0].querySelector("th") && !table.rows[0].querySelector("td")) {
        heads = Array.from(table.rows[0].cells);
      }
      const names = heads.map(function (th) { return th.textContent.trim(); });
      if (!names.length) continue;
      for (const row of table.rows) {
        let col = 0;
        for (const cell of row.cells) {
          if (cell.tagName === "TD" && !cell.hasAttribute("data-label") && names[col]) cell.setAttribute("data-label", names[col]);
          col += cell.colSpan || 1;
        }
      }
    }
  }
  label(document);
  const main = document.querySelector("main[data-refresh]");
  const every = main ? Number(main.dataset.refresh) * 1000 : 0;
  if (!every) return;
  let dirty = false;
  main.addEventListener("input", function () { dirty = true; });
  let busy = false;
  async function refresh() {
    if (busy || document.hidden || dirty) return;
    const active = document.activeElement;
    if (active && main.contains(active) && active.closest("form")) return;
    busy = true;
    try {
      const resp = await fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (!resp.ok) return;
      const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      const fresh = doc.querySelector("main");
      if (fresh && !dirty) {
        main.innerHTML = fresh.innerHTML;
        label(main);
        main.dataset.refreshed = String(Number(main.dataset.refreshed || 0) + 1);
      }
    } catch (e) {
      /* the agent is restarting or the network blinked: try again next time */
    } finally {
      busy = false;
    }
  }
  setInterval(refresh, every);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
})();
