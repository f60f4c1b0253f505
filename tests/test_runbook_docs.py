"""The migration guide's worked example and the CI workflow in the docs stay true to the code."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from unifs.cli import _parser, main

DOCS = Path(__file__).parent.parent / "docs"
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def blocks(page: str, language: str) -> list[str]:
    text = (DOCS / page).read_text()
    return [body for lang, body in FENCE.findall(text) if lang == language]


def test_worked_example_output_is_what_the_scanner_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before, after = [b for b in blocks("migrating.md", "python") if "loader.py" in b][:2]
    (tmp_path / "model_registry").mkdir()
    monkeypatch.chdir(tmp_path)
    loader = tmp_path / "model_registry" / "loader.py"
    # the block's first line is a caption naming the file; the file starts after it
    loader.write_text(before.split("\n", 1)[1])
    console = blocks("migrating.md", "console")
    shown = console[0].split("$ unifs scan model_registry\n", 1)[1].split("$ echo", 1)[0]
    assert main(["scan", "model_registry"]) == 1
    assert capsys.readouterr().out == shown
    loader.write_text(after)
    assert main(["scan", "model_registry"]) == 0
    assert capsys.readouterr().out.strip() in console[1]


def test_ci_workflow_is_valid_yaml_and_its_command_parses() -> None:
    (workflow,) = [b for b in blocks("signing.md", "yaml") if "jobs:" in b]
    data = yaml.safe_load(workflow)
    steps = data["jobs"]["verify"]["steps"]
    (command,) = [s["run"] for s in steps if "unifs verify-model" in s.get("run", "")]
    model = data["jobs"]["verify"]["strategy"]["matrix"]["model"][0]
    argv = shlex.split(command.replace("${{ matrix.model }}", model))
    args = _parser().parse_args(argv[1:])
    assert args.model == model and args.public_key.endswith("signer.pub")
    assert data["permissions"]["contents"] == "read"
