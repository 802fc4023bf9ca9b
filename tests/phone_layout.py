"""Phone-layout checks shared by the server's and the agent's page tests (real Chromium).

The rules, at 390×844 (a common phone):

* **No horizontal overflow**: ``document.scrollingElement.scrollWidth <= innerWidth``; nothing makes the page
  scroll sideways (a wide table becomes cards, a long code breaks).
* **Touch targets**: every visible ``a``, ``button``, ``input``, ``select``, ``textarea`` and ``summary`` is at
  least 44 CSS px tall (WCAG 2.5.5 / Apple HIG); buttons and text fields are also at least 44 px wide. A
  checkbox or radio counts by the label that wraps it (the label is what a thumb presses). Hidden inputs and
  elements with no box (``display: none``) are not targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from linli.testing import screenshot

PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 900}
MIN_TARGET = 44

# runs through the DevTools protocol (not subject to the pages' CSP, which forbids eval in the page itself)
_PROBE = """(MIN) => {
  const out = {scroll: document.scrollingElement.scrollWidth, inner: window.innerWidth, small: [], wide: []};
  const name = (el) => {
    const txt = (el.innerText || el.value || el.getAttribute('aria-label') || el.name || '').trim().slice(0, 40);
    return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + String(el.className)
      .trim().split(/\\s+/).join('.') : '') + (txt ? ' "' + txt + '"' : '');
  };
  for (const el of document.querySelectorAll('a[href], button, input, select, textarea, summary')) {
    if (el.type === 'hidden') continue;
    const cs = getComputedStyle(el);
    if (cs.visibility === 'hidden' || cs.display === 'none') continue;
    let box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (el.type === 'checkbox' || el.type === 'radio') {
      const lab = el.closest('label');
      if (lab) box = lab.getBoundingClientRect();
    }
    const field = el.tagName !== 'A' && el.tagName !== 'SUMMARY';
    if (box.height + 0.5 < MIN || (field && box.width + 0.5 < MIN)) {
      out.small.push(name(el) + ' ' + Math.round(box.width) + 'x' + Math.round(box.height));
    }
  }
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.right > window.innerWidth + 1 && getComputedStyle(el).position !== 'fixed') {
      out.wide.push(name(el) + ' right=' + Math.round(box.right));
      if (out.wide.length > 4) break;
    }
  }
  return out;
}"""


@dataclass
class Finding:
    url: str
    problem: str

    def __str__(self) -> str:
        return f"{self.url}: {self.problem}"


def check_phone(page: Any, url: str) -> list[Finding]:
    """The phone rules for the page open in ``page`` (390 px wide)."""
    got = page.evaluate(_PROBE, MIN_TARGET)
    out: list[Finding] = []
    if got["scroll"] > got["inner"]:
        out.append(Finding(url, f"scrolls sideways: {got['scroll']} > {got['inner']} px ({'; '.join(got['wide'])})"))
    for s in got["small"]:
        out.append(Finding(url, f"target under {MIN_TARGET} px: {s}"))
    return out


def shoot(page: Any, name: str) -> None:
    screenshot(page, name)
