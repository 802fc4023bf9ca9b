"""The systemd units linli installs, rendered from one place so the install and the tests use the same text.

- ``linli-agent@<device>.service``: one agent. ``Type=notify``: the agent's watchdog sends ``READY=1`` and, while
  every app loop is alive, ``WATCHDOG=1`` about once a second; ``WatchdogSec=`` kills and restarts a hung agent (its
  relays are normally-open, so they drop). Runs as the ``linli`` user with only the device groups it needs.
- ``linli-server.service``: the server (ingest, API, pages) after the broker and the database.
- ``linli-kiosk-browser@tty1.service``: Chromium in kiosk mode on the Pi's display for the taxi kiosk, inside the
  ``cage`` Wayland kiosk compositor (no desktop, no screen blanking, no idle lock), restarted if it dies.
- ``/etc/mosquitto/conf.d/linli.conf``: drop-in for Debian's Mosquitto service with linli's accounts and ACL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath


@dataclass(frozen=True)
class Layout:
    """Where things live on the installed machine (absolute paths on the target, whatever ``--root`` is)."""

    prefix: PurePosixPath = field(default_factory=lambda: PurePosixPath("/opt/linli"))
    etc: PurePosixPath = field(default_factory=lambda: PurePosixPath("/etc/linli"))
    state: PurePosixPath = field(default_factory=lambda: PurePosixPath("/var/lib/linli"))
    user: str = "linli"

    @property
    def current(self) -> PurePosixPath:
        return self.prefix / "current"

    @property
    def python(self) -> PurePosixPath:
        return self.current / "venv" / "bin" / "python"

    @property
    def secrets(self) -> PurePosixPath:
        return self.etc / "secrets"

    def slot(self, name: str) -> PurePosixPath:
        return self.prefix / "slots" / name

    def agent_config(self, device: str) -> PurePosixPath:
        return self.etc / "agents" / f"{device}.yaml"


#: Groups an agent may need; the installer adds only those that exist on the machine.
AGENT_GROUPS = ("gpio", "dialout", "video", "audio", "i2c", "spi")
#: How long systemd waits for a WATCHDOG=1 ping. The agent pings about once a second while every loop is alive and
#: stops pinging as soon as one is stuck for ``watchdog.timeout_s`` (default 10 s): 30 s leaves room for a slow Pi.
AGENT_WATCHDOG_S = 30
#: Memory settings of an agent process (the unit's environment; ``bench/lift_guard.py`` runs its agent with them):
#: one glibc malloc arena instead of eight per core for the agent's ~15 threads (Python's threads take turns under
#: the GIL anyway; onnxruntime allocates from its own arena), and OpenBLAS (loaded by numpy and OpenCV, never used
#: for the detector) without a thread pool of its own. Measured on the lift agent (bench/lift_guard.py, 2-core VM,
#: three interleaved runs each): two arenas -1.5 MB, one arena a further -3.8 MB, no CPU change; more threads, and
#: so more, on a 4-core Pi. A fixed mmap/trim threshold (``MALLOC_MMAP_THRESHOLD_``) saved no more. And Python's
#: ``-OO`` (``PYTHONOPTIMIZE=2``): no docstrings in memory (numpy, pydantic, the agent's own ~700 modules: 4-6 MB of
#: the lift agent's RSS) and no ``assert`` statements (the code uses them only to narrow types, never to check
#: input). The bytecode is compiled once into the release slot's ``__pycache__`` (``*.opt-2.pyc``; the slots are
#: the agent's to write).
AGENT_MEMORY_ENV = {"MALLOC_ARENA_MAX": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONOPTIMIZE": "2"}


def agent_unit(layout: Layout | None = None, groups: tuple[str, ...] = AGENT_GROUPS) -> str:
    layout = layout or Layout()
    return f"""\
# linli agent: one device. Instance name = device id: systemctl enable --now linli-agent@lift-01
[Unit]
Description=linli agent %i
Documentation=file:{layout.current}/src/README.md
Wants=network-online.target time-sync.target
After=network-online.target time-sync.target
StartLimitIntervalSec=0

[Service]
Type=notify
NotifyAccess=main
# boot guard (standard library only, outside the release slots): rolls a new release back that keeps failing
ExecStartPre=/usr/bin/python3 {layout.prefix}/bootguard.py {layout.state}/%i {layout.prefix}
ExecStart={layout.python} -m linli.cli agent -c {layout.etc}/agents/%i.yaml
WatchdogSec={AGENT_WATCHDOG_S}
Restart=always
RestartSec=3
TimeoutStopSec=15
User={layout.user}
Group={layout.user}
SupplementaryGroups={" ".join(groups)}
WorkingDirectory={layout.state}/%i
StateDirectory=linli/%i
StateDirectoryMode=0750
Environment=PYTHONUNBUFFERED=1 LINLI_LOG_FORMAT=journal
Environment={" ".join(f"{k}={v}" for k, v in AGENT_MEMORY_ENV.items())}
# hardening: the agent writes only its state directory and the release slots (updates); devices come from the
# groups above
ProtectSystem=strict
ReadWritePaths={layout.state} {layout.prefix}
ProtectHome=true
PrivateTmp=true
NoNewPrivileges=true
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectControlGroups=true
RestrictSUIDSGID=true
RestrictRealtime=true
LockPersonality=true
RestrictNamespaces=true
UMask=0027

