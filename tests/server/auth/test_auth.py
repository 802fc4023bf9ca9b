"""Users, password hashes and the ``python -m server.auth`` tool."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from server.auth import Authenticator, hash_password, verify_password
from server.settings import UserEntry, load_settings
from server.testing import FAST_HASHER

ROOT = Path(__file__).resolve().parents[3]


def test_hash_and_verify() -> None:
    h = hash_password("correct horse")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "correct horse") and not verify_password(h, "wrong horse")
    assert not verify_password("not a hash", "x")


def test_authenticator_roles_sites_and_cache() -> None:
    users = [UserEntry(name="a", role="admin", password_hash=FAST_HASHER.hash("pw-a-123")),
             UserEntry(name="m", role="manager", password_hash=FAST_HASHER.hash("pw-m-123"), sites=["east"])]
    auth = Authenticator(users)
    assert auth.authenticate("a", "nope") is None and auth.authenticate("zz", "pw-a-123") is None
    a = auth.authenticate("a", "pw-a-123")
    assert a is not None and a.can("command") and a.can("audit") and a.sees("anything")
    m = auth.authenticate("m", "pw-m-123")
    assert m is not None and not m.can("command") and m.can("read") and m.sees("east") and not m.sees("west")
    assert auth.authenticate("m", "pw-m-123") == m  # cached path gives the same answer
    assert auth.authenticate("m", "pw-a-123") is None


def test_hash_tool_and_add_user(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "server.auth", "hash", "--stdin"], input="s3cret-pass\n",
                         capture_output=True, text=True, env=env, timeout=30, check=True).stdout.strip()
    assert verify_password(out, "s3cret-pass")
    users = tmp_path / "users.yaml"
    subprocess.run([sys.executable, "-m", "server.auth", "add-user", "zhang", "--role", "maintenance", "--site",
                    "sh-caoyang-01", "--file", str(users), "--stdin"], input="another-pass\n", env=env,
                   capture_output=True, text=True, timeout=30, check=True)
    assert users.stat().st_mode & 0o777 == 0o600
    s = load_settings(None, environ={}, overrides={"auth": {"users_file": str(users)}})
    (u,) = s.all_users()
    assert (u.name, u.role, u.sites) == ("zhang", "maintenance", ["sh-caoyang-01"])
    assert Authenticator(s.all_users()).authenticate("zhang", "another-pass") is not None
    short = subprocess.run([sys.executable, "-m", "server.auth", "hash", "--stdin"], input="short\n",
                           capture_output=True, text=True, env=env, timeout=30)
    assert short.returncode != 0 and "8 characters" in short.stderr
