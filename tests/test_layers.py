"""The package's layers import only downwards, and only public names.

Layers read ``core -> pp -> module -> model -> tl -> pl`` (``datasets`` beside ``module``,
the command line on top): a module imports from its own subpackage, from lower layers
through their public names (``uge.core.cosine``, never ``uge.core._similarity.cosine``)
and from :mod:`uge._constants`. No module imports a private name of another package
(``scvi.model._utils``), and the tools and plots touch no private attribute of a model.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "uge"
LAYERS = {
    "_constants": 0,
    "core": 1,
    "pp": 2,
    "datasets": 3,
    "module": 3,
    "model": 4,
    "tl": 5,
    "pl": 6,
}
TOP = 7  # uge/__init__.py, _cli.py, _demo.py
MODULES = sorted(SRC.rglob("*.py"))


def _package(path: Path, src: Path) -> str:
    """The top-level part of uge that a file belongs to (``"core"``, ``"_cli"``, ...)."""
    return path.relative_to(src).with_suffix("").parts[0]


def _imports(path: Path, src: Path) -> list[tuple[str, list[str], int]]:
    """``(absolute module, imported names, line)`` of every import in a file."""
    tree = ast.parse(path.read_text())
    here = ["uge", *path.relative_to(src).with_suffix("").parts][:-1]  # the file's package
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((module, [alias.name for alias in node.names], node.lineno))
    return out


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _violations(path: Path, src: Path = SRC) -> list[str]:
    package = _package(path, src)
    rank = LAYERS.get(package, TOP)
    found = []
    for module, names, line in _imports(path, src):
        where = f"{path.relative_to(src.parent)}:{line} imports {module}"
        parts = module.split(".")
        if parts[0] != "uge":
            if module != "__future__" and any(_private(p) for p in parts[1:]):
                found.append(f"{where}: a private module of another package")
            found += [f"{where}.{n}: a private name" for n in names if _private(n)]
            continue
        if rank == TOP:
            continue  # the top level (the package's __init__, the command line) uses all
        if len(parts) == 1:  # `from uge import ...`
            found.append(f"{where}: only the top level imports the package itself")
            continue
        target = parts[1]
        if target == package:
            continue  # within one subpackage anything goes
        if LAYERS.get(target, TOP) >= rank:
            found.append(f"{where}: {target} is not a layer below {package}")
        if target != "_constants" and len(parts) > 2 and _private(parts[2]):
            found.append(f"{where}: a private module of uge.{target}")
        found += [f"{where}.{n}: a private name" for n in names if _private(n)]
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_layers(path):
    assert _violations(path) == []


def test_the_check_catches_what_it_forbids(tmp_path):
    """Each rule flags a file that breaks it (the check itself can fail)."""
    bad = {
        "model/_x.py": "from uge.tl import reactome\n",
        "tl/_y.py": "from uge.model._inputs import check_params\n",
        "core/_z.py": "from scvi.model._utils import parse_device_args\n",
        "tl/_w.py": "from uge.core import _private_helper\n",
        "pp/_v.py": "from ..core._similarity import cosine\n",
        "core/_u.py": "from uge import __version__\n",
    }
    for name, code in bad.items():
        path = tmp_path / "uge" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code)
        assert _violations(path, tmp_path / "uge"), code
    fine = tmp_path / "uge" / "tl" / "_ok.py"
    fine.write_text("from uge.core import cosine\nfrom ._y import helper\n")
    assert _violations(fine, tmp_path / "uge") == []


@pytest.mark.parametrize("path", [p for p in MODULES if _package(p, SRC) in ("tl", "pl")])
def test_tools_and_plots_use_no_private_model_attributes(path):
    """Tools and plots reach a model only through its public methods and attributes."""
    tree = ast.parse(path.read_text())
    private = [
        f"{path.name}:{node.lineno} {ast.unparse(node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and _private(node.attr)
        and isinstance(node.value, ast.Name | ast.Attribute)
        and "model" in ast.unparse(node.value)
    ]
    assert private == []


def _long_functions(path: Path, limit: int = 100) -> list[str]:
    """Functions of a file whose code (from ``def`` to the end, docstring left out) runs
    over ``limit`` lines."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = node.end_lineno - node.lineno + 1
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                lines -= first.end_lineno - first.lineno + 1
            if lines > limit:
                found.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_functions_stay_short():
    """No function's code is over 100 lines (docstrings aside), and the UGE class's file
    stays about the size of scvi-tools' SCVI."""
    assert [f for path in MODULES for f in _long_functions(path)] == []
    assert len((SRC / "model" / "_uge.py").read_text().splitlines()) <= 350


def test_the_length_check_can_fail(tmp_path):
    """101 statements after a docstring: 102 lines of code counted, the docstring not."""
    body = "\n".join(f"    x{i} = {i}" for i in range(101))
    path = tmp_path / "long.py"
    path.write_text(f'def f():\n    """A docstring\n    of three lines.\n    """\n{body}\n')
    assert _long_functions(path, 100) == ["long.py:1 f (102 lines)"]
    assert _long_functions(path, 102) == []
