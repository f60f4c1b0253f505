"""The SDK scanner on a corpus of realistic code: what it must find, and what it must not.

Each corpus file marks the findings it expects on a line with ``# expect: SYMBOL[, ...]``;
``clean_*.py`` files and lines without a marker must yield nothing.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest

from unifs.cli import main
from unifs.scan import SkippedFile, scan_paths, scan_source

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "scan_corpus"
EXPECT = re.compile(r"#\s*expect:\s*(.+)$")


def expected(path: Path) -> set[tuple[int, str]]:
    found = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = EXPECT.search(line)
        if match:
            for symbol in match.group(1).split(","):
                found.add((number, symbol.strip()))
    return found


@pytest.mark.parametrize(
    "name", sorted(p.name for p in CORPUS.glob("*.py")), ids=lambda n: n.removesuffix(".py")
)
def test_corpus_file_yields_exactly_its_marked_findings(name: str) -> None:
    path = CORPUS / name
    findings = scan_paths([path])
    assert {(f.line, f.symbol) for f in findings} == expected(path)
    for f in findings:
        assert f.path == str(path) and f.col >= 1 and f.sdk and f.hint


def test_hints_name_the_unifs_replacement() -> None:
    hints = {f.symbol.rsplit(".", 1)[-1]: f.hint for f in scan_paths([CORPUS / "s3_loader.py"])}
    assert hints["download_file"] == "unifs.get(uri, local_path)"
    assert hints["generate_presigned_url"].startswith("unifs.presign(")
    assert hints["upload_fileobj"].startswith("unifs.open(uri, 'wb')")
    assert hints["upload_file"] == "unifs.put(local_path, uri)"


def test_aliases_attribute_chains_and_rebinding() -> None:
    source = (
        "import boto3 as b\n"
        "c = b.client('s3')\n"
        "d = c\n"  # passed around in one scope
        "d.download_file('b', 'k', 'f')\n"
        "c = object()\n"  # rebound to something else: no longer a client
        "c.download_file('b', 'k', 'f')\n"
        "b.client('s3').generate_presigned_url('get_object')\n"
    )
    got = [(f.line, f.symbol) for f in scan_source(source)]
    assert got == [
        (1, "import boto3"),
        (2, "boto3.client"),
        (4, "boto3.client().download_file"),
        (7, "boto3.client().generate_presigned_url"),
    ]


def test_client_assigned_after_def_is_seen_in_the_function() -> None:
    source = (
        "from google.cloud import storage\n"
        "def fetch():\n"
        "    CLIENT.bucket('m').blob('k').download_to_filename('x')\n"
        "CLIENT = storage.Client()\n"
    )
    symbols = [f.symbol for f in scan_source(source)]
    assert "google.cloud.storage.Client().bucket().blob().download_to_filename" in symbols


def test_ignore_comment_only_silences_its_own_line() -> None:
    source = (
        "import boto3  # unifs: ignore\n"
        "boto3.client('s3')\n"
        "x = '# unifs: ignore'; boto3.resource('s3')\n"  # in a string: not a comment
    )
    assert [(f.line, f.symbol) for f in scan_source(source)] == [
        (2, "boto3.client"),
        (3, "boto3.resource"),
    ]


def test_unparsable_file_is_reported_and_skipped() -> None:
    skipped: list[SkippedFile] = []
    findings = scan_paths([CORPUS], skipped=skipped)
    assert [s.path for s in skipped] == [str(CORPUS / "pkg" / "broken.py")]
    assert "SyntaxError" in skipped[0].reason and "line 3" in skipped[0].reason
    assert findings and all(not f.path.endswith("broken.py") for f in findings)
    # azure.identity alone (no Blob Storage in the file) is not storage code
    assert not [f for f in findings if f.path.endswith("identity_only.py")]


def test_exclude_globs(tmp_path: Path) -> None:
    shutil.copytree(CORPUS, tmp_path / "src")
    all_paths = {Path(f.path).name for f in scan_paths([tmp_path / "src"])}
    assert {"s3_loader.py", "filesystems.py"} <= all_paths
    kept = scan_paths([tmp_path / "src"], exclude=["s3_*.py", "pkg/*"])
    assert "s3_loader.py" not in {Path(f.path).name for f in kept}
    assert "filesystems.py" in {Path(f.path).name for f in kept}


def test_missing_path_is_an_error() -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        scan_paths(["nope"])


# -- the command --------------------------------------------------------------------------


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = tmp_path / "clean.py"
    clean.write_text("import unifs\nunifs.get('s3://b/k', 'x')\n")
    assert main(["scan", str(clean)]) == 0
    assert "no direct cloud-SDK use found" in capsys.readouterr().out
    assert main(["scan", str(CORPUS / "s3_loader.py")]) == 1
    out = capsys.readouterr().out
    assert (
        f"{CORPUS / 's3_loader.py'}:13:9: [boto3] boto3.client().download_file -> unifs.get(" in out
    )
    assert main(["scan", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["scan", str(clean), "--format", "xml"])
    assert exited.value.code == 2


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(CORPUS), "--format", "json"]) == 1
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert isinstance(data, list) and data
    for item in data:
        assert {"path", "line", "col", "sdk", "symbol", "hint"} <= set(item)
    assert "broken.py" in captured.err and "SyntaxError" in captured.err


def test_sarif_validates_against_the_sarif_2_1_0_schema(capsys: pytest.CaptureFixture[str]) -> None:
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
    assert main(["scan", str(CORPUS), "--format", "sarif"]) == 1
    log = json.loads(capsys.readouterr().out)
    jsonschema.Draft4Validator(schema).validate(log)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert len(run["results"]) == len(scan_paths([CORPUS]))
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert any("SyntaxError" in n["message"]["text"] for n in notes)
    # the schema really checks: a result without a message is refused
    del run["results"][0]["message"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(log)
