"""Device YAML → AgentConfig: every way a config can be wrong gives exit code 2 and ONE line naming the file,
the key and what is allowed; --check prints the effective config with secrets redacted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from edge.runtime.config import AgentConfig, ConfigError, agent_json_schema, load_config
from edge.runtime.localpage.auth import hash_password
from linli.cli import main as linli_main
from linli.contract import Kind

ROOT = Path(__file__).resolve().parents[3]


def _base() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "config" / "probe.yaml").read_text(encoding="utf-8"))


def _run(tmp_path: Path, doc: Any, capsys: pytest.CaptureFixture[str], raw: str | None = None,
         check: bool = True) -> tuple[int, str, str]:
    path = tmp_path / "x.yaml"
    path.write_text(raw if raw is not None else yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    argv = ["agent", "-c", str(path)] + (["--check"] if check else [])
    rc = linli_main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    return lines[0]


def test_example_probe_config_validates(capsys: pytest.CaptureFixture[str]) -> None:
    rc = linli_main(["agent", "-c", str(ROOT / "config" / "probe.yaml"), "--check"])
    out, _ = capsys.readouterr()
    assert rc == 0
    doc = yaml.safe_load(out)
    assert doc["kind"] == "probe" and doc["local_page"]["port"] == 8601
    assert doc["app"]["pulse_max_s"] == 5.0  # the app section, validated and with its defaults
    assert doc["hal"]["relays"]["output"]["pin"] == 17


def test_bad_value_names_file_key_and_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _base()
    doc["mqtt"]["port"] = 70000
    rc, _, err = _run(tmp_path, doc, capsys)
    assert rc == 2
    expected = f"{tmp_path / 'x.yaml'}: mqtt.port: Input should be less than or equal to 65535 (got 70000)"
    assert _one_line(err) == expected


def test_unknown_key_lists_allowed_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _base()
    doc["outbox"]["max_msgs"] = 5
    rc, _, err = _run(tmp_path, doc, capsys)
    line = _one_line(err)
    assert rc == 2
    assert "x.yaml: outbox.max_msgs: unknown key" in line
    assert "allowed: path, max_messages, replay_rate_per_s, max_inflight" in line


def test_unknown_top_level_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _base()
    doc["telemetry"] = 5
    rc, _, err = _run(tmp_path, doc, capsys)
    line = _one_line(err)
    assert rc == 2 and ": telemetry: unknown key" in line and "telemetry_interval_s" in line


def test_bad_enum_lists_allowed_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _base()
    doc["log_level"] = "LOUD"
    rc, _, err = _run(tmp_path, doc, capsys)
    assert rc == 2
    assert _one_line(err).endswith("log_level: Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR' (got 'LOUD')")
    doc = _base()
    doc["hal"]["pin_factory"] = "gpio"
    rc, _, err = _run(tmp_path, doc, capsys)
    assert rc == 2 and "hal.pin_factory: Input should be 'auto', 'mock'" in _one_line(err)


def test_unknown_kind_lists_kinds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _base()
    doc["kind"] = "toaster"
    rc, _, err = _run(tmp_path, doc, capsys)
    assert rc == 2
    assert "kind: Input should be 'lift_guard', 'gate', 'charger', 'taxi_kiosk' or 'probe'" in _one_line(err)


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = linli_main(["agent", "-c", str(tmp_path / "nope.yaml"), "--check"])
    _, err = capsys.readouterr()
    assert rc == 2 and _one_line(err) == f"{tmp_path / 'nope.yaml'}: file not found"


def test_bad_yaml_names_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(tmp_path, None, capsys, raw="site: a\nmqtt:\n  host: [1\n  port: 2\n")
    line = _one_line(err)
    assert rc == 2 and "x.yaml: line 4, column" in line and "not valid YAML" in line


def test_not_a_mapping_and_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(tmp_path, None, capsys, raw="- a\n- b\n")
    assert rc == 2 and "expected a mapping" in _one_line(err)
    rc, _, err = _run(tmp_path, None, capsys, raw="# nothing\n")
    assert rc == 2 and "the file is empty" in _one_line(err)


def test_app_section_is_validated_by_the_kind_with_the_same_path_format(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _base()
    doc["app"]["pulse_max_s"] = 9
    rc, _, err = _run(tmp_path, doc, capsys)
    assert rc == 2 and _one_line(err).endswith("app.pulse_max_s: Input should be less than or equal to 5 (got 9)")
    doc = _base()
    doc["app"]["colour"] = "red"
    rc, _, err = _run(tmp_path, doc, capsys)
    assert rc == 2 and "app.colour: unknown key (allowed: button, output, pulse_max_s" in _one_line(err)
    doc = _base()
    doc["app"]["button"] = "door"  # must name an input in hal.inputs
    rc, _, err = _run(tmp_path, doc, capsys)
    assert rc == 2 and "app.button: no input named 'door' in hal.inputs (have: button)" in _one_line(err)


def test_a_plain_password_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _base()
    del doc["local_page"]["password_file"]
    doc["local_page"]["password"] = "hunter2"
    rc, _, err = _run(tmp_path, doc, capsys)
    line = _one_line(err)
    assert rc == 2 and "local_page.password: unknown key (a plain password never goes in the YAML)" in line
    assert "hunter2" not in line


def test_exactly_one_password_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _base()
    del doc["local_page"]["password_file"]
    rc, _, err = _run(tmp_path, doc, capsys)
    assert rc == 2 and "local_page needs exactly one of password_hash, password_file, password_env" in _one_line(err)


def test_kind_without_an_installed_app(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import edge.apps

    monkeypatch.setitem(edge.apps.APPS, Kind.taxi_kiosk, "edge.apps.not_installed_kind.app:MissingApp")
    doc = _base()
    doc["kind"] = "taxi_kiosk"
    rc, _, err = _run(tmp_path, doc, capsys)
    line = _one_line(err)
    assert rc == 2 and "kind: " in line and "taxi_kiosk" in line


def test_check_redacts_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _base()
    h = hash_password("s3cret-pw")
    del doc["local_page"]["password_file"]
    doc["local_page"]["password_hash"] = h
    rc, out, _ = _run(tmp_path, doc, capsys)
    assert rc == 0
    assert h not in out and "s3cret" not in out
    assert yaml.safe_load(out)["local_page"]["password_hash"] == "***"
    assert yaml.safe_load(out)["mqtt"]["password_file"] == doc["mqtt"]["password_file"]  # a path is not a secret


def test_missing_secret_file_stops_the_agent_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _base()
    doc["mqtt"]["password_file"] = str(tmp_path / "missing.json")
    doc["data_dir"] = str(tmp_path / "data")
    rc, _, err = _run(tmp_path, doc, capsys, check=False)
    line = _one_line(err)
    assert rc == 2 and "mqtt.password_file:" in line and "linli provision" in line


def test_load_config_error_is_a_config_error(tmp_path: Path) -> None:
    p = tmp_path / "y.yaml"
    p.write_text("site: a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"y\.yaml: kind: required key is missing \[\+\d+ more errors\]"):
        load_config(p)


def _walk_fields(model: type[BaseModel], seen: set[type]) -> list[str]:
    """Fields without a title or description, in our own models (edge.hal's are another module's)."""
    bad = []
    if model in seen or not model.__module__.startswith(("edge.runtime", "edge.apps")):
        return bad
    seen.add(model)
    for name, f in model.model_fields.items():
        if not f.title or not f.description:
            bad.append(f"{model.__name__}.{name}")
        for sub in _models_in(f.annotation):
            bad += _walk_fields(sub, seen)
    return bad


def _models_in(tp: Any) -> list[type[BaseModel]]:
    import typing

    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for a in typing.get_args(tp) for m in _models_in(a)]


def test_every_field_is_titled_and_described_and_the_schema_exports() -> None:
    from edge.apps.probe.config import ProbeConfig

    assert _walk_fields(AgentConfig, set()) == []
    assert _walk_fields(ProbeConfig, set()) == []
    schema = agent_json_schema("probe")
    assert schema["properties"]["app"]["properties"]["pulse_max_s"]["maximum"] == 5.0
    assert "HalConfig" in schema["$defs"] and schema["properties"]["mqtt"]


def test_unreadable_tls_ca_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "dev.json"
    secret.write_text('{"username": "dev.sh-demo-01.probe-01", "password": "x"}', encoding="utf-8")
    page_pw = tmp_path / "page"
    page_pw.write_text("pw\n", encoding="utf-8")
    doc = _base()
    doc["mqtt"].update(password_file=str(secret), tls={"ca_file": str(tmp_path / "no-ca.pem")})
    doc["local_page"].update(password_file=str(page_pw), port=0)
    doc["data_dir"] = str(tmp_path / "data")
    rc, _, err = _run(tmp_path, doc, capsys, check=False)
    line = _one_line(err)
    assert rc == 2 and "mqtt.tls.ca_file:" in line
