"""Suite-wide fixtures: one real Mosquitto (with provisioned credentials and ACL) and, where the binaries
exist, one private PostgreSQL cluster, both on free loopback ports and shared by the whole session."""

from __future__ import annotations

import os
import shutil
import tempfile

os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")
os.environ.setdefault("TZ", "UTC")

from collections.abc import Iterator
from pathlib import Path

import pytest

from linli.testing import PostgresCluster, TestBroker, _pg_bin


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBroker]:
    tb = TestBroker.start(tmp_path_factory.mktemp("broker"))
    yield tb
    tb.broker.stop()


@pytest.fixture(autouse=True)
def _shared_broker_stays_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that stops the session's broker (outage tests) and fails before starting it again must not take
    every later test down with it: the broker is started again after such a test (which still fails)."""
    yield
    if "mqtt_broker" in request.fixturenames:
        tb: TestBroker = request.getfixturevalue("mqtt_broker")
        if not tb.broker.running:
            tb.broker.start()


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    if _pg_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries missing in CI: `make test` should have installed postgresql")
        pytest.skip("PostgreSQL server binaries not installed")
    # Not under pytest's 0700 tmp tree: the postgres user must be able to reach its data folder.
    root = Path(tempfile.mkdtemp(prefix="linli-pg-"))
    root.chmod(0o755)
    cluster = PostgresCluster(root / "cluster")
    cluster.start()
    yield cluster
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


_db_counter = 0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL: SQLite file, then PostgreSQL (same tests run on both)."""
    global _db_counter
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'linli.db'}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    _db_counter += 1
    return cluster.create_database(f"t{_db_counter}")


#: Fixtures that start or reach a service (broker, PostgreSQL): a mutation run must not need any.
SERVICE_FIXTURES = frozenset({"mqtt_broker", "pg_cluster"})


@pytest.fixture(autouse=True)
def _fresh_mock_pins_under_mutmut() -> None:
    """Under mutmut, a test starts with no mock GPIO pin claimed: mutmut's "forced fail" run (every mutated function
    raising) can leave pins claimed by a test whose set-up failed half-way, and every mutant tested in a process
    forked after it would then fail on "pin already in use" — counted as killed."""
    if "MUTANT_UNDER_TEST" not in os.environ:
        return
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    if isinstance(Device.pin_factory, MockFactory):
        Device.pin_factory.reset()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under mutmut (``make mutate``; mutmut sets MUTANT_UNDER_TEST) only the fast unit tests run: tests that use
    the broker or PostgreSQL, or drive Chromium, are deselected, so that a mutation run needs no service and
    finishes in minutes."""
    if "MUTANT_UNDER_TEST" not in os.environ:
        return
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        slow = (SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("postgres")
                or item.get_closest_marker("browser"))
        (dropped if slow else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
