"""docs/bad-inputs.md lists every kind of bad input with the test that proves its outcome: each named
test must exist, so the catalogue cannot drift from the suite."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tickerstream_local.template import REPO_ROOT

CATALOGUE = REPO_ROOT / "docs" / "bad-inputs.md"
TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)(?:\[[^\]]*\])?`")


def catalogue_rows() -> list[str]:
    return [line for line in CATALOGUE.read_text().splitlines()
            if line.startswith("|") and TEST_REFERENCE.search(line)]


def functions_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_the_catalogue_names_at_least_forty_kinds():
    assert len(catalogue_rows()) >= 40


def test_every_test_the_catalogue_names_exists():
    missing = []
    for row in catalogue_rows():
        for file, name in TEST_REFERENCE.findall(row):
            path = REPO_ROOT / file
            if not path.is_file() or name not in functions_in(path):
                missing.append(f"{file}::{name}")
    assert missing == []


def test_every_row_states_an_outcome():
    for row in catalogue_rows():
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert len(cells) >= 4 and all(cells[:4]), row
