// linli taxi kiosk screen: shows what the agent says (long poll), sends taps to it, nothing else.
// A tap disables every button until the agent has answered, and a call carries an idempotency key made here
// for the screen being shown, so a double tap (or a retried request) never makes two orders.
(function () {
  "use strict";
  const app = document.getElementById("app");
  const lost = document.getElementById("lost");
  let version = Number(app.dataset.version || 0);
  let shownScreen = null;
  let callKey = null;
  let busy = false;
  let renderedAt = Date.now();
  let failures = 0;

  const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghijkmnpqrstvwxyz";
  function newKey() {
    const bytes = new Uint8Array(26);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return ALPHABET[b % ALPHABET.length]; }).join("");
  }

  function screenEl() { return document.getElementById("screen"); }

  // the map's labels are drawn for the map's size on this screen: tell the kiosk when it is not what it assumed
  function mapWidth() {
    const box = document.querySelector(".mapbox");
    return box ? Math.round(box.clientWidth) : 0;
  }

  function checkMap() {
    const svg = document.querySelector("svg.map");
    const w = mapWidth();
    if (svg && w && Math.abs(w - Number(svg.dataset.px)) > 1) {
      fetch("/screen?v=-1&map_px=" + w, { cache: "no-store" }).then(function (r) { return r.json(); })
        .then(function (data) { version = -1; apply(data); }).catch(function () { /* the next render */ });
    }
  }

  function afterRender() {
    const el = screenEl();
    const screen = el ? el.dataset.screen : null;
    if (screen !== shownScreen) {
      callKey = newKey(); // a new screen, a new chance to call: one key for every tap on it
      shownScreen = screen;
    }
    renderedAt = Date.now();
    tick();
    checkMap();
  }

  function apply(data) {
    if (!data || typeof data.html !== "string") return;
    if (data.version === version && shownScreen !== null) return;
    version = data.version;
    // A server update redraws the screen; what the resident has typed on the keypad (for the same order) stays.
    const typed = document.getElementById("phone-display");
    const kept = typed ? { order: typed.dataset.order, value: typed.dataset.value || "",
      error: (document.getElementById("phone-error") || {}).textContent || "" } : null;
    app.innerHTML = data.html;
    const again = document.getElementById("phone-display");
    if (kept && again && again.dataset.order === kept.order && kept.value) {
      setPhone(kept.value);
      const err = document.getElementById("phone-error");
      if (err) err.textContent = kept.error;
    }
    app.dataset.version = String(version);
    document.documentElement.lang = data.lang === "en" ? "en" : "zh-Hans";
    afterRender();
  }

  async function poll() {
    for (;;) {
      try {
        const w = mapWidth();
        const resp = await fetch("/screen?v=" + version + (w ? "&map_px=" + w : ""), { cache: "no-store" });
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        apply(await resp.json());
        failures = 0;
        lost.hidden = true;
      } catch (e) {
        failures += 1;
        if (failures >= 3) lost.hidden = false; // the agent is restarting: say so, keep trying
        await new Promise(function (r) { setTimeout(r, 1000); });
      }
    }
  }

  async function post(action, body) {
    const resp = await fetch("/api/" + action, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
      cache: "no-store",
    });
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    const data = await resp.json();
    apply(data);
    return data;
  }

  function phoneDigits() {
    const out = document.getElementById("phone-display");
    return out ? (out.dataset.value || "") : "";
  }

  function setPhone(value) {
    const out = document.getElementById("phone-display");
    if (!out) return;
    out.dataset.value = value;
    out.textContent = value;
    const err = document.getElementById("phone-error");
    if (err) err.textContent = "";
  }

  async function act(btn) {
    const action = btn.dataset.action;
    let body = {};
    if (action === "call") body = { key: callKey };
    else if (action === "ui") body = { mode: btn.dataset.mode || null };
    else if (action === "lang") body = { lang: btn.dataset.lang };
    else if (action === "phone") {
      const out = document.getElementById("phone-display");
      body = { order_id: out.dataset.order, phone: phoneDigits() };
    }
    const data = await post(action, body);
    if (action === "phone" && data.error) {
      const err = document.getElementById("phone-error");
      const out = document.getElementById("phone-display");
      if (err && out) err.textContent = out.dataset.invalid;
    }
  }

  document.addEventListener("click", function (ev) {
    const key = ev.target.closest("[data-digit]");
    if (key) {
      const d = key.dataset.digit;
      const cur = phoneDigits();
      setPhone(d === "del" ? cur.slice(0, -1) : (cur + d).slice(0, 12));
      // every key gives the resident the question's full time again
      fetch("/api/keypad", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}",
        cache: "no-store" }).catch(function () { /* the next key tries again */ });
      return;
    }
    const btn = ev.target.closest("[data-action]");
    if (!btn || busy) return;
    busy = true;
    document.body.classList.add("busy");
    act(btn).catch(function () { /* the long poll shows the truth */ }).finally(function () {
      setTimeout(function () { busy = false; document.body.classList.remove("busy"); }, 400);
    });
  });
  document.addEventListener("contextmenu", function (ev) { ev.preventDefault(); });

  function tick() {
    const el = document.querySelector("[data-since]");
    if (!el) return;
    const waited = Number(el.dataset.now) - Number(el.dataset.since) + Math.floor((Date.now() - renderedAt) / 1000);
    const s = Math.max(0, waited);
    el.textContent = s < 60 ? el.dataset.fmtS.replace("{s}", String(s))
      : el.dataset.fmtMs.replace("{m}", String(Math.floor(s / 60))).replace("{s}", String(s % 60).padStart(2, "0"));
  }
  setInterval(tick, 1000);

  afterRender();
  poll();
})();
