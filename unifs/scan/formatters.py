"""Write findings as text, JSON or SARIF 2.1.0; detection never depends on the format."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from unifs.scan.rules import SDKS
from unifs.scan.visitor import Finding

__all__ = ["FORMATTERS", "SkippedFile", "format_json", "format_sarif", "format_text"]

_SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


class SkippedFile(tuple[str, str]):
    """A file the scanner could not read or parse: ``(path, reason)``."""

    __slots__ = ()

    @property
    def path(self) -> str:
        """The file's path, as given."""
        return self[0]

    @property
    def reason(self) -> str:
        """Why it was skipped, e.g. ``SyntaxError: invalid syntax (line 3)``."""
        return self[1]


def format_text(findings: Sequence[Finding], skipped: Sequence[SkippedFile] = ()) -> str:
    """One line per finding, ``path:line:col: sdk symbol -> hint``, then a count."""
    lines = [f"{f.path}:{f.line}:{f.col}: [{f.sdk}] {f.symbol} -> {f.hint}" for f in findings]
    lines += [f"{s.path}: skipped: {s.reason}" for s in skipped]
    files = len({f.path for f in findings})
    lines.append(f"{len(findings)} direct cloud-SDK uses in {files} files" if findings else "")
    if not findings:
        lines[-1] = "no direct cloud-SDK use found"
    return "\n".join(lines) + "\n"


def format_json(findings: Sequence[Finding], skipped: Sequence[SkippedFile] = ()) -> str:
    """A JSON list of findings (``path``, ``line``, ``col``, ``sdk``, ``symbol``, ``hint``)."""
    del skipped  # reported on stderr by the command; the list stays a list of findings
    return json.dumps([f.as_dict() for f in findings], indent=2) + "\n"


def format_sarif(findings: Sequence[Finding], skipped: Sequence[SkippedFile] = ()) -> str:
    """A SARIF 2.1.0 log: one rule per SDK, one result per finding, skipped files as notices."""
    from unifs import __version__

    rule_index = {sdk.name: i for i, sdk in enumerate(SDKS)}
    rules = [
        {
            "id": f"unifs-scan/{sdk.name}",
            "name": "DirectCloudSDKUse",
            "shortDescription": {"text": sdk.description},
            "fullDescription": {"text": f"{sdk.description}; replace it with unifs."},
            "help": {"text": f"Replacement: {sdk.hint}"},
            "defaultConfiguration": {"level": "warning"},
        }
        for sdk in SDKS
    ]
    results = [
        {
            "ruleId": f"unifs-scan/{f.sdk}",
            "ruleIndex": rule_index[f.sdk],
            "level": "warning",
            "message": {"text": f"{f.symbol}: use {f.hint}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(f.path)},
                        "region": {"startLine": f.line, "startColumn": f.col},
                    }
                }
            ],
            "properties": {"sdk": f.sdk, "symbol": f.symbol, "hint": f.hint},
        }
        for f in findings
    ]
    notifications = [
        {
            "level": "warning",
            "message": {"text": f"skipped: {s.reason}"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(s.path)}}}],
        }
        for s in skipped
    ]
    log = {
        "$schema": _SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "unifs-scan",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


def _uri(path: str) -> str:
    """A relative path as a SARIF URI reference (forward slashes, percent-encoded)."""
    from urllib.parse import quote

    return quote(path.replace("\\", "/"))


FORMATTERS: dict[str, Callable[[Sequence[Finding], Sequence[SkippedFile]], str]] = {
    "text": format_text,
    "json": format_json,
    "sarif": format_sarif,
}
