"""The lift agent's memory (issue 12 item 5): a real ``linli agent --sim`` process with a lift config — camera
playing a clip, the detector loaded and blocking, the local page answering — run with its systemd unit's memory
settings (``linli.deploy.units.AGENT_MEMORY_ENV``, ``-OO`` among them) loads none of the libraries that only other
programs need (each costs megabytes on a Pi; ``bench/lift_guard.py`` measures the RSS itself).

The modules are read from ``python -X importtime`` of that very process, so an import anywhere (at start-up, on a
page request, on the first detection) is seen. No size or timing is asserted here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from edge.runtime.harness import DEFAULT_PAGE_PASSWORD, AgentFactory, Recorder
from linli.contract import lift_guard as lev
from linli.deploy.units import AGENT_MEMORY_ENV
from linli.testing import TestBroker, wait_for

from .conftest import SITE, lift_app, lift_hal

REPO = Path(__file__).resolve().parents[4]

#: top-level packages a lift agent must not import, and why they are somewhere else
DENIED = {
    "fastapi": "the server's web framework (the local page runs on Starlette alone)",
    "pydantic.v1": "pulled in by FastAPI's compatibility layer",
    "httpx": "only an update download needs it (imported there)",
    "rich": "httpx's command line, via httpx",
    "pygments": "httpx's command line, via httpx",
    "cryptography": "only certificates and release signatures need it (imported there)",
    "uvloop": "uvicorn runs on asyncio's own loop",
    "httptools": "uvicorn runs the pure-Python h11 parser",
    "websockets": "the local page serves no WebSocket",
    "sqlalchemy": "the server's database",
    "alembic": "the server's migrations",
    "server": "the server package (edge and server never import each other)",
    "onnx": "the model tools (onnxruntime alone runs the model)",
    "PIL": "image tools of the tests and generators",
    "skimage": "image tools of the tests and generators",
    "playwright": "browser tests",
}
IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|( *)(\S+)\s*$")


def imported(stderr: str) -> set[str]:
    return {m.group(2) for line in stderr.splitlines() if (m := IMPORT_LINE.match(line))}


def denied(modules: set[str]) -> dict[str, str]:
    out = {}
    for name in modules:
        for bad, why in DENIED.items():
            if name == bad or name.startswith(bad + "."):
                out[name] = why
    return out


def test_the_import_reader_sees_nested_modules() -> None:
    text = ("import time: self [us] | cumulative | imported package\n"
            "import time:       120 |        340 |   httpx._main\n"
            "import time:        80 |        900 | fastapi\n"
            "2026-12-05 11:00:00 INFO local page on http://127.0.0.1:1\n")
    mods = imported(text)
    assert mods == {"httpx._main", "fastapi"}
    assert set(denied(mods | {"onnxruntime", "starlette"})) == {"httpx._main", "fastapi"}


def test_a_running_lift_agent_loads_no_library_it_does_not_need(mqtt_broker: TestBroker, tmp_path: Path,
                                                                 clip_video: Callable[..., Path]) -> None:
    factory = AgentFactory(mqtt_broker, tmp_path, site=SITE, kind="lift_guard", n=1)
    hal = lift_hal(clip_video("demo"), fps=10.0)
    hal["cameras"]["car"]["loop"] = True
    ref, path = factory.config(hal=hal, app=lift_app(), watchdog={"timeout_s": 10, "systemd": False})
    log = tmp_path / "agent.stderr"
    # the unit's memory settings, -OO among them: the agent blocks and serves its pages without docstrings/asserts
    env = {**os.environ, **AGENT_MEMORY_ENV, "GPIOZERO_PIN_FACTORY": "mock", "PYTHONUNBUFFERED": "1"}
    with Recorder(mqtt_broker.host, mqtt_broker.server_port, mqtt_broker.server, [f"linli/v1/{SITE}/#"]) as rec, \
            log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "linli.cli", "agent", "-c", str(path),
                                 "--sim"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=err, env=env)
        try:
            url = wait_for(lambda: (m := re.search(r"local page on (http://\S+)", log.read_text(errors="replace")))
                           and m.group(1), 60, what="the local page")
            rec.wait(lambda: rec.events(ref, lev.BLOCK), 60, what="a block (the detector ran)")
            auth = ("maint", DEFAULT_PAGE_PASSWORD)
            for page in ("/", "/io", "/events", "/logs", "/config", "/api/status", "/api/io", "/api/events",
                         "/api/logs", "/api/config", "/api/commands", "/metrics"):
                assert httpx.get(url + page, auth=auth, timeout=10).status_code == 200, page
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            factory.close()
    modules = imported(log.read_text(errors="replace"))
    assert {"onnxruntime", "cv2", "starlette", "uvicorn", "gpiozero", "paho"} <= {m.split(".")[0] for m in modules}
    assert denied(modules) == {}
