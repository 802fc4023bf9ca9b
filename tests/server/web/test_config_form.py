"""The desired-config form from each kind's config schema in the contract: every field a person sees has a
Chinese and an English name (no key shown), units and ranges come with it, the form's text becomes the overrides
document, and every wrong field gets its own message in both languages."""

from __future__ import annotations

import pytest

from linli.contract import Kind
from linli.contract.config_schemas import config_schema
from server.web import config_form
from server.web.config_form import ConfigFormError, ConfigGroup, form, prefill, values
from tests.server.web.test_no_machine_text import machine_text


def _groups(g: ConfigGroup) -> list[ConfigGroup]:
    return [g, *(x for item in g.items if isinstance(item, ConfigGroup) for x in _groups(item))]


@pytest.mark.parametrize("kind", list(Kind))
def test_every_field_has_human_names(kind: Kind) -> None:
    schema = config_schema(kind)
    assert schema is not None
    root = form(schema)
    fields = list(root.fields())
    assert fields
    texts: list[tuple[str, str, tuple[str, ...]]] = []
    for f in fields:
        assert f.title.zh and f.title.en, f.path
        assert f.title.zh != f.path[-1] and "_" not in f.title.zh, f.path  # a name, not the key
        for _, name in f.options:
            assert name.zh, (f.path, name)
        texts += [(t.zh, "zh", f.path) for t in (f.title, f.description, *(n for _, n in f.options))]
        texts += [(t.en, "en", f.path) for t in (f.title, f.description, *(n for _, n in f.options))]
        if f.unit:
            texts += [(f.unit.zh, "zh", f.path), (f.unit.en, "en", f.path)]
    for g in _groups(root)[1:]:
        assert g.title.zh and g.title.en and "_" not in g.title.zh, g.path
        texts += [(g.title.zh, "zh", g.path), (g.description.zh, "zh", g.path), (g.title.en, "en", g.path),
                  (g.description.en, "en", g.path)]
    raw = [(path, text, found) for text, lang, path in texts
           if (found := [x for x in machine_text(text, lang) if x != "e.g"])]  # "e.g." is English, not code
    assert not raw, raw[:10]  # no key, module or code in what people read, in either language


def test_charger_form_shapes_and_values() -> None:
    schema = config_schema("charger")
    assert schema is not None
    root = form(schema)
    by = {f.form_name: f for f in root.fields()}
    port = by["cfg.limits.port_max_w"]
    assert port.input == "number" and port.maximum == 3500 and port.unit and port.unit.zh == "瓦"
    assert port.title.zh == "单口功率上限" and port.placeholder == "600"
    assert by["cfg.meter.protocol"].input == "select"
    assert dict(by["cfg.meter.protocol"].options)["modbus"].zh == "Modbus RTU"
    assert by["cfg.cards_allowed"].input == "lines"
    assert by["cfg.tariff.tiers"].input == "rows"  # a list of sections: one fieldset per item, not JSON
    got = values(schema, root, {"cfg.limits.port_max_w": "500", "cfg.ports": " 4 ", "cfg.meter.protocol": "modbus",
                                "cfg.cards_allowed": "12345\n\n67890\n", "cfg.coin_window_s": "",
                                "cfg.tariff.tiers.0.max_w": "300", "cfg.tariff.tiers.0.yuan_per_hour": "0.5",
                                "cfg.tariff.tiers.1.max_w": "", "cfg.tariff.tiers.2.max_w": "800",
                                "cfg.tariff.tiers.2.yuan_per_hour": "1"})
    assert got == {"limits": {"port_max_w": 500.0}, "ports": 4, "meter": {"protocol": "modbus"},
                   "cards_allowed": ["12345", "67890"],
                   "tariff": {"tiers": [{"max_w": 300, "yuan_per_hour": 0.5}, {"max_w": 800, "yuan_per_hour": 1.0}]}}
    assert len(by["cfg.tariff.tiers"].rows({"cfg.tariff.tiers.2.max_w": "800"})) == 4  # and one to add
    text = prefill(root, got)  # the overrides in force come back as the form's text
    assert values(schema, root, text) == got


