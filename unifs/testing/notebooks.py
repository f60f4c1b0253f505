"""Run notebooks top to bottom, failing on the first error or on a notebook without a chart.

Usage: ``python -m unifs.testing.notebooks [DIR_OR_NOTEBOOK ...] [--output-dir DIR]
[--export-charts DIR]``.

Each notebook guards its own kernel (``unifs.testing.network.guard()`` in its first code
cell): the kernel is a separate process, so the runner's guard would not reach it. Each
notebook ends with a picture of what it just ran: its last code cell must leave an
``image/png`` among its outputs, or the run fails. ``--output-dir`` writes each executed
notebook, outputs and pictures included, under its own name (the notebooks in git are kept
without outputs); ``--export-charts`` writes each last cell's picture as ``NAME.png``, which
is how the charts in the docs are made.

A progress-bar widget's ``text/plain`` (what GitHub and other static renders show) is its
text when it was first displayed, ``get: 0%|``; in the executed notebooks it is set to the
bar's last state, read off the widget state the run saved: ``get: 100%|██████████| ...``.
"""

from __future__ import annotations

import argparse
import base64
import html
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["NotebookRun", "chart", "execute", "main"]

#: the kernel draws figures inline whatever ``MPLBACKEND`` the caller's shell has
_INLINE = "module://matplotlib_inline.backend_inline"


@dataclass
class NotebookRun:
    """One executed notebook: where it came from, how long it took, and its cells."""

    path: Path
    seconds: float
    notebook: Any  # an nbformat NotebookNode, outputs included

    @property
    def chart(self) -> bytes | None:
        """The PNG the last code cell displayed (None if it displayed none)."""
        return chart(self.notebook)


def chart(notebook: Any) -> bytes | None:
    """The last ``image/png`` output of ``notebook``'s last code cell, as PNG bytes."""
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if not code:
        return None
    for output in reversed(code[-1].get("outputs", [])):
        png = output.get("data", {}).get("image/png")
        if png:
            return base64.b64decode(png if isinstance(png, str) else "".join(png))
    return None


def _bar_text(widgets: dict[str, Any], model_id: str, width: int = 10) -> str | None:
    """The text of the tqdm bar whose box is ``model_id``, as its widgets last showed it."""
    box = widgets.get(model_id, {}).get("state", {})
    children = [widgets.get(str(c).removeprefix("IPY_MODEL_"), {}) for c in box.get("children", [])]
    kinds = [child.get("model_name") for child in children]
    if kinds != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None  # not tqdm's [text, bar, text] box
    left, bar, right = (child.get("state", {}) for child in children)
    # tqdm writes spaces as U+2007 and escapes the text for HTML
    left_text, right_text = (
        html.unescape(str(part.get("value", ""))).replace("\u2007", " ") for part in (left, right)
    )
    most = float(bar.get("max") or 0)
    done = min(max(float(bar.get("value") or 0) / most, 0.0), 1.0) if most else 0.0
    filled = round(done * width)
    return f"{left_text}|{'█' * filled}{' ' * (width - filled)}|{right_text}"


def _settle_widget_text(notebook: Any) -> None:
    """Give each progress-bar widget output the ``text/plain`` of its last state."""
    saved = notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json")
    widgets = (saved or {}).get("state", {})
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            text = _bar_text(widgets, view.get("model_id", "")) if view else None
            if text is not None:
                output["data"]["text/plain"] = text


def execute(
    path: Path,
    *,
    timeout: int = 600,
    require_chart: bool = True,
    output_dir: Path | None = None,
) -> NotebookRun:
    """Run every cell of the notebook at ``path`` in a fresh kernel.

    Raises ``RuntimeError`` when the first code cell does not guard the kernel's network, and
    (with ``require_chart``) when the last code cell shows no picture; a failing cell raises
    nbclient's ``CellExecutionError``. With ``output_dir`` the executed notebook is written
    there under its own name, a failed one too (its outputs up to the failing cell).
    """
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    first_code = next((c for c in notebook.cells if c.cell_type == "code"), None)
    if first_code is None or "guard()" not in first_code.source:
        raise RuntimeError(f"{path}: the first code cell must call unifs.testing.network.guard()")
    started = time.perf_counter()
    try:
        NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        ).execute(env={**os.environ, "MPLBACKEND": _INLINE})
    finally:
        _settle_widget_text(notebook)
        if output_dir is not None:
            output_dir.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, output_dir / path.name)
    run = NotebookRun(path, time.perf_counter() - started, notebook)
    if require_chart and run.chart is None:
        raise RuntimeError(
            f"{path}: the last code cell displayed no image/png: end the notebook with a chart "
            "of what it ran"
        )
    return run


def _notebooks(roots: list[Path]) -> list[Path]:
    found = set()
    for root in roots:
        if root.suffix == ".ipynb":
            found.add(root)
        else:
            found.update(p for p in root.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    """Execute each notebook under the given paths (default: notebooks/); 0 when all passed."""
    parser = argparse.ArgumentParser(
        prog="python -m unifs.testing.notebooks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks or directories of them")
    parser.add_argument(
        "--output-dir", type=Path, help="write each executed notebook (with outputs) here"
    )
    parser.add_argument(
        "--export-charts", type=Path, metavar="DIR", help="write each final chart as DIR/NAME.png"
    )
    args = parser.parse_args(argv)
    paths = _notebooks(args.paths or [Path("notebooks")])
    if not paths:
        print("no notebooks found", file=sys.stderr)
        return 1
    failed = 0
    for path in paths:
        try:
            run = execute(path, output_dir=args.output_dir)
        except Exception as exc:  # report every notebook, then fail
            failed += 1
            print(f"FAILED {path}: {exc}", file=sys.stderr)
            continue
        print(f"executed {path} in {run.seconds:.1f}s")
        if args.export_charts is not None and run.chart is not None:
            args.export_charts.mkdir(parents=True, exist_ok=True)
            (args.export_charts / f"{path.stem}.png").write_bytes(run.chart)
    print(f"{len(paths)} notebooks executed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
