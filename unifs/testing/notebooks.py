"""Run notebooks top to bottom, failing on the first error.

Usage: ``python -m unifs.testing.notebooks DIR``.

Each notebook guards its own kernel (``unifs.testing.network.guard()`` in its first code
cell): the kernel is a separate process, so the runner's guard would not reach it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

__all__ = ["execute", "main"]


def execute(path: Path, *, timeout: int = 600) -> float:
    """Run every cell of the notebook at ``path`` in a fresh kernel; return the seconds taken."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    first_code = next((c for c in notebook.cells if c.cell_type == "code"), None)
    if first_code is None or "guard()" not in first_code.source:
        raise RuntimeError(f"{path}: the first code cell must call unifs.testing.network.guard()")
    started = time.perf_counter()
    NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Execute each notebook under the given directories (default: notebooks/)."""
    roots = [Path(a) for a in (argv if argv is not None else sys.argv[1:])] or [Path("notebooks")]
    paths = sorted(
        p for root in roots for p in root.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
    )
    if not paths:
        print("no notebooks found", file=sys.stderr)
        return 1
    for path in paths:
        seconds = execute(path)
        print(f"executed {path} in {seconds:.1f}s")
    print(f"{len(paths)} notebooks executed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
