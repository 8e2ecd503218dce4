"""The compatibility matrix of docs/compatibility.md: every registered strategy x evaluator x
space through ``nasforge search`` with tiny budgets (the cells of ``tests/test_matrix.py``).

    python benchmarks/matrix.py > docs/compatibility-table.md
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from matrix_harness import EVALUATORS, SPACE_SETTINGS, markdown, prepare, run_cell, strategies  # noqa: E402


def main() -> None:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = prepare(root / "files")
        cells = [run_cell(strategy, evaluator, space, files, root / f"{strategy}-{evaluator}-{space}")
                 for strategy in strategies() for evaluator in EVALUATORS for space in SPACE_SETTINGS]
    print(markdown(cells))
    done = sum(c.status == "completes" for c in cells)
    print(f"\n{len(cells)} cells: {done} complete, {len(cells) - done} refused before starting; "
          f"{time.perf_counter() - start:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
