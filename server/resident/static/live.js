// The resident's order page: asks the server every 2 s how the order stands (live.json); updates the live
// values in place and reloads the page when the phase changes (paid → charging → settled, barrier open…).
(function () {
  "use strict";
  var el = document.getElementById("phase");
  if (!el || !el.dataset.live) { return; }
  var phase = el.dataset.phase;
  function tick() {
    fetch(el.dataset.live, {cache: "no-store"}).then(function (r) { return r.json(); }).then(function (d) {
      if (d.phase !== phase) { location.replace(location.pathname); return; }
      ["elapsed", "energy", "power", "cost"].forEach(function (k) {
        var v = document.getElementById("v-" + k);
        if (v && d[k]) { v.textContent = d[k]; }
      });
      setTimeout(tick, 2000);
    }).catch(function () { setTimeout(tick, 2000); });
  }
  setTimeout(tick, 2000);
})();
