"""The layering rules of the tree: server and edge never import each other (a ruff rule fails CI if they do), and
event types exist only in the contract (``linli/contract/``): code elsewhere names them through the models."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from linli.contract import all_event_models

ROOT = Path(__file__).resolve().parents[2]


def _ruff() -> str:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed")
    return exe


def _check(filename: str, source: str) -> subprocess.CompletedProcess[str]:
    """``ruff check`` of ``source`` as if it were the file ``filename`` of the tree (its config applies)."""
    return subprocess.run([_ruff(), "check", "--no-cache", "--stdin-filename", filename, "-"], input=source,
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


@pytest.mark.parametrize(("where", "imports"), [
    ("server/kind_probe.py", "from edge.apps.base import App\n\nprint(App)\n"),
    ("server/ingest/kind_probe.py", "import edge.hal\n\nprint(edge.hal)\n"),
    ("server/charger/kind_probe.py", "from edge.apps.charger.tariff import Tariff\n\nprint(Tariff)\n"),
    ("edge/apps/kind_probe.py", "from server.auth import User\n\nprint(User)\n"),
    ("edge/runtime/kind_probe.py", "import server.app\n\nprint(server.app)\n"),
])
def test_ruff_refuses_server_and_edge_importing_each_other(where: str, imports: str) -> None:
    res = _check(where, imports)
    assert res.returncode == 1 and "TID251" in res.stdout, res.stdout + res.stderr


def test_the_same_imports_are_fine_where_they_belong() -> None:
    assert _check("edge/apps/kind_probe.py", "from edge.hal import Hal\n\nprint(Hal)\n").returncode == 0
    assert _check("server/kind_probe.py", "from server.auth import User\n\nprint(User)\n").returncode == 0
    both = "from linli.contract import Kind\n\nprint(Kind)\n"
    assert _check("server/kind_probe.py", both).returncode == 0
    assert _check("edge/kind_probe.py", both).returncode == 0


def test_the_tree_has_no_server_edge_imports() -> None:
    res = subprocess.run([_ruff(), "check", "--no-cache", "--select", "TID251", "server", "edge"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stdout


def _string_constants(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_event_types_are_written_only_in_the_contract() -> None:
    types = set(all_event_models())
    prefixes = {t.split(".")[0] + "." for t in types}
    found = []
    for top in ("edge", "server", "firmware_bridge", "bench"):
        for path in sorted((ROOT / top).rglob("*.py")):
            for line, value in _string_constants(path):
                if value in types or (value.endswith("*") and any(value.startswith(p) for p in prefixes)):
                    found.append(f"{path.relative_to(ROOT)}:{line}: {value!r}")
    assert not found, "event types written outside linli/contract/ (use the contract's models):\n" + "\n".join(found)
