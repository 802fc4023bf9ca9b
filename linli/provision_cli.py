"""``linli provision`` and ``linli broker``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from linli.contract import ContractError, DeviceRef
from linli.provision import SecretStore


def main(args: argparse.Namespace) -> int:
    store = SecretStore(args.secrets)
    try:
        if args.server:
            creds = store.server_credentials(rotate=args.rotate)
            print(f"server account {creds.username}: {store.server_file}")
        if getattr(args, "homeassistant", False):
            ha = store.ha_credentials(rotate=args.rotate)
            print(f"Home Assistant account {ha.username} (read-only): {store.ha_file}; in Home Assistant's MQTT "
                  f"integration use this user and password, discovery prefix homeassistant")
        if args.site or args.device or args.kind:
            if not (args.site and args.device and args.kind):
                print("linli provision: --site, --kind and --device go together", file=sys.stderr)
                return 2
            ref = DeviceRef(args.site, args.kind, args.device)
            if args.revoke:
                gone = store.revoke_device(ref)
                print(f"{'revoked' if gone else 'not provisioned'}: {ref.key}")
            else:
                path, creds = store.provision_device(ref, rotate=args.rotate)
                print(f"device {ref.key} account {creds.username}: secret file {path}")
                if getattr(args, "bundle", None):
                    if not args.broker_host:
                        print("linli provision: --bundle needs --broker-host (the address the device connects to)",
                              file=sys.stderr)
                        return 2
                    from linli.deploy.bundle import make_bundle

                    out = make_bundle(store, ref, args.bundle, args.broker_host, args.broker_port,
                                      server_url=args.server_url, broker_tls_port=args.tls_port,
                                      ca_file=args.ca_file, update_pub_file=args.update_key)
                    print(f"  bundle {out} (0600): copy it to the device and run `linli install --kind "
                          f"{ref.kind.value} --device {ref.device} --bundle …` there")
                else:
                    print("  copy it to the device and point mqtt.password_file at it (mode 0600)")
        elif not args.server and not getattr(args, "homeassistant", False):
            store.write_broker_files()
        if args.tls or args.tls_cert:
            _tls(store, args)
    except (ContractError, ValueError) as exc:
        print(f"linli provision: {exc}", file=sys.stderr)
        return 2
    print(f"broker files: {store.passwd_file} {store.acl_file}")
    if args.reload_pid:
        os.kill(args.reload_pid, signal.SIGHUP)
        print(f"sent SIGHUP to {args.reload_pid}")
    return 0


def _tls(store: SecretStore, args: argparse.Namespace) -> None:
    from linli.tls import ensure_ca, issue

    files = store.tls_files
    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
    existed = files.ca_cert.exists()
    ensure_ca(files)
    print(f"site CA: {files.ca_cert} ({'kept' if existed else 'new'}; its key {files.ca_key} stays here)")
    if args.tls:
        crt, key = issue(files, "broker", [*hosts, "localhost", "127.0.0.1"])
        print(f"broker certificate: {crt} key {key} for {', '.join([*hosts, 'localhost', '127.0.0.1'])}")
    if args.tls_cert:
        crt, key = issue(files, args.tls_cert, hosts)
        print(f"certificate {args.tls_cert}: {crt} key {key} for {', '.join(hosts)}")
    print(f"  agents and server trust {files.ca_cert} (mqtt.tls.ca_file / mqtt.tls_ca_file)")


def broker_main(args: argparse.Namespace) -> int:
    from linli.broker import BrokerError, start_broker

    store = SecretStore(args.secrets)
    store.server_credentials()
    tls = None
    if args.tls_port is not None:
        tls = store.tls_files
        if not tls.broker_cert.exists():
            print(f"linli broker: --tls-port needs {tls.broker_cert}: run `linli provision --tls --hosts …` first",
                  file=sys.stderr)
            return 2
    try:
        b = start_broker(args.data, port=args.port, secrets=store, prefer=args.prefer, server_port=args.server_port,
                         tls=tls, tls_port=args.tls_port, host=args.host)
    except BrokerError as exc:
        print(f"linli broker: {exc}", file=sys.stderr)
        return 2
    tls_note = f", TLS devices on {b.host}:{args.tls_port}" if tls is not None else ""
    print(f"{b.name}: devices on {b.host}:{b.port}{tls_note}, server account on {b.host}:{b.server_port} "
          f"(passwd {store.passwd_file}, acl {store.acl_file})", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        b.stop()
    return 0
