"""The notebooks: kept in git without outputs, each ends with a chart, no server request log.

The execution tests run real kernels against the local servers (``nox -s notebooks`` runs
this module too); they are skipped where the notebook tools (the ``dev`` extra) are absent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PNG = b"\x89PNG\r\n\x1a\n"
#: a request line as werkzeug (moto), http.server (the OCI server) or Azurite log them
REQUEST_LOG = re.compile(r"\b(GET|PUT|POST|HEAD|DELETE|PATCH) /\S* HTTP/1\.[01]\b")


def _needs_kernel() -> None:
    for module in ("nbclient", "nbformat", "ipykernel", "matplotlib"):
        pytest.importorskip(module, reason="the notebook tools are in the dev extra")


def _texts(notebook: object) -> list[str]:
    """Per cell, all it printed or returned (streams, tracebacks, text/plain), joined: a
    log line can arrive in several stream outputs."""
    texts = []
    for cell in notebook.cells:  # type: ignore[attr-defined]
        parts = []
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            parts.append("".join(output.get("data", {}).get("text/plain", "")))
            parts.append("\n".join(output.get("traceback", [])))
        texts.append("".join(parts))
    return texts


def test_notebooks_in_git_hold_no_outputs() -> None:
    assert NOTEBOOKS, "no notebooks under notebooks/"
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        ran = [
            i
            for i, cell in enumerate(cells)
            if cell["cell_type"] == "code" and (cell["outputs"] or cell["execution_count"])
        ]
        assert not ran, f"{path.name}: cells {ran} hold outputs (clear them before committing)"


def test_each_notebook_ends_with_a_chart_cell() -> None:
    for path in NOTEBOOKS:
        code = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        last = "".join(code[-1]["source"])
        assert "plt.show()" in last, f"{path.name}: the last code cell draws no chart"


def test_the_docs_show_each_notebooks_chart() -> None:
    pages = "\n".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    for path in NOTEBOOKS:
        picture = ROOT / "docs" / "img" / f"{path.stem}.png"
        assert picture.read_bytes().startswith(PNG), f"{picture} is not a PNG"
        assert f"img/{path.stem}.png" in pages, f"no docs page shows {picture.name}"


def test_output_dir_holds_the_executed_notebook_with_its_chart(tmp_path: Path) -> None:
    """The runner on the quickstart: executed copy written, last cell an image, no request log."""
    _needs_kernel()
    import nbformat

    from unifs.testing import notebooks

    out, charts = tmp_path / "executed", tmp_path / "img"
    source = ROOT / "notebooks" / "quickstart.ipynb"
    status = notebooks.main([str(source), "--output-dir", str(out), "--export-charts", str(charts)])

    assert status == 0
    executed = nbformat.read(out / "quickstart.ipynb", as_version=4)
    last = [c for c in executed.cells if c.cell_type == "code"][-1]
    assert any("image/png" in o.get("data", {}) for o in last.outputs)
    assert (charts / "quickstart.png").read_bytes() == notebooks.chart(executed)
    assert notebooks.chart(executed).startswith(PNG)  # type: ignore[union-attr]
    texts = _texts(executed)
    assert any("checksum-verified" in t for t in texts), "no transfer printed its summary line"
    bars = [
        "".join(o.data["text/plain"])
        for cell in executed.cells
        for o in cell.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert bars and all("100%|██████████|" in bar for bar in bars), bars
    leaked = [t for t in texts if REQUEST_LOG.search(t)]
    assert not leaked, f"a server's request log is in the outputs: {leaked[0][:300]}"
    # the notebook in git is untouched: still without outputs
    assert not any(c.get("outputs") for c in nbformat.read(source, as_version=4).cells)


def _notebook(path: Path, *cells: str) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    notebook = new_notebook(cells=[new_code_cell(source) for source in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, path)
    return path


GUARD = "from unifs.testing.network import guard\n\nguard()"


def test_a_notebook_without_a_final_chart_fails_the_run(tmp_path: Path) -> None:
    _needs_kernel()
    import nbformat

    from unifs.testing import notebooks

    source = _notebook(tmp_path / "plain.ipynb", GUARD, "print('no picture')")
    out = tmp_path / "out"

    assert notebooks.main([str(source), "--output-dir", str(out)]) == 1
    # written all the same, for whoever reads the CI's artifact
    assert "no picture" in "".join(_texts(nbformat.read(out / "plain.ipynb", as_version=4)))


def test_the_kernel_draws_inline_whatever_mplbackend_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _needs_kernel()
    from unifs.testing import notebooks

    monkeypatch.setenv("MPLBACKEND", "agg")  # would leave plt.show() without an output
    source = _notebook(
        tmp_path / "chart.ipynb",
        GUARD,
        "import matplotlib.pyplot as plt\n\nplt.bar(['a', 'b'], [1, 2])\nplt.show()",
    )

    run = notebooks.execute(source)

    assert run.chart is not None and run.chart.startswith(PNG)


def test_a_progress_widget_reads_as_its_last_state_in_a_static_render(tmp_path: Path) -> None:
    """GitHub shows a widget's text/plain: the executed copy holds the bar's end, not 0%."""
    _needs_kernel()
    from unifs.testing import notebooks

    source = _notebook(
        tmp_path / "bar.ipynb",
        GUARD,
        "from unifs.transfer import progress_bar\n\n"
        "bar = progress_bar('get', refresh_every=None)\n"
        "bar.set_size(3 * 2**20)\n"
        "for _ in range(3):\n"
        "    bar.relative_update(2**20)\n"
        "bar.close()",
        "import matplotlib.pyplot as plt\n\nplt.plot([0, 1])\nplt.show()",
    )

    run = notebooks.execute(source)

    [shown] = [
        "".join(o["data"]["text/plain"])
        for o in run.notebook.cells[1].outputs
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert shown.startswith("get: 100%|██████████| 3.0 MiB/3.0 MiB, "), shown
