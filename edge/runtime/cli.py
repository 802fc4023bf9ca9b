"""``linli agent -c FILE [--check]``.

Exit codes: 0 after a clean stop (or a good ``--check``), 2 for a config that cannot be used (one line on
stderr naming the file, the key and what is allowed), 1 for anything else that stops the agent.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from functools import partial
from typing import Any

import yaml

from linli.logs import setup_logging

from .config import ConfigError, LoadedConfig, effective_config, load_config


def start_sim(agent: Any) -> None:
    """Start the kind's simulated world (``edge/apps/<kind>/sim.py: start_sim(agent, stop)``) in this process.

    It drives only the outside of the HAL (mock pin levels, pty bytes, video frames), so the agent runs the
    very code it runs on a Pi."""
    mod = importlib.import_module(f"edge.apps.{agent.ref.kind.value}.sim")
    mod.start_sim(agent, agent.stopping)


def _warnings(loaded: LoadedConfig) -> list[str]:
    """Things --check cannot prove but the agent will need (files on this machine)."""
    a = loaded.agent
    out = []
    if a.mqtt.password_file is not None and not a.mqtt.password_file.exists():
        out.append(f"{loaded.source}: mqtt.password_file: {a.mqtt.password_file} does not exist here "
                   "(run `linli provision` for this device)")
    lp = a.local_page
    if lp.enabled and lp.password_file is not None and not lp.password_file.exists():
        out.append(f"{loaded.source}: local_page.password_file: {lp.password_file} does not exist here")
    if a.mqtt.tls is not None and not a.mqtt.tls.ca_file.exists():
        out.append(f"{loaded.source}: mqtt.tls.ca_file: {a.mqtt.tls.ca_file} does not exist here")
    return out


def main(args: argparse.Namespace | list[str] | None = None) -> int:
    if not isinstance(args, argparse.Namespace):
        p = argparse.ArgumentParser(prog="linli agent")
        p.add_argument("-c", "--config", required=True)
        p.add_argument("--check", action="store_true")
        p.add_argument("--sim", action="store_true")
        args = p.parse_args(args)
    ns: Any = args
    try:
        loaded = load_config(ns.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if ns.check:
        print(yaml.safe_dump(effective_config(loaded), allow_unicode=True, sort_keys=False), end="")
        for w in _warnings(loaded):
            print(f"warning: {w}", file=sys.stderr)
        return 0

    from .preflight import StartupError, check

    problems = check(loaded)  # before anything is built or started: the first problem in one line, exit 2
    if problems:
        print(problems[0], file=sys.stderr)
        return 2
    try:
        setup_logging(loaded.agent.log_level)
    except ValueError as exc:
        print(f"linli agent: {exc}", file=sys.stderr)
        return 2
    from .agent import Agent

    try:
        agent = Agent(loaded)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except Exception as exc:
        logging.getLogger(__name__).debug("agent could not be built", exc_info=True)
        print(f"{loaded.source}: agent not started: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    on_started = None
    if getattr(ns, "sim", False):
        if loaded.agent.hal.pin_factory != "mock":
            print(f"{loaded.source}: hal.pin_factory: --sim drives simulated pins only; set it to mock "
                  f"(got {loaded.agent.hal.pin_factory!r})", file=sys.stderr)
            agent.stop()
            return 2
        on_started = partial(start_sim, agent)
    try:
        return agent.run_forever(on_started)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except StartupError as exc:  # a part could not start: everything was stopped, relays safe
        print(f"{loaded.source}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        logging.getLogger(__name__).critical("agent stopped by an error: %s", exc, exc_info=True)
        print(f"{loaded.source}: agent stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
