from __future__ import annotations

from pathlib import Path

import pytest

from firmware_bridge.modbus import MeterMapError, ReadBlock, available_maps, load_map, parse_map, plan_reads


def test_shipped_maps_load() -> None:
    assert {"ddsu666", "dtsu666"} <= set(available_maps())
    ddsu = load_map("ddsu666")
    assert ddsu.name == "DDSU666" and ddsu.serial.baudrate == 9600
    p = ddsu.quantity("active_power")
    assert (p.address, p.function, p.datatype, p.word_order, p.scale, p.unit) == (
        0x2004,
        4,
        "float32",
        "big",
        1000,
        "W",
    )
    dtsu = load_map("DTSU666")
    assert dtsu.quantity("voltage_a").scale == 0.1 and dtsu.quantity("import_energy").address == 0x401E
    assert all(q.function == 3 for q in dtsu.quantities.values())


def test_contiguous_quantities_are_batched() -> None:
    ddsu = load_map("ddsu666")
    blocks = plan_reads(ddsu, ["import_energy", "current", "voltage", "active_power", "frequency"])
    assert blocks == [
        ReadBlock(4, 0x2000, 6, ("voltage", "current", "active_power")),
        ReadBlock(4, 0x200E, 2, ("frequency",)),
        ReadBlock(4, 0x4000, 2, ("import_energy",)),
    ]
    assert len(plan_reads(load_map("dtsu666"), list(load_map("dtsu666").quantities))) == 5


def test_gaps_and_size_limits() -> None:
    base = {"name": "T", "defaults": {"datatype": "uint16", "unit": "V"}}
    m = parse_map({**base, "max_gap": 2, "max_registers_per_read": 4,
                   "quantities": {"a": {"address": 0}, "b": {"address": 3}, "c": {"address": 6}, "d": {"address": 7},
                                  "e": {"address": 8, "function": 4}}})  # fmt: skip
    assert plan_reads(m, list(m.quantities)) == [
        ReadBlock(3, 0, 4, ("a", "b")),  # 2 unused registers spanned
        ReadBlock(3, 6, 2, ("c", "d")),  # b..c would make 5 registers: over the limit
        ReadBlock(4, 8, 1, ("e",)),  # another function code: another request
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"unit": "kW"}, "unit 'kW' is not canonical: write unit W with scale 1000"),
        ({"datatype": "float16"}, "quantities.p.datatype"),
        ({"function": 6}, "quantities.p.function"),
        ({"scale": 0}, "scale must not be 0"),
        ({"address": 70000}, "quantities.p.address"),
        ({"colour": "red"}, "quantities.p.colour: Extra inputs are not permitted"),
    ],
)
def test_invalid_quantities_name_the_file_and_key(change: dict[str, object], message: str) -> None:
    q = {"address": 0x100, "datatype": "float32", "unit": "W", **change}
    with pytest.raises(MeterMapError, match=f"^acme.yaml: .*{message}"):
        parse_map({"name": "ACME", "quantities": {"p": q}}, "acme.yaml")


def test_overlaps_and_names_are_checked() -> None:
    q = {"datatype": "float32", "unit": "V"}
    with pytest.raises(MeterMapError, match="'a' and 'b' overlap"):
        parse_map({"name": "X", "quantities": {"a": {"address": 0, **q}, "b": {"address": 1, **q}}})
    parse_map({"name": "X", "quantities": {"a": {"address": 0, **q}, "b": {"address": 1, "function": 4, **q}}})
    with pytest.raises(MeterMapError, match="lower_snake_case"):
        parse_map({"name": "X", "quantities": {"Volts": {"address": 0, **q}}})
    with pytest.raises(MeterMapError, match="quantities: "):
        parse_map({"name": "X", "quantities": {}})


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(MeterMapError, match="'nosuchmeter': no such file, and not one of"):
        load_map("nosuchmeter")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(MeterMapError, match=r"bad\.yaml: not valid YAML"):
        load_map(bad)
    with pytest.raises(KeyError, match="no quantity 'power'; it has voltage"):
        load_map("ddsu666").quantity("power")
