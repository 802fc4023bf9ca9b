"""Every device kind has the declared shape (docs/ARCHITECTURE.md, "The shape of a kind"): on the edge
``config.py``, ``app.py``, ``page/`` and ``sim.py``; on the server exactly the fixed parts its ``KindSpec`` declares,
each with its entry point; and the architecture document's table lists every kind. Also: the documentation points
at nothing outside the repository."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from linli.contract import Kind
from server.kinds import FOLDER_PARTS, MODULE_PARTS, KindSpec, ServerKinds, declared

ROOT = Path(__file__).resolve().parents[1]
EDGE_SHAPE = ("config.py", "app.py", "page/__init__.py", "page/fragment.html", "sim.py")
ENTRY_POINTS = {"ingest": "register", "api": "router", "pages": "router", "dashboard": "register",
                "worker": "make_worker"}
SERVER_KINDS = [k for k in Kind if (ROOT / "server" / k.value / "__init__.py").is_file()]


@pytest.mark.parametrize("kind", list(Kind), ids=str)
def test_edge_kind_has_the_shape(kind: Kind) -> None:
    folder = ROOT / "edge" / "apps" / kind.value
    missing = [name for name in EDGE_SHAPE if not (folder / name).is_file()]
    assert not missing, f"edge/apps/{kind.value}/ lacks {missing}"


def test_every_kind_but_the_probe_has_a_server_package() -> None:
    assert sorted(k.value for k in SERVER_KINDS) == sorted(k.value for k in Kind if k is not Kind.probe)


def _branch_labels(path: Path) -> tuple[str, ...]:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            if isinstance(target, ast.Name) and target.id == "branch_labels" and node.value is not None:
                value = ast.literal_eval(node.value)
                return (value,) if isinstance(value, str) else tuple(value or ())
    return ()


@pytest.mark.parametrize("kind", SERVER_KINDS, ids=str)
def test_server_kind_has_what_it_declares(kind: Kind) -> None:
    spec = declared(kind)
    assert isinstance(spec, KindSpec)
    folder = ROOT / "server" / kind.value
    for part in MODULE_PARTS:
        exists = (folder / f"{part}.py").is_file()
        assert exists == spec.has(part), (f"server/{kind.value}/{part}.py "
                                          f"{'exists but is not declared' if exists else 'is declared but missing'}")
        if exists and part in ENTRY_POINTS:
            assert getattr(spec.module(part), ENTRY_POINTS[part], None) is not None, \
                f"server/{kind.value}/{part}.py has no {ENTRY_POINTS[part]}"
    assert "templates" in FOLDER_PARTS and "migrations" in FOLDER_PARTS
    templates = sorted((folder / "templates" / kind.value).glob("*.html"))
    assert bool(templates) == spec.templates, f"server/{kind.value}/templates/{kind.value}/: templates={spec.templates}"
    assert not (folder / "templates").exists() or spec.templates
    revisions = sorted((folder / "migrations").glob("*.py")) if (folder / "migrations").is_dir() else []
    assert bool(revisions) == spec.migrations, f"server/{kind.value}/migrations/ vs migrations={spec.migrations}"
    if revisions:
        assert any(kind.value in _branch_labels(r) for r in revisions), \
            f"server/{kind.value}/migrations/ has no revision with branch_labels = ({kind.value!r},)"


def test_the_loader_reads_only_declarations() -> None:
    """One loader: nothing else in the server looks kinds up by module name or changes shared template state."""
    kinds = ServerKinds.load()
    assert [s.kind for s in kinds] == SERVER_KINDS
    offenders = []
    for path in (ROOT / "server").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT).as_posix()
        if rel != "server/kinds.py" and re.search(r"find_spec|import_module\(f\"server\.", text):
            offenders.append(f"{rel}: looks a module up by name")
        if rel != "server/web/__init__.py" and "templates.env" in text:
            offenders.append(f"{rel}: changes the shared template environment")
        if re.search(r"\b(srv|server)\.\w+ = .*# type: ignore\[attr-defined\]|setattr\((srv|server),", text):
            offenders.append(f"{rel}: sticks an attribute on the server")
    assert not offenders, offenders


def test_architecture_table_lists_every_kind() -> None:
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    rows = {m.group(1) for m in re.finditer(r"^\| `(\w+)` \|", doc, re.MULTILINE)}
    missing = sorted({k.value for k in Kind} - rows)
    assert not missing, f"docs/ARCHITECTURE.md's kind table lacks {missing}"
    for spec in ServerKinds.load():
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{spec.kind.value}` |"))
        for part in spec.parts:
            name = f"{part}/" if part in FOLDER_PARTS else f"{part}.py"
            assert name in row, f"docs/ARCHITECTURE.md's row for {spec.kind.value} does not name {name}"


def test_documents_point_at_nothing_outside_the_repository() -> None:
    docs = [ROOT / "README.md", ROOT / "server" / "README.md", *(ROOT / "docs").glob("*.md")]
    bad = []
    for path in docs:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\]\(\.\./|\.\./shared|/work/|shared/design\.md|shared/reference", line):
                bad.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:80]}")
    assert not bad, bad


def test_shared_pieces_are_written_once() -> None:
    """``deep_merge`` lives in ``linli/merge.py`` only; migrations take their column helpers from
    ``server/db/types.py`` instead of defining their own."""
    merges, helpers = [], []
    for path in ROOT.glob("**/*.py"):
        rel = path.relative_to(ROOT).as_posix()
        # not the repository's code: the venv, run-time data, make mutate's copy of the tree, build outputs
        if rel.startswith((".venv/", "var/", "mutants/", "artifacts/", "build/")) or rel == "linli/merge.py":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"^def (_?deep_merge|_merge|deep|merge)\(", text, re.MULTILINE):
            merges.append(rel)
        if "/migrations/" in rel and re.search(r"^(JSON|BIGPK) = |^def (TS|_device_fk)\(", text, re.MULTILINE):
            helpers.append(rel)
    assert not merges, f"a deep merge of its own (use linli.merge.deep_merge): {merges}"
    assert not helpers, f"migration column helpers of its own (use server.db.types): {helpers}"