[Install]
WantedBy=multi-user.target
"""


def server_unit(layout: Layout | None = None) -> str:
    layout = layout or Layout()
    return f"""\
# linli server: ingest, API, dashboards. Config: {layout.etc}/server.yaml
[Unit]
Description=linli server
Documentation=file:{layout.current}/src/README.md
Wants=network-online.target mosquitto.service
After=network-online.target mosquitto.service postgresql.service
StartLimitIntervalSec=0

[Service]
Type=exec
ExecStartPre={layout.python} -m linli.cli server -c {layout.etc}/server.yaml --migrate-only
ExecStart={layout.python} -m linli.cli server -c {layout.etc}/server.yaml
Restart=always
RestartSec=3
TimeoutStopSec=20
User={layout.user}
Group={layout.user}
WorkingDirectory={layout.state}/server
StateDirectory=linli/server
StateDirectoryMode=0750
Environment=PYTHONUNBUFFERED=1 LINLI_LOG_FORMAT=journal
ProtectSystem=strict
ReadWritePaths={layout.state}
ProtectHome=true
PrivateTmp=true
PrivateDevices=true
NoNewPrivileges=true
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectControlGroups=true
RestrictSUIDSGID=true
LockPersonality=true
RestrictNamespaces=true
UMask=0027

[Install]
WantedBy=multi-user.target
"""


def kiosk_browser_unit(url: str, layout: Layout | None = None, user: str = "linli-kiosk") -> str:
    """Chromium in kiosk mode on the display, in ``cage`` on the instance's VT (``linli-kiosk-browser@tty1``)."""
    layout = layout or Layout()
    return f"""\
# The taxi kiosk's screen: Chromium in kiosk mode inside the cage Wayland compositor on the Pi's display.
# No desktop, no screen saver, no blanking (cage has no idle handling); restarted whenever it exits.
[Unit]
Description=linli kiosk screen on %I
After=systemd-user-sessions.service plymouth-quit-wait.service dbus.socket systemd-logind.service
Wants=dbus.socket systemd-logind.service
Conflicts=getty@%i.service
After=getty@%i.service
ConditionPathExists=/dev/tty0
StartLimitIntervalSec=0

[Service]
Type=simple
# keep the text console from blanking too (before cage takes the VT)
ExecStartPre=-/usr/bin/setterm --blank 0 --powerdown 0 --term linux
ExecStart=/usr/bin/cage -d -s -- /usr/bin/chromium --kiosk --noerrdialogs --disable-infobars \\
  --disable-session-crashed-bubble --no-first-run --disable-translate --disable-features=Translate \\
  --overscroll-history-navigation=0 --disable-pinch --check-for-update-interval=31536000 \\
  --user-data-dir={layout.state}/kiosk-browser {url}
Restart=always
RestartSec=2
User={user}
SupplementaryGroups=video render input audio
StateDirectory=linli/kiosk-browser
UtmpIdentifier=%I
UtmpMode=user
TTYPath=/dev/%I
TTYReset=yes
TTYVHangup=yes
TTYVTDisallocate=yes
StandardInput=tty-fail
StandardOutput=journal
StandardError=journal
PAMName=login

[Install]
WantedBy=graphical.target
DefaultInstance=tty1
"""


#: the broker listener of the server account (loopback); devices use 1883 / the TLS port
SERVER_BROKER_PORT = 1884


def mosquitto_dropin(layout: Layout | None = None, port: int = 1883, tls_port: int | None = None,
                     host: str = "0.0.0.0", server_port: int = SERVER_BROKER_PORT) -> str:
    """Drop-in for Debian's mosquitto.service (``include_dir /etc/mosquitto/conf.d`` is in its main file; Debian's
    main file already turns persistence on under /var/lib/mosquitto). Devices connect on ``port``/``tls_port``
    with their client id bound to their account; the server account alone on ``server_port`` (loopback)."""
    from linli.broker import site_listeners

    layout = layout or Layout()
    broker = layout.secrets / "broker"

    def device_listener(p: int, extra: list[str]) -> list[str]:
        return ["", f"listener {p} {host}", *extra, "use_username_as_clientid true", "allow_anonymous false",
                f"password_file {broker}/passwd", f"acl_file {broker}/acl"]

    lines = [
        "# linli: accounts and ACL written by `linli provision` (regenerate, then `systemctl reload mosquitto`)",
        "per_listener_settings true",
        "# the server's persistent session: keep what devices send while it restarts, and save the queue often",
        "# (Debian's main file sets persistence true + persistence_location; it is written on every shutdown)",
        "autosave_interval 30",
        "max_queued_messages 100000",
        "max_inflight_messages 1000",
        "persistent_client_expiration 14d",
    ]
    tls = (f"{broker}/ca.crt", f"{broker}/broker.crt", f"{broker}/broker.key") if tls_port else None
    lines += site_listeners(host, port, f"{broker}/passwd", f"{broker}/passwd_server", f"{broker}/acl",
                            server_port, "127.0.0.1", tls, tls_port)
    return "\n".join(lines) + "\n"
