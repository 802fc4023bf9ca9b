"""``python -m server.auth hash`` prints an argon2 hash for a password (asked twice, or read from stdin with
``--stdin``); ``python -m server.auth add-user NAME --role ROLE --file var/secrets/users.yaml`` adds or replaces a
user in a users file (``auth.users_file``). Needs nothing but argon2-cffi and PyYAML."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from server.auth import ROLES, hash_password


def _password(from_stdin: bool) -> str:
    if from_stdin:
        pw = sys.stdin.readline().rstrip("\n")
    else:
        pw = getpass.getpass("password: ")
        if getpass.getpass("again: ") != pw:
            raise SystemExit("the two passwords differ")
    if len(pw) < 8:
        raise SystemExit("use at least 8 characters")
    return pw


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m server.auth", description="linli server user tools")
    sub = p.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hash", help="print an argon2 hash for auth.users[].password_hash")
    h.add_argument("--stdin", action="store_true", help="read the password from stdin (no prompt)")
    a = sub.add_parser("add-user", help="add or replace a user in a users file")
    a.add_argument("name")
    a.add_argument("--role", required=True, choices=ROLES)
    a.add_argument("--site", action="append", dest="sites", help="limit the user to this site (repeatable)")
    a.add_argument("--file", default="var/secrets/users.yaml", help="users file (auth.users_file)")
    a.add_argument("--stdin", action="store_true", help="read the password from stdin (no prompt)")
    args = p.parse_args(argv)
    pw_hash = hash_password(_password(args.stdin))
    if args.cmd == "hash":
        print(pw_hash)
        return 0
    import yaml  # PyYAML; only this subcommand needs it

    path = Path(args.file)
    users = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else []
    users = [u for u in users or [] if u.get("name") != args.name]
    entry: dict[str, object] = {"name": args.name, "password_hash": pw_hash, "role": args.role}
    if args.sites:
        entry["sites"] = args.sites
    users.append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(users, fh, allow_unicode=True, sort_keys=False)
    print(f"{path}: user {args.name} ({args.role}) saved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
