"""Release signing and checking, and the boot guard that rolls a release back when it cannot start."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from linli.deploy.bootguard import guard
from linli.release import Manifest, ReleaseError, keygen, load_private, pack_source, sign, unpack, verify_file


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, bytes]:
    d = tmp_path_factory.mktemp("keys")
    keygen(d / "k", d / "k.pub")
    keygen(d / "other", d / "other.pub")
    assert (os.stat(d / "k").st_mode & 0o777) == 0o600
    return d / "k", (d / "k.pub").read_bytes(), (d / "other.pub").read_bytes()


def _tree(tmp: Path) -> Path:
    src = tmp / "tree"
    (src / "linli").mkdir(parents=True)
    (src / "linli" / "__init__.py").write_text("X = 1\n")
    (src / ".venv").mkdir()
    (src / ".venv" / "junk").write_text("no")
    return src


def test_a_signed_release_verifies_and_unpacks_with_its_version(tmp_path: Path, keys) -> None:
    key, pub, _ = keys
    archive = pack_source(_tree(tmp_path), "1.2.3")
    m = sign(archive, "1.2.3", load_private(key))
    f = tmp_path / "r.tar.gz"
    f.write_bytes(archive)
    verify_file(f, Manifest.from_dict(json.loads(m.to_json())), pub)
    src = unpack(f, tmp_path / "slot")
    assert (src / "RELEASE").read_text().strip() == "1.2.3"
    assert (src / "linli" / "__init__.py").exists() and not (src / ".venv").exists()


@pytest.mark.parametrize("tamper", ["byte", "truncate", "version", "other-key", "garbage-signature"])
def test_any_change_to_a_release_is_refused(tmp_path: Path, keys, tamper: str) -> None:
    key, pub, other = keys
    archive = pack_source(_tree(tmp_path), "1.2.3")
    m = sign(archive, "1.2.3", load_private(key))
    f = tmp_path / "r.tar.gz"
    trusted = pub
    if tamper == "byte":
        archive = archive[:100] + bytes([archive[100] ^ 1]) + archive[101:]
    elif tamper == "truncate":
        archive = archive[:-1]
    elif tamper == "version":
        m = Manifest("1.2.4", m.sha256, m.size, m.signature)
    elif tamper == "other-key":
        trusted = other
    else:
        m = Manifest(m.version, m.sha256, m.size, "AAAA" * 22)
    f.write_bytes(archive)
    with pytest.raises(ReleaseError):
        verify_file(f, m, trusted)


def test_unpack_refuses_entries_outside_src(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("src/../../evil")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    f = tmp_path / "evil.tar.gz"
    f.write_bytes(buf.getvalue())
    with pytest.raises(ReleaseError):
        unpack(f, tmp_path / "slot")
    assert not (tmp_path / "evil").exists()


def _slots(tmp: Path) -> tuple[Path, Path]:
    prefix = tmp / "opt"
    (prefix / "slots" / "a").mkdir(parents=True)
    (prefix / "slots" / "b").mkdir(parents=True)
    os.symlink("slots/b", prefix / "current")
    state = tmp / "state"
    (state / "update").mkdir(parents=True)
    return prefix, state


def test_boot_guard_rolls_back_after_too_many_starts(tmp_path: Path) -> None:
    prefix, state = _slots(tmp_path)
    pending = {"version": "2", "from_version": "1", "from_slot": "a", "to_slot": "b", "deadline": 2e9,
               "attempts": 0, "max_attempts": 3}
    (state / "update" / "pending.json").write_text(json.dumps(pending))
    for attempt in (1, 2, 3):
        assert guard(state, prefix, now=1e9).startswith(f"starting 2 (attempt {attempt})")
        assert os.readlink(prefix / "current") == "slots/b"
    assert guard(state, prefix, now=1e9).startswith("rolled back 2")
    assert os.readlink(prefix / "current") == "slots/a"
    result = json.loads((state / "update" / "result.json").read_text())
    assert result["state"] == "rolled_back" and "3 starts" in result["reason"]
    assert not (state / "update" / "pending.json").exists()
    assert guard(state, prefix) == "no update pending"


def test_boot_guard_rolls_back_after_the_deadline(tmp_path: Path) -> None:
    prefix, state = _slots(tmp_path)
    (state / "update" / "pending.json").write_text(json.dumps(
        {"version": "2", "from_slot": "a", "to_slot": "b", "deadline": 100.0, "attempts": 0, "max_attempts": 3}))
    assert guard(state, prefix, now=99.0).startswith("starting")
    assert guard(state, prefix, now=101.0).startswith("rolled back")
    assert "deadline" in json.loads((state / "update" / "result.json").read_text())["reason"]


def test_boot_guard_never_blocks_a_start_on_a_damaged_file(tmp_path: Path) -> None:
    prefix, state = _slots(tmp_path)
    (state / "update" / "pending.json").write_text("{not json")
    assert "unreadable" in guard(state, prefix)
    assert os.readlink(prefix / "current") == "slots/b"
