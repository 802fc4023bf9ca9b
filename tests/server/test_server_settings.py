"""Server settings: the example config, environment overrides, and error messages that say where and what."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from server.auth import hash_password
from server.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from linli.testing import TestBroker

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "server.yaml"


def test_example_config_loads() -> None:
    s = load_settings(EXAMPLE, environ={})
    assert isinstance(s, Settings)
    assert s.database.url.startswith("sqlite:///")
    assert s.mqtt.protocol == "5" and s.mqtt.shared_subscription is False and s.mqtt.client_id
    assert s.mqtt.port == 1884  # the server account's own listener
    assert s.retention.snapshot_days == 30
    assert s.storage.snapshots == Path("var/server/snapshots")
    assert s.auth.users_file == Path("var/secrets/users.yaml") and s.auth.users == []


def test_environment_overrides() -> None:
    env = {"LINLI_DATABASE_URL": "postgresql+psycopg://linli@db:5432/linli", "LINLI_HTTP_PORT": "9000",
           "LINLI_MQTT_PASSWORD": "s3cret", "LINLI_MQTT_USERNAME": "srv", "LINLI_MQTT_SHARED_SUBSCRIPTION": "true",
           "LINLI_RETENTION_SNAPSHOT_DAYS": "7", "LINLI_LOG_LEVEL": "DEBUG", "LINLI_AGENT_WHATEVER": "ignored"}
    s = load_settings(EXAMPLE, environ=env)
    assert s.database.url == "postgresql+psycopg://linli@db:5432/linli"
    assert s.http.port == 9000 and s.retention.snapshot_days == 7 and s.log_level == "DEBUG"
    assert s.mqtt.shared_subscription is True
    assert s.mqtt.credentials().username == "srv" and s.mqtt.credentials().password == "s3cret"
    assert "s3cret" not in repr(s)


def test_errors_name_file_key_and_allowed_values(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("mqtt:\n  protocol: 4\n  prot: x\nretention:\n  snapshot_days: 0\n", encoding="utf-8")
    with pytest.raises(SettingsError) as exc:
        load_settings(cfg, environ={})
    msg = str(exc.value)
    assert f"{cfg}: mqtt.protocol: Input should be '5' or '3.1.1'" in msg
    assert f"{cfg}: mqtt.prot: unknown key; allowed keys: host, port, client_id, protocol" in msg
    assert f"{cfg}: retention.snapshot_days: Input should be greater than or equal to 1" in msg
    with pytest.raises(SettingsError, match=r"environment variable LINLI_HTTP_PORT: http.port: .*integer"):
        load_settings(EXAMPLE, environ={"LINLI_HTTP_PORT": "eighty"})
    with pytest.raises(SettingsError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml", environ={})
    (tmp_path / "list.yaml").write_text("- 1\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="top level must be a mapping"):
        load_settings(tmp_path / "list.yaml", environ={})
    (tmp_path / "broken.yaml").write_text("mqtt: [\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(tmp_path / "broken.yaml", environ={})


def test_users_file_and_duplicates(tmp_path: Path) -> None:
    h = hash_password("long-enough-1")
    users = tmp_path / "users.yaml"
    users.write_text(f"- name: wang\n  role: maintenance\n  sites: [sh-caoyang-01]\n  password_hash: '{h}'\n",
                     encoding="utf-8")
    s = load_settings(None, environ={}, overrides={"auth": {"users_file": str(users)}})
    (u,) = s.all_users()
    assert (u.name, u.role, u.sites) == ("wang", "maintenance", ["sh-caoyang-01"])
    dup = load_settings(None, environ={}, overrides={"auth": {
        "users_file": str(users), "users": [{"name": "wang", "role": "admin", "password_hash": h}]}})
    with pytest.raises(SettingsError, match="defined twice: wang"):
        dup.all_users()
    users.write_text("- name: li\n  role: boss\n  password_hash: x\n", encoding="utf-8")
    with pytest.raises(SettingsError) as exc:
        load_settings(None, environ={}, overrides={"auth": {"users_file": str(users)}}).all_users()
    assert f"{users}: 0.role: Input should be 'admin', 'manager' or 'maintenance'" in str(exc.value)


def test_mqtt_credentials_from_the_secret_file(mqtt_broker: TestBroker) -> None:
    s = load_settings(None, environ={}, overrides={"mqtt": {"credentials_file": str(mqtt_broker.secrets.server_file)}})
    assert s.mqtt.credentials() == mqtt_broker.server
    missing = load_settings(None, environ={}, overrides={"mqtt": {"credentials_file": "/nonexistent/server.json"}})
    with pytest.raises(SettingsError, match=r"mqtt\.credentials_file: .*secret file not found"):
        missing.mqtt.credentials()