def test_every_wrong_field_is_named() -> None:
    schema = config_schema("charger")
    assert schema is not None
    root = form(schema)
    with pytest.raises(ConfigFormError) as exc:
        values(schema, root, {"cfg.limits.port_max_w": "5000", "cfg.ports": "2.5", "cfg.meter.protocol": "x",
                              "cfg.coin_window_s": "abc", "cfg.tariff.tiers.0.max_w": "x", "cfg.limits.full_w": "0",
                              "cfg.mcu_lost_after_s": "nan"})
    err = exc.value.errors
    assert err["cfg.limits.port_max_w"].zh == "不能大于 3500 瓦" and "3500" in err["cfg.limits.port_max_w"].en
    assert err["cfg.ports"].zh == "请填整数"
    assert err["cfg.meter.protocol"].zh == "请从列表中选择"
    assert err["cfg.coin_window_s"].zh == "请填数字"
    assert err["cfg.tariff.tiers.0.max_w"].zh == "请填整数"  # a row's field is named like any other
    assert err["cfg.limits.full_w"].zh.startswith("不能小于 1")
    assert err["cfg.mcu_lost_after_s"].zh == "请填数字"
    with pytest.raises(ConfigFormError) as exc:  # a whole list is checked against the field's schema
        values(schema, root, {"cfg.tariff.tiers.0.yuan_per_hour": "1"})
    assert exc.value.errors["cfg.tariff.tiers"].zh == "第 1 项缺少“功率上限”"
    with pytest.raises(ConfigFormError) as exc:  # a JSON box (a mapping of simple values) is checked too
        values(config_schema("lift_guard") or {}, form(config_schema("lift_guard") or {}),
               {"cfg.confirm.per_class": '{"battery": "high"}'})
    assert "cfg.confirm.per_class" in exc.value.errors


def test_rows_of_a_mapping_have_names() -> None:
    schema = config_schema("gate")
    assert schema is not None
    root = form(schema)
    lane = {"cfg.lanes.0._name": "in", "cfg.lanes.0.direction": "entry", "cfg.lanes.0.open_relay": "barrier_in",
            "cfg.lanes.0.loop": "loop_in", "cfg.lanes.0.card_format.number": "hex"}
    got = values(schema, root, lane)
    assert got == {"lanes": {"in": {"direction": "entry", "open_relay": "barrier_in", "loop": "loop_in",
                                    "card_format": {"number": "hex"}}}}
    assert prefill(root, got) == lane  # the overrides in force come back as rows
    with pytest.raises(ConfigFormError) as exc:
        values(schema, root, {**lane, "cfg.lanes.0._name": ""})
    assert exc.value.errors["cfg.lanes"].zh == "每一项都要有不同的名称"


def test_switch_is_three_way() -> None:
    schema = config_schema("taxi_kiosk")
    assert schema is not None
    root = form(schema)
    sw = next(f for f in root.fields() if f.form_name == "cfg.elderly_priority")
    assert sw.input == "switch" and config_form.SWITCH == ("", "1", "0")
    assert values(schema, root, {"cfg.elderly_priority": ""}) == {}
    assert values(schema, root, {"cfg.elderly_priority": "0", "cfg.voice.langs": "en\nzh"}) == {
        "elderly_priority": False, "voice": {"langs": ["en", "zh"]}}
    with pytest.raises(ConfigFormError) as exc:
        values(schema, root, {"cfg.voice.langs": "fr"})
    assert "cfg.voice.langs" in exc.value.errors


def test_overrides_the_form_cannot_show_are_kept() -> None:
    schema = config_schema("probe")
    assert schema is not None
    root = form(schema)
    assert config_form.outside(root, {"pulse_max_s": 2, "old_key": 1}) == {"old_key": 1}
    charger = config_schema("charger")
    assert charger is not None
    assert config_form.outside(form(charger), {"limits": {"port_max_w": 5, "gone": 1}, "ports": 3}) == {
        "limits": {"gone": 1}}
