// Residents' order page: refresh the live figures every 2 s; reload when the order moves to another phase.
// (A file, not an inline script, so the pages' Content-Security-Policy can forbid inline code.)
(function () {
  var box = document.getElementById("live-poll");
  if (!box) { return; }
  var phase = box.dataset.phase, url = box.dataset.url;
  function tick() {
    fetch(url, {cache: "no-store"}).then(function (r) { return r.json(); }).then(function (d) {
      if (d.phase !== phase) { location.replace(location.pathname); return; }
      ["elapsed", "energy", "power", "cost"].forEach(function (k) {
        var el = document.getElementById("v-" + k);
        if (el && d[k]) { el.textContent = d[k]; }
      });
    }).catch(function () {}).then(function () { setTimeout(tick, 2000); });
  }
  setTimeout(tick, 2000);
})();
