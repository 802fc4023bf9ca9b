"""The ``linli`` command: agent, server, provision, broker, demo, sim, bench."""

from __future__ import annotations

import argparse
import importlib
import sys


def _dispatch(target: str):
    def run(args: argparse.Namespace) -> int:
        mod, _, fn = target.partition(":")
        return int(getattr(importlib.import_module(mod), fn)(args) or 0)

    return run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="linli", description="linli (邻里): edge controllers for residential compounds")
    from linli import __version__

    p.add_argument("--version", action="version", version=f"linli {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("agent", help="run a device agent (on the Raspberry Pi next to the device)")
    a.add_argument("-c", "--config", required=True, help="device YAML, e.g. config/probe.yaml")
    a.add_argument("--check", action="store_true", help="validate the config, print the effective config, exit")
    a.add_argument("--sim", action="store_true",
                   help="also run the kind's simulated world in-process (mock pins only; demo and tests)")
    a.set_defaults(func=_dispatch("edge.runtime.cli:main"))

    s = sub.add_parser("server", help="run the central server (ingest, API, dashboards)")
    s.add_argument("-c", "--config", default=None, help="server YAML, e.g. config/server.yaml")
    s.add_argument("--migrate-only", action="store_true", help="apply database migrations and exit")
    s.set_defaults(func=_dispatch("server.cli:main"))

    ru = sub.add_parser("rollups", help="the dashboards' daily roll-ups: rebuild them from the raw rows, or check "
                        "them against the raw rows")
    ru.add_argument("action", choices=("rebuild", "check"))
    ru.add_argument("-c", "--config", default=None, help="server YAML, e.g. config/server.yaml")
    ru.add_argument("--table", action="append", default=None, help="only this roll-up table (repeatable)")
    ru.add_argument("--since", default=None, help="first Shanghai day (YYYY-MM-DD)")
    ru.add_argument("--until", default=None, help="last Shanghai day (YYYY-MM-DD)")
    ru.set_defaults(func=_dispatch("server.rollups_cli:main"))

    pv = sub.add_parser("provision", help="create a device's MQTT credentials and regenerate broker passwd/ACL")
    pv.add_argument("--secrets", default="var/secrets", help="secrets folder (default var/secrets)")
    pv.add_argument("--site", help="site id, e.g. sh-caoyang-01")
    pv.add_argument("--kind", help="device kind")
    pv.add_argument("--device", help="device id within the site")
    pv.add_argument("--server", action="store_true", help="(re)create the server's own account")
    pv.add_argument("--rotate", action="store_true", help="make a new password even if one exists")
    pv.add_argument("--revoke", action="store_true", help="remove the device's account")
    pv.add_argument("--reload-pid", type=int, help="send SIGHUP to this mosquitto pid afterwards")
    pv.add_argument("--homeassistant", action="store_true",
                    help="(re)create the read-only account for a compound's Home Assistant")
    pv.add_argument("--tls", action="store_true",
                    help="make the site CA (once) and the broker's TLS certificate for --hosts (in <secrets>/tls)")
    pv.add_argument("--tls-cert", metavar="NAME",
                    help="issue a further certificate <secrets>/tls/NAME.crt for --hosts (HTTPS of the server or "
                         "an agent page)")
    pv.add_argument("--hosts", default="",
                    help="comma-separated host names / IP addresses the certificate is valid for")
    pv.add_argument("--bundle", metavar="FILE",
                    help="also write the device's provisioning bundle (one file for `linli install` on the Pi)")
    pv.add_argument("--broker-host", help="with --bundle: the broker address the device connects to")
    pv.add_argument("--broker-port", type=int, default=1883, help="with --bundle: broker port (default 1883)")
    pv.add_argument("--server-url", default="", help="with --bundle: the server's address, for the installer")
    pv.add_argument("--ca-file", help="with --bundle: the site CA the device trusts (TLS sites)")
    pv.add_argument("--tls-port", type=int, help="with --bundle: the broker's TLS port")
    pv.add_argument("--update-key", help="with --bundle: public key (PEM) the device trusts for signed updates")
    pv.set_defaults(func=_dispatch("linli.provision_cli:main"))

    b = sub.add_parser("broker", help="run a broker on loopback with linli's passwd/ACL (mosquitto, else amqtt)")
    b.add_argument("--secrets", default="var/secrets")
    b.add_argument("--data", default="var/broker")
    b.add_argument("--port", type=int, default=1883, help="device listener (client id = account)")
    b.add_argument("--host", default="127.0.0.1", help="address of the device listeners (0.0.0.0: every interface)")
    b.add_argument("--server-port", type=int, default=1884, help="the server account's listener (loopback)")
    b.add_argument("--tls-port", type=int, default=None,
                   help="also a TLS device listener on this port (certificates from `linli provision --tls`)")
    b.add_argument("--prefer", choices=["auto", "mosquitto", "amqtt"], default="auto")
    b.set_defaults(func=_dispatch("linli.provision_cli:broker_main"))

    nc = sub.add_parser("nats-config", help="write one nats-server config per node of a NATS cluster (JetStream, "
                        "MQTT, linli's accounts and permissions) from the secrets folder")
    nc.add_argument("--secrets", default="var/secrets")
    nc.add_argument("--node", action="append", required=True, metavar="NAME=HOST",
                    help="a node and the address the others reach it at (give every node, 3 for one-node failures)")
    nc.add_argument("--out", default="var/nats", help="folder for <name>.conf (copy each to its node)")
    nc.add_argument("--store-dir", default="/var/lib/nats/jetstream", help="JetStream store on each node")
    nc.add_argument("--listen", default="0.0.0.0", help="address each node listens on")
    nc.set_defaults(func=_dispatch("linli.nats_cluster:config_main"))

    r = sub.add_parser("replay", help="run the real lift pipeline on a recorded clip with a door schedule; prints a "
                       "timeline and a verdict (installers tune a lift from footage)")
    from edge.apps.lift_guard.replay_args import add_arguments

    add_arguments(r)
    r.set_defaults(func=_dispatch("edge.apps.lift_guard.replay:main"))

    d = sub.add_parser("demo", help="broker + server + one simulated agent of each kind; Ctrl-C stops all")
    d.add_argument("--var", default="var/demo", help="working folder for the demo (databases, secrets, logs)")
    d.add_argument("--http-port", type=int, default=8600, help="server page port; agents use the next ones")
    d.add_argument("--broker", choices=["auto", "mosquitto", "amqtt"], default="auto")
    d.add_argument("--duration", type=float, default=0.0, help="stop after N seconds (0 = until Ctrl-C)")
    d.set_defaults(func=_dispatch("linli.demo:main"))
    rel = sub.add_parser("release", help="signed software releases: make a signing key, build and sign a release")
    rel_sub = rel.add_subparsers(dest="release_command", required=True)
    kg = rel_sub.add_parser("keygen", help="a new Ed25519 key pair (private key 0600; the .pub goes to devices)")
    kg.add_argument("--key", default="var/secrets/release.key", help="private key file to write")
    mk = rel_sub.add_parser("make", help="pack this source tree as a release and sign it")
    mk.add_argument("--version", required=True, help="release version, e.g. 0.2.0")
    mk.add_argument("--key", default="var/secrets/release.key", help="private signing key")
    mk.add_argument("--source", default=".", help="source tree (default: here)")
    mk.add_argument("--out", default="var/releases", help="folder for linli-<version>.tar.gz and .json")
    rel.set_defaults(func=_dispatch("linli.release_cli:main"))

    ins = sub.add_parser("install", help="install an agent (on a Raspberry Pi) or the server as systemd services")
    ins.add_argument("--role", choices=["agent", "server"], default="agent")
    ins.add_argument("--kind", help="agent: device kind (lift_guard, gate, charger, taxi_kiosk, probe)")
    ins.add_argument("--device", help="agent: device id, as provisioned on the server")
    ins.add_argument("--bundle", help="agent: the provisioning bundle from `linli provision … --bundle`")
    ins.add_argument("--server", help="agent: the server's address (shown to the installer)")
    ins.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config key, e.g. --set hal.serial.mcu.url=/dev/ttyUSB0 (repeatable)")
    ins.add_argument("--root", default="/", help="install into this root instead of / (an image, a test)")
    ins.add_argument("--no-system", action="store_true",
                     help="skip apt, useradd, chown, pip and starting services (prepare an image)")
    ins.add_argument("--no-enable", action="store_true", help="write the units but do not enable them")
    ins.add_argument("--venv-from", help="reuse this virtual environment's packages instead of pip (offline)")
    ins.add_argument("--broker-port", type=int, default=1883, help="server: Mosquitto port")
    ins.add_argument("--http-port", type=int, default=8600, help="server: page/API port")
    ins.add_argument("--database-url", help="server: database URL (default SQLite under /var/lib/linli/server)")
    ins.set_defaults(func=_dispatch("linli.deploy.install:main"))
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
