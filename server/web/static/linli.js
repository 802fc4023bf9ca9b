// linli server pages: refresh the main panel in place every N seconds while the tab is visible.
(function () {
  "use strict";
  const main = document.getElementById("main");
  if (!main) return;
  const every = Number(main.dataset.refresh || 0) * 1000;
  if (!every) return;
  async function refresh() {
    if (document.hidden) return;
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
