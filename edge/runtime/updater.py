"""Signed software updates on the device: download, verify, install into the other slot, switch, prove healthy —
or roll back by itself.

The server sends the ``update`` command (version, URL, SHA-256, size, signature). The updater, in its own thread:

1. **downloading** — HTTP GET into ``<data>/update/<version>.part``, resuming with ``Range`` after a cut and
   retrying with back-off until ``update.download_timeout_s``;
2. **verified** — size, SHA-256 and the Ed25519 signature against the key the device was installed with; a
   release that fails is refused (``failed``) and nothing changes;
3. **installed** — unpacked into the inactive slot (``slots/a`` ↔ ``slots/b``) with its own small environment that
   shares the third-party packages; ``pending.json`` records the slot it came from, a deadline and a start count;
   ``current`` is switched atomically and the agent exits so systemd starts the new release;
4. **healthy** — the new release, once connected to the broker with every loop alive for
   ``update.healthy_after_s``, clears ``pending.json`` and says so; **rolled back** — if it is not healthy by the
   deadline it switches back itself, and if it cannot even start (crash, watchdog kill) the boot guard
   (``linli/deploy/bootguard.py``, run before every start) switches back after ``max_attempts`` starts. The old
   release then reports ``rolled back`` with the reason.

Every step is an event (``update.progress`` with the step, then ``update.healthy``, ``update.rolled_back`` or
``update.failed``) so the server's roll-out can advance or stop.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import venv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from edge.apps.base import CommandRefused, CommandSpec, Emit
from linli.contract import runtime as rt
from linli.deploy.bootguard import switch
from linli.release import VERSION_RE, Manifest, ReleaseError, running_version, unpack, verify_file

from .config import UpdateConfig

log = logging.getLogger(__name__)



class UpdateArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(pattern=VERSION_RE.pattern, title="Version")
    url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://", title="Download URL")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", title="SHA-256")
    size: int = Field(gt=0, title="Size (bytes)")
    signature: str = Field(min_length=16, max_length=200, title="Signature")
    rollout: int | None = Field(None, title="Roll-out")


class Updater:
    def __init__(self, cfg: UpdateConfig, data_dir: Path, emit: Emit, healthy: Callable[[], bool],
                 request_restart: Callable[[], None], stopping: threading.Event) -> None:
        self.cfg = cfg
        self.dir = data_dir / "update"
        self.emit = emit
        self.healthy = healthy
        self.request_restart = request_restart
        self.stopping = stopping
        self.version = running_version()
        self.state = "idle"
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ slots
    @property
    def prefix(self) -> Path:
        return self.cfg.prefix

    def active_slot(self) -> str:
        try:
            return Path(os.readlink(self.prefix / "current")).name
        except OSError:
            return ""

    def commands(self) -> dict[str, CommandSpec]:
        if not self.cfg.enabled:
            return {}
        return {"update": CommandSpec(self.cmd_update, UpdateArgs, "软件更新", "Software update")}

    # ------------------------------------------------------------------ start-up
    def on_start(self) -> None:
        """Report what the boot guard did; if this is a new release on probation, watch its health."""
        self.dir.mkdir(parents=True, exist_ok=True)
        result = self.dir / "result.json"
        if result.exists():
            try:
                doc = json.loads(result.read_text())
                self.emit(rt.UpdateRolledBack(version=doc.get("version"), running=self.version,
                                              reason=str(doc.get("reason") or "")[:500] or None,
                                              rollout=doc.get("rollout")))
            except ValueError:
                log.warning("update: unreadable %s ignored", result)
            result.unlink(missing_ok=True)
        pending = self._pending()
        if pending is None:
            return
        if pending.get("version") != self.version:
            # We are the old release again (switched back outside this process): nothing is on probation.
            (self.dir / "pending.json").unlink(missing_ok=True)
            return
        self.state = "probation"
        threading.Thread(target=self._probation, args=(pending,), name="update-probation", daemon=True).start()

    def _pending(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.dir / "pending.json").read_text())
        except (OSError, ValueError):
            return None

    def _probation(self, pending: dict[str, Any]) -> None:
        need = self.cfg.healthy_after_s
        good_since: float | None = None
        while not self.stopping.is_set():
            now = time.time()
            if self.healthy():
                good_since = good_since or now
                if now - good_since >= need:
                    (self.dir / "pending.json").unlink(missing_ok=True)
                    self.state = "idle"
                    self.emit(rt.UpdateHealthy(version=self.version, from_version=pending.get("from_version"),
                                               rollout=pending.get("rollout")))
                    log.info("update: %s is healthy", self.version)
                    return
            else:
                good_since = None
            if now > float(pending.get("deadline", 0)):
                self._roll_back(pending, f"not healthy within {int(self.cfg.deadline_s)} s")
                return
            self.stopping.wait(0.5)

    def _roll_back(self, pending: dict[str, Any], reason: str) -> None:
        log.error("update: rolling back %s: %s", pending.get("version"), reason)
        switch(self.prefix, str(pending["from_slot"]))
        (self.dir / "result.json").write_text(json.dumps({**pending, "state": "rolled_back", "reason": reason}))
        (self.dir / "pending.json").unlink(missing_ok=True)
        self.request_restart()

    # ------------------------------------------------------------------ the command
    def cmd_update(self, args: UpdateArgs) -> dict[str, Any]:
        if args.version == self.version:
            return {"state": "current", "version": self.version}
        with self._lock:
            if self.state != "idle":
                raise CommandRefused(f"an update is already {self.state}")
            if not self.cfg.public_key_file.exists():
                raise CommandRefused("no trusted update key on this device")
            if not self.active_slot():
                raise CommandRefused(f"{self.prefix}/current is not a release slot (not installed by linli install)")
            self.state = "downloading"
        self._thread = threading.Thread(target=self._run, args=(args,), name="update", daemon=True)
        self._thread.start()
        return {"state": "accepted", "version": args.version}

    def _step(self, args: UpdateArgs, step: str, **extra: Any) -> None:
        self.state = step
        self.emit(rt.UpdateProgress(version=args.version, step=step, rollout=args.rollout, **extra))

    def _run(self, args: UpdateArgs) -> None:
        import httpx  # here, not at the top: an agent that is not updating never loads it (~6 MB on a Pi)

        try:
            self._step(args, "downloading")
            path = self._download(args)
            verify_file(path, Manifest(args.version, args.sha256, args.size, args.signature),
                        self.cfg.public_key_file.read_bytes())
            self._step(args, "verified")
            target = self._install(args, path)
            self._step(args, "installed", slot=target)
            self.request_restart()
        except (ReleaseError, OSError, httpx.HTTPError, RuntimeError) as exc:
            self.state = "idle"
            log.error("update to %s failed: %s", args.version, exc)
            self.emit(rt.UpdateFailed(version=args.version, running=self.version, reason=str(exc)[:500],
                                      rollout=args.rollout))

    def _download(self, args: UpdateArgs) -> Path:
        import httpx

        self.dir.mkdir(parents=True, exist_ok=True)
        final = self.dir / f"linli-{args.version}.tar.gz"
        part = final.with_suffix(".part")
        deadline = time.monotonic() + self.cfg.download_timeout_s
        backoff = 0.5
        while True:
            have = part.stat().st_size if part.exists() else 0
            if have >= args.size:
                break
            try:
                headers = {"Range": f"bytes={have}-"} if have else {}
                with httpx.stream("GET", args.url, headers=headers, timeout=30.0, follow_redirects=False) as r:
                    if r.status_code == 200 and have:
                        have = 0  # the server ignored Range: start over
                    elif r.status_code not in (200, 206):
                        raise RuntimeError(f"download refused: HTTP {r.status_code}")
                    with part.open("r+b" if have else "wb") as fh:
                        fh.seek(have)
                        fh.truncate()
                        for chunk in r.iter_bytes(64 * 1024):
                            fh.write(chunk)
                            if fh.tell() > args.size:
                                raise RuntimeError("download is larger than the release")
                backoff = 0.5
            except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
                if time.monotonic() > deadline or self.stopping.is_set():
                    raise RuntimeError(f"download did not finish: {exc}") from None
                log.warning("update download interrupted at %d B (%s); resuming", have, exc)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 30.0)
        os.replace(part, final)
        return final

    def _install(self, args: UpdateArgs, archive: Path) -> str:
        active = self.active_slot()
        target = "b" if active == "a" else "a"
        slot = self.prefix / "slots" / target
        if slot.exists():
            shutil.rmtree(slot)
        slot.mkdir(parents=True)
        unpack(archive, slot)
        # Third-party packages are shared between slots; the slot's environment adds its own source in front.
        deps = self._deps_site()
        env_dir = slot / "venv"
        venv.EnvBuilder(with_pip=False, symlinks=False).create(env_dir)
        site = next((env_dir / "lib").glob("python3*/site-packages"))
        (site / "linli-slot.pth").write_text(f"{slot}/src\n{deps}\n")
        (slot / "VERSION").write_text(args.version + "\n")
        pending = {"version": args.version, "from_version": self.version, "from_slot": active, "to_slot": target,
                   "deadline": time.time() + self.cfg.deadline_s, "attempts": 0,
                   "max_attempts": self.cfg.max_attempts, "rollout": args.rollout}
        tmp = self.dir / "pending.tmp"
        tmp.write_text(json.dumps(pending))
        os.replace(tmp, self.dir / "pending.json")
        switch(self.prefix, target)
        archive.unlink(missing_ok=True)
        return target

    def _deps_site(self) -> str:
        """The shared third-party packages the running slot uses."""
        current = self.prefix / "current" / "venv"
        for pth in current.glob("lib/python3*/site-packages/linli-slot.pth"):
            lines = [ln for ln in pth.read_text().splitlines() if ln.strip()]
            if len(lines) > 1:
                return lines[1]
        site = next(current.glob("lib/python3*/site-packages"), None)
        if site is None:
            raise RuntimeError(f"{current}: no environment to share packages with")
        return str(site.resolve())
