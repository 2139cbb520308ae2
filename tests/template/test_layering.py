"""Layers point one way: functions and the shared layer, then the local stack, then the CLI on top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tickerstream_local.template import REPO_ROOT

# Each layer and the packages it must never import (anything above it).
LAYERS = {
    "layers/shared": ("tickerstream_local", "tickerstream_cli"),
    "functions": ("tickerstream_local", "tickerstream_cli"),
    "src/tickerstream_local": ("tickerstream_cli",),
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_a_layer_imports_nothing_above_it(layer):
    forbidden = LAYERS[layer]
    offenders = sorted(
        f"{path.relative_to(REPO_ROOT)} imports {name}"
        for path in (REPO_ROOT / layer).rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] in forbidden
    )
    assert offenders == []


def test_cli_modules_import_no_circle():
    package = REPO_ROOT / "src" / "tickerstream_cli"
    graph = {
        path.stem: {name.split(".")[1] for name in imported_modules(path) if name.startswith("tickerstream_cli.")}
        for path in package.glob("*.py")
    }

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt})):
                return True
        return False

    circles = sorted(module for module in graph if reaches(module, module, {module}))
    assert circles == []
