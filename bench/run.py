"""Run every bench/bench_*.py side by side in one process and write results.json + the README table.

Each module exposes ``run() -> dict[str, float]`` (flat name -> number, merged into results.json) and
``table(results) -> list[tuple[str, str, str]]`` (rows of: measure, value, target) for bench/README.md.
Usage: make bench   (or: .venv/bin/python bench/run.py [name-filter])
"""

from __future__ import annotations

import importlib.util
import json
import platform
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
COMMAND = "make bench"


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    sys.path.insert(0, str(BENCH_DIR))
    results: dict[str, float] = {}
    rows: list[tuple[str, str, str]] = []
    for path in sorted(BENCH_DIR.glob("bench_*.py")):
        if only and only not in path.stem:
            continue
        module = load(path)
        started = time.perf_counter()
        print(f"== {path.stem}", flush=True)
        figures = module.run()
        results.update(figures)
        rows.extend(module.table(figures))
        print(f"   done in {time.perf_counter() - started:.1f}s", flush=True)

    results_path = BENCH_DIR / "results.json"
    previous = json.loads(results_path.read_text()) if only and results_path.exists() else {}
    merged = {**previous, **{k: round(v, 3) for k, v in results.items()}}
    results_path.write_text(json.dumps(dict(sorted(merged.items())), indent=2) + "\n")

    lines = [
        "# Benchmarks",
        "",
        f"Command: `{COMMAND}` (figures below from one run on {platform.machine()}, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}). Raw numbers: `results.json`.",
        "Machines here are noisy: compare the side-by-side ratios, not absolute times.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        *[f"| {measure} | {value} | {target} |" for measure, value, target in rows],
        "",
    ]
    notes = BENCH_DIR / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text()]
    (BENCH_DIR / "README.md").write_text("\n".join(lines))
    for measure, value, target in rows:
        print(f"  {measure:<60} {value:>14}  {target}")


if __name__ == "__main__":
    main()
