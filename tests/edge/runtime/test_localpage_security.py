"""The local page against password guessing (it can open barriers and unlock doors) and in the browser: lock-outs
per address that spraying user names cannot clear, and the hardening headers on every response."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from edge.apps.probe.sim import ProbeSim
from edge.runtime.harness import DEFAULT_PAGE_PASSWORD, AgentFactory

AUTH = ("maint", DEFAULT_PAGE_PASSWORD)
PAGES = ["/", "/io", "/events", "/logs", "/config", "/api/status", "/api/io", "/api/events", "/api/logs",
         "/api/config", "/api/commands", "/metrics", "/static/style.css"]


@pytest.fixture
def agent(agents: AgentFactory) -> Any:
    a = agents.make(telemetry_interval_s=0.2)
    assert a.link.wait_connected(10)
    return a


def test_spraying_names_locks_the_address_and_the_right_password_cannot_act(agent: Any) -> None:
    sim = ProbeSim(agent.cfg.hal, agent.app.cfg)
    url = agent.page.url
    codes = [httpx.get(url + "/api/status", auth=(f"user{i}", f"guess-{i}")).status_code for i in range(30)]
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}, codes
    # locked: the right password (never verified by this process) is not even checked, and acts on nothing
    r = httpx.post(url + "/api/commands/set", json={"on": True}, auth=AUTH)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert httpx.post(url + "/actions/set", data={"on": "true"}, auth=AUTH).status_code == 429
    assert not sim.relay_on()
    assert agent.page_auth.guard.snapshot()["locked"] >= 20


def test_every_page_sends_the_hardening_headers(agent: Any) -> None:
    with httpx.Client(base_url=agent.page.url, auth=AUTH) as c:
        for path in [*PAGES, "/nowhere"]:
            r = c.get(path)
            assert r.status_code in (200, 404), path
            csp = r.headers.get("content-security-policy", "")
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in \
                csp.split("script-src")[1].split(";")[0], (path, csp)
            assert r.headers["x-content-type-options"] == "nosniff", path
            assert r.headers["referrer-policy"], path
            assert r.headers["x-frame-options"] == "DENY", path
        unauth = httpx.get(agent.page.url + "/")
        assert unauth.status_code == 401 and "frame-ancestors" in unauth.headers["content-security-policy"]
        r = c.get("/", params={"lang": "en"})
        assert "Secure" not in r.headers["set-cookie"]  # plain HTTP here; over HTTPS the cookie is Secure
