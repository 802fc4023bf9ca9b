"""/metrics follows Prometheus's conventions: real metric families named for what they measure, base units
(seconds, bytes, ratio, watts, joules), ``_total`` on counters only, labels for ports and lanes, no ``_created``
series — checked with prometheus-client's own parser."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from edge.runtime.metrics import AgentCollector, Histogram, Stats, app_metric_name, make_registry, render

NAME = re.compile(r"^linli_[a-z][a-z0-9_]*$")
NOT_BASE = re.compile(r"_(percent|pct|megabytes|mb|kb|ms|milliseconds|minutes|hours|wh|kwh|w|celcius)(_|$)")


def lint_metrics(text: str) -> list[str]:
    """What breaks the naming rules in a /metrics text (empty when it is fine)."""
    out: list[str] = []
    for fam in text_string_to_metric_families(text):
        if not NAME.match(fam.name):
            out.append(f"{fam.name}: not linli_<snake_case>")
        if NOT_BASE.search(fam.name):
            out.append(f"{fam.name}: not in base units")
        if fam.type == "gauge" and fam.name.endswith("_total"):
            out.append(f"{fam.name}: a gauge named like a counter")
        if fam.type == "counter" and not all(s.name.endswith("_total") for s in fam.samples):
            out.append(f"{fam.name}: counter samples must end in _total")
        if fam.name == "linli_app_gauge":
            out.append("linli_app_gauge: one family for everything (use real families)")
        for s in fam.samples:
            if s.name.endswith("_created"):
                out.append(f"{s.name}: _created series")
    return out


def test_app_gauge_keys_become_families_in_base_units() -> None:
    assert app_metric_name("p3_w") == ("linli_port_watts", {"port": "3"}, 1.0)
    assert app_metric_name("p12_wh") == ("linli_port_joules", {"port": "12"}, 3600.0)
    assert app_metric_name("cycle_ms") == ("linli_cycle_seconds", {}, 1e-3)
    assert app_metric_name("detect_ms_p50") == ("linli_detect_p50_seconds", {}, 1e-3)
    assert app_metric_name("lane_in_loop") == ("linli_lane_loop", {"lane": "in"}, 1.0)
    assert app_metric_name("meter_kwh") == ("linli_meter_joules", {}, 3.6e6)
    assert app_metric_name("inside_total") == ("linli_inside_all", {}, 1.0)
    assert app_metric_name("pile_power_w") == ("linli_pile_power_watts", {}, 1.0)


def test_a_chargers_and_a_lifts_metrics_pass_the_lint() -> None:
    hist = Histogram((0.01, 0.05, 0.1))
    for v in (0.004, 0.03, 0.03, 0.2):
        hist.observe(v)
    figures = {"mqtt_connected": True, "outbox_depth": 0, "cpu_pct": 25.0, "mem_pct": 50.0, "rss_mb": 100.0,
               "disk_pct": 10.0, "soc_temp_c": 50.0, "uptime_s": 12.0, "outbox_dropped": 2}
    app = {"p3_w": 120.5, "p3_wh": 2.0, "p3_state": "charging", "p4_w": 0.0, "p4_state": "idle", "mcu_ok": True,
           "cycle_ms": 12.0, "inside_total": 3, "lane_in_state": "closed", "lane_out_state": "open",
           "detect_ms_p50": 21.0, "state": "watching", "faults": "", "meter_kwh": None}
    stats = Stats()
    stats.inc("events", "info", 3)
    labels = {"site": "s", "kind": "charger", "device": "d"}
    text = render(make_registry(AgentCollector(stats, lambda: figures, lambda: app, labels,
                                               histograms=lambda: {"detect_seconds": hist}))).decode()
    assert lint_metrics(text) == []
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert fams["linli_cpu_ratio"].samples[0].value == 0.25
    assert fams["linli_process_resident_memory_bytes"].samples[0].value == 100 * 1024 * 1024
    port3 = [s for s in fams["linli_port_watts"].samples if s.labels["port"] == "3"]
    assert port3[0].value == 120.5
    assert {(s.labels["port"], s.labels["state"]) for s in fams["linli_port_state"].samples} == {
        ("3", "charging"), ("4", "idle")}
    det = fams["linli_detect_seconds"]
    assert det.type == "histogram"
    counts = {s.labels.get("le"): s.value for s in det.samples if s.name.endswith("_bucket")}
    assert counts == {"0.01": 1.0, "0.05": 3.0, "0.1": 3.0, "+Inf": 4.0}
    assert fams["linli_events"].type == "counter"


def test_the_lint_catches_what_the_old_names_did() -> None:
    old = ("# TYPE linli_cpu_percent gauge\nlinli_cpu_percent 3\n# TYPE linli_app_gauge gauge\n"
           'linli_app_gauge{gauge="p3_w"} 1\n# TYPE linli_inside_total gauge\nlinli_inside_total 2\n'
           "# TYPE linli_x counter\nlinli_x_total 1\nlinli_x_created 1\n")
    problems = lint_metrics(old)
    assert any("base units" in p for p in problems) and any("app_gauge" in p for p in problems)
    assert any("like a counter" in p for p in problems) and any("_created" in p for p in problems)
