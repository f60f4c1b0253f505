"""``unifs verify-model MODEL --public-key PUB``: check a model against its signature."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.commands.sign_model import store_options

EXAMPLES = """\
examples:
  unifs verify-model ./llama --public-key signer.pub                 reads ./llama/model.sig
  unifs verify-model s3://models/llama/ --public-key signer.pub      streams, no local copy
  unifs verify-model gs://models/llama/ --public-key signer.pub --signature llama.sig
  unifs verify-model --signature model_signature.json               the runbook's checksum file

exit status: 0 the model matches, 1 it does not (each file named), 2 bad input
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``verify-model`` to the ``unifs`` command."""
    p = with_options(
        subparsers.add_parser(
            "verify-model",
            help="verify a model directory or prefix against its signature",
            description="Hash every file of a model as it streams and compare with its signature.",
            epilog=EXAMPLES,
            formatter_class=ExamplesFormatter,
        )
    )
    p.add_argument("model", nargs="?", metavar="URI_OR_DIR")
    p.add_argument("--public-key", metavar="PUB", help="PEM public key of the signer")
    p.add_argument("--signature", metavar="SIG", help="path or URI (default: MODEL/model.sig)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="hash what a local model's symlinks point to (default: refuse symlinks)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Verify; 0 when the model matches, 1 when it does not."""
    from dataclasses import asdict

    from unifs.errors import ModelVerificationError
    from unifs.signing import verify_model

    if args.model is None and args.signature is None:
        print("unifs verify-model: give the model, --signature, or both", file=sys.stderr)
        return 2
    auth, options = store_options(args)
    try:
        report = verify_model(
            args.model,
            public_key=args.public_key,
            signature=args.signature,
            auth=auth,
            follow_symlinks=args.follow_symlinks,
            **options,
        )
    except ModelVerificationError as exc:
        print(f"unifs verify-model: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({**asdict(report), "ok": report.ok}))
    else:
        print(f"{report.model}: {report.summary()}")
    return 0 if report.ok else 1
