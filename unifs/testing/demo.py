"""``unifs demo``: the main job, end to end, on this machine alone.

Starts the local OCI Object Storage server (signatures checked), uploads a small model
directory (configs, tokenizer, weight shards, and TensorRT-LLM-style engines for two GPU
shapes) with ``unifs.put``, then downloads it with ``unifs.get`` -- parallel, atomic and
verified -- through the OME-style URI a model spec would carry, and compares every byte.
Without a destination the model lands in a new temporary directory, whose path and removal
command are printed, so a first run leaves nothing in the working directory.

The ``demo`` verb of the ``unifs`` command is this module's :func:`register` (listed in
:data:`unifs.commands.ELSEWHERE`): it needs the test servers, which shipped code never
imports.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import tempfile
from typing import Any

__all__ = ["make_demo_model", "register", "run_demo"]

SHARD_BYTES = 4 * 2**20


def make_demo_model(root: str) -> str:
    """Write a small, model-shaped directory under ``root`` and return its path."""
    model = os.path.join(root, "demo-llm")
    files = {
        "config.json": json.dumps({"architectures": ["LlamaForCausalLM"], "hidden_size": 64}),
        "generation_config.json": json.dumps({"temperature": 0.7}),
        "tokenizer.json": json.dumps({"version": "1.0", "model": {"type": "BPE"}}),
        "tokenizer_config.json": json.dumps({"model_max_length": 4096}),
        "model.safetensors.index.json": json.dumps({"weight_map": {}}),
    }
    for name, text in files.items():
        _write(os.path.join(model, name), text.encode())
    for index in (1, 2):
        _write(
            os.path.join(model, f"model-0000{index}-of-00002.safetensors"),
            os.urandom(SHARD_BYTES),
        )
    for shape in ("A100", "H100"):
        _write(os.path.join(model, "engines", shape, "rank0.engine"), os.urandom(2**20))
        _write(os.path.join(model, "engines", shape, "config.json"), b'{"tp_size": 1}')
    return model


def _write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def run_demo(dest: str, *, keep_server: bool = False) -> int:
    """Run the demo, downloading into ``dest``; return a process exit status."""
    from unifs.testing.network import guard

    guard()  # the demo, like the tests, never leaves 127.0.0.1
    from unifs.testing.oci_server import OCIServer, OCITestIdentity
    from unifs.transfer import get, put

    identity = OCITestIdentity.generate()
    with (
        OCIServer(namespace="demo", identities=[identity]) as server,
        tempfile.TemporaryDirectory(prefix="unifs-demo-") as scratch,
    ):
        server.create_bucket("models")
        options: dict[str, Any] = {
            "config": identity.config(),
            "config_kwargs": {"service_endpoint": server.endpoint},
            "max_attempts": 1,
        }
        source = make_demo_model(scratch)
        uri = "oci://n/demo/b/models/o/demo-llm/"
        print(f"local OCI Object Storage server at {server.endpoint} (namespace 'demo')")
        uploaded = put(source, uri, **options)
        print(f"uploaded:   {uploaded.summary()}")
        print(f"$ unifs get {uri} {dest}")
        report = get(uri, dest, **options)
        print(f"downloaded: {report.summary()}")
        mismatched = _compare_trees(source, dest)
        if mismatched:
            print(f"MISMATCH in {len(mismatched)} files: {mismatched}")
            return 1
        again = get(uri, dest, **options)
        print(f"again:      {again.summary()}")
        print(f"every byte of {len(report.transferred)} files matches the source; see {dest}/")
    return 0


def _compare_trees(left: str, right: str) -> list[str]:
    """Relative paths that differ (or are missing) between two directory trees."""
    bad = []
    for directory, _, files in os.walk(left):
        for name in files:
            relative = os.path.relpath(os.path.join(directory, name), left)
            other = os.path.join(right, relative)
            if not os.path.isfile(other) or not filecmp.cmp(
                os.path.join(directory, name), other, shallow=False
            ):
                bad.append(relative)
    return bad


DEMO_EXAMPLES = """\
examples:
  unifs demo                  into a new temporary directory (printed at the end)
  unifs demo ./llama-demo     into this directory
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``demo`` to the ``unifs`` command."""
    del with_options
    p = subparsers.add_parser(
        "demo",
        help="download a small model from a local OCI server (no cloud account)",
        epilog=DEMO_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "dest",
        nargs="?",
        default=None,
        help="directory to download into (default: a new temporary directory, printed at the end)",
    )
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    if args.dest is not None:
        return run_demo(args.dest, keep_server=False)
    # nothing lands in the working directory unasked: a fresh temporary directory, named
    # at the end with the command that removes it
    dest = tempfile.mkdtemp(prefix="unifs-demo-")
    status = run_demo(dest, keep_server=False)
    print(f"the model is in {dest}/ (a temporary directory); remove it with: rm -r {dest}")
    return status
