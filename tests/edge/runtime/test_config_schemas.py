"""The config schemas in the contract (linli/contract/config_schemas/, read by the server's desired-config form)
are what the edge's config models say today, and every field a person sees has a Chinese name."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.runtime import config_schemas
from linli.contract import Kind
from linli.contract.config_schemas import SCHEMA_DIR, config_schema


def test_committed_schemas_are_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert config_schemas.main(["--check"]) == 0, capsys.readouterr().err
    for kind in Kind:
        assert (SCHEMA_DIR / f"{kind.value}.json").read_text(encoding="utf-8") == config_schemas.render(kind)


def test_check_fails_on_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert config_schemas.main(["--dir", str(tmp_path)]) == 0  # written
    stale = tmp_path / "probe.json"
    stale.write_text(stale.read_text(encoding="utf-8").replace("最长脉冲", "旧名"), encoding="utf-8")
    assert config_schemas.main(["--check", "--dir", str(tmp_path)]) == 1
    assert "probe.json: out of date" in capsys.readouterr().err


def test_a_field_without_a_chinese_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from edge.apps.probe import config_zh

    monkeypatch.delitem(config_zh.ZH, "ProbeConfig.pulse_max_s")
    with pytest.raises(config_schemas.MissingLabel, match=r"ProbeConfig\.pulse_max_s"):
        config_schemas.kind_schema(Kind.probe)


def test_units_and_names_travel() -> None:
    prop = config_schema("probe")["properties"]["pulse_max_s"]  # type: ignore[index]
    assert prop["title"] == "Longest pulse" and prop["x-unit-en"] == "s" and prop["x-unit-zh"] == "秒"
    assert prop["x-title-zh"] == "最长脉冲" and prop["maximum"] == 5.0
    gate = config_schema("gate")
    assert gate is not None  # a default path inside the installation is written relative to it (files are committed)
    assert gate["$defs"]["RecognitionConfig"]["properties"]["models_dir"]["default"] == "models/plates"
