"""Password guessing against the server: a 32-way spray of unknown user names over real HTTP keeps memory bounded
(argon2 costs 64 MiB per check; at most ``max_concurrent_hashes`` run at once, the rest get 503 at once) and the
API answering signed-in users; wrong passwords lock the address, and spraying more names never clears it. The
login form and HTTP Basic share the guard; ``linli.websec.LoginGuard``'s own rules are checked directly too."""

from __future__ import annotations

import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

from linli.testing import TestBroker
from linli.websec import LoginGuard, LoginRefused
from server.app import create_app
from server.auth import hash_password
from server.testing import LiveServer, make_settings, running, user_entries

REAL_PW = "a-real-password-1"


@pytest.fixture
def live(mqtt_broker: TestBroker, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    # argon2 at its real cost (64 MiB, like production) for the sprayed server: the point is its memory
    real = hash_password(REAL_PW)
    # first, so that the unknown-name check (which copies the first user's argon2 parameters) costs as much
    users = [{"name": "ops", "role": "admin", "password_hash": real},
             {"name": "quiet", "role": "manager", "password_hash": real}, *user_entries()]
    auth = {"users": users, **getattr(request, "param", {})}
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'l.db'}", mqtt_broker, auth=auth)
    with running(create_app(settings)) as ls:
        yield ls


class Peak:
    """Peak RSS of this process (the server runs in it) sampled every 20 ms."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def stop(self) -> int:
        self._stop.set()
        self._t.join()
        return (self.peak - self.base) // 2**20


def _spray(live: LiveServer) -> tuple[Counter[int], Counter[int], int]:
    """32 threads × 4 attempts with unknown user names over HTTP Basic, while a signed-in client keeps calling
    the API; returns the spray's status codes, the signed-in client's, and the peak RSS growth in MB."""
    url = live.url
    with httpx.Client(base_url=url, auth=("ops", REAL_PW), timeout=60) as ops:
        assert ops.get("/api/v1/me").status_code == 200  # verified once before the attack: remembered
        peak = Peak()
        codes: Counter[int] = Counter()
        legit: Counter[int] = Counter()
        done = threading.Event()

        def spray(i: int) -> None:
            with httpx.Client(base_url=url, timeout=60) as c:
                for j in range(4):
                    name = f"u{uuid.uuid4().hex[:8]}"
                    codes[c.get("/api/v1/me", auth=(name, f"guess-{i}-{j}")).status_code] += 1

        def signed_in() -> None:
            while not done.is_set():
                legit[ops.get("/api/v1/me").status_code] += 1

        t = threading.Thread(target=signed_in)
        t.start()
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(spray, range(32)))
        done.set()
        t.join()
        grown_mb = peak.stop()
    print(f"spray: {dict(codes)}; signed-in client during it: {dict(legit)}; RSS grew {grown_mb} MB")
    return codes, legit, grown_mb


# lock-outs out of the way: as if the spray came from 128 addresses (a botnet); only the hashing bound is left
@pytest.mark.parametrize("live", [{"login_max_failures": 100, "login_max_failures_per_address": 10_000}],
                         indirect=True)
def test_spray_from_many_addresses_keeps_memory_bounded_and_the_api_answering(live: LiveServer) -> None:
    codes, legit, grown_mb = _spray(live)
    assert sum(codes.values()) == 128 and set(codes) <= {401, 503}, codes
    assert codes[503] > 0  # more attempts at once than hashing slots: refused at once, not queued
    assert set(legit) == {200} and legit[200] > 0, legit  # the API kept answering the signed-in user
    assert grown_mb < 600, grown_mb  # 32 × 64 MiB at once would be 2 GiB


def test_spray_locks_the_address_and_more_names_do_not_clear_it(live: LiveServer) -> None:
    url = live.url
    codes, legit, grown_mb = _spray(live)
    assert sum(codes.values()) == 128 and set(codes) <= {401, 429, 503}, codes
    assert codes[429] > 0 and codes[401] <= 20  # at most the per-address allowance was ever checked
    assert set(legit) == {200}, legit
    assert grown_mb < 600, grown_mb
    # more names from the same address: still locked, and the right password of an account that never signed in
    # (so not remembered) is refused before it is checked: spraying cannot clear the lock
    for _ in range(50):
        assert httpx.get(url + "/api/v1/me", auth=(f"n{uuid.uuid4().hex[:8]}", "x")).status_code == 429
    r = httpx.get(url + "/api/v1/me", auth=("quiet", REAL_PW))
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    # the login form shares the guard
    form = httpx.get(url + "/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    r = httpx.post(url + "/login", data={"username": "quiet", "password": REAL_PW, "csrf": token.group(1)},
                   cookies=form.cookies)
    assert r.status_code == 429 and "linli_session" not in r.headers.get("set-cookie", "")


def test_guard_counts_accounts_and_addresses_independently() -> None:
    g = LoginGuard(account_failures=3, address_failures=5, max_keys=10)
    for i in range(3):  # one account from three addresses: the account locks
        g.failed(f"10.0.0.{i}", "zhang")
    with pytest.raises(LoginRefused) as exc:
        g.check("10.9.9.9", "zhang")
    assert exc.value.reason == "locked"
    g.check("10.9.9.9", "li")  # others are not affected
    for i in range(5):  # one address spraying names: the address locks
        g.failed("10.1.1.1", f"name{i}")
    with pytest.raises(LoginRefused):
        g.check("10.1.1.1", "anyone")
    for i in range(10_000):  # flooding both tables with new keys evicts only unlocked ones
        g.failed(f"172.16.{i // 250}.{i % 250}", f"flood{i}")
    with pytest.raises(LoginRefused):
        g.check("10.1.1.1", "anyone")
    with pytest.raises(LoginRefused):
        g.check("10.9.9.9", "zhang")
    g.succeeded("10.1.1.1", "someone")  # a right password elsewhere does not clear the address
    with pytest.raises(LoginRefused):
        g.check("10.1.1.1", "someone")


def test_hashing_slots_are_bounded() -> None:
    g = LoginGuard(max_hashing=2, wait_s=0.01)
    with g.hashing(), g.hashing():
        with pytest.raises(LoginRefused) as exc, g.hashing():
            pass
        assert exc.value.reason == "busy"
    with g.hashing():  # freed again
        pass
