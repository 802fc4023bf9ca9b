"""scripts/mutate.py (``make mutate``): the score per module, and the equivalents list kept true."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("mutate_script", Path(__file__).parent.parent / "scripts/mutate.py")
assert _spec is not None and _spec.loader is not None
mutate = importlib.util.module_from_spec(_spec)
sys.modules["mutate_script"] = mutate
_spec.loader.exec_module(mutate)

T = "edge/x.py"
RESULTS = {T: {"edge.x.f__mutmut_1": 1, "edge.x.f__mutmut_2": 0, "edge.x.f__mutmut_3": 33, "edge.x.f__mutmut_4": 24,
               "edge.x.f__mutmut_5": 0, "edge.x.f__mutmut_6": None}}


def test_score_counts_timeouts_as_killed_and_leaves_equivalents_out() -> None:
    [s] = mutate.score([T], [T], RESULTS, {"edge.x.f__mutmut_5": "same value either way"})
    assert (s.total, s.killed, s.timeout, s.counted) == (6, 1, 1, 5)
    assert s.survived == ["edge.x.f__mutmut_2"] and s.no_tests == ["edge.x.f__mutmut_3"]
    assert s.other == ["edge.x.f__mutmut_6"] and s.equivalent == ["edge.x.f__mutmut_5"]
    assert s.score == pytest.approx(2 / 5) and not s.passed
    text = mutate.report([s], {"edge.x.f__mutmut_5": "same value either way"})
    assert "edge/x.py" in text and "40.0%" in text and "FAIL" in text and "same value either way" in text


def test_pass_at_exactly_the_target() -> None:
    results = {T: {f"edge.x.f__mutmut_{i}": (1 if i <= 17 else 0) for i in range(1, 21)}}
    [s] = mutate.score([T], [T], results, {})
    assert s.score == pytest.approx(0.85) and s.passed


def test_an_equivalent_whose_mutant_is_gone_is_refused() -> None:
    with pytest.raises(mutate.MutateError, match="no longer exist"):
        mutate.score([T], [T], RESULTS, {"edge.x.f__mutmut_99": "gone"})


def test_an_equivalent_that_a_test_kills_is_refused() -> None:
    with pytest.raises(mutate.MutateError, match="kills"):
        mutate.score([T], [T], RESULTS, {"edge.x.f__mutmut_1": "not really"})


def test_equivalents_need_a_reason(tmp_path: Path) -> None:
    f = tmp_path / "eq.toml"
    f.write_text('[equivalent]\n"edge.x.f__mutmut_5" = " "\n', "utf-8")
    with pytest.raises(mutate.MutateError, match="reason"):
        mutate.load_equivalents(f)
    f.write_text('[equivalent]\n"edge.x.f__mutmut_5" = "why"\n', "utf-8")
    assert mutate.load_equivalents(f) == {"edge.x.f__mutmut_5": "why"}


def test_the_committed_configuration_names_existing_files() -> None:
    targets = mutate.load_config()
    assert "edge/apps/lift_guard/guard.py" in targets and "edge/runtime/outbox.py" in targets
    assert mutate.load_equivalents() is not None
