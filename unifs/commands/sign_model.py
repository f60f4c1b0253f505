"""``unifs sign-model MODEL --private-key KEY``: an OpenSSF model signature, made in place."""

from __future__ import annotations

import argparse
from typing import Any

from unifs.commands import ExamplesFormatter

EXAMPLES = """\
examples:
  unifs sign-model ./llama --private-key signer.pem              writes ./llama/model.sig
  unifs sign-model s3://models/llama/ --private-key signer.pem   hashes in the bucket, no copy
  unifs sign-model oci://n/acme/b/models/o/llama/ --private-key signer.pem \\
      --output llama.sig

Keys are PEM elliptic-curve keys (P-256/384/521), e.g.
  openssl ecparam -name prime256v1 -genkey -noout -out signer.pem
  openssl ec -in signer.pem -pubout -out signer.pub
The signature verifies with `model_signing verify key` as well as `unifs verify-model`.
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``sign-model`` to the ``unifs`` command."""
    p = with_options(
        subparsers.add_parser(
            "sign-model",
            help="sign a model directory or prefix (OpenSSF model-signing format)",
            description="Hash every file of a model where it lives and sign the manifest.",
            epilog=EXAMPLES,
            formatter_class=ExamplesFormatter,
        )
    )
    p.add_argument("model", metavar="URI_OR_DIR")
    p.add_argument("--private-key", required=True, metavar="KEY", help="PEM EC private key")
    p.add_argument("--password", help="the private key's password, if it is encrypted")
    p.add_argument(
        "--output",
        metavar="SIGNATURE",
        help="where to write the signature, a path or URI (default: MODEL/model.sig)",
    )
    p.add_argument("--ignore", action="append", default=[], metavar="PATH", help="leave out")
    p.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="hash what a local model's symlinks point to (default: refuse symlinks)",
    )
    p.set_defaults(run=run)


def store_options(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The auth block and storage options given on the command line."""
    from unifs.commands.shared import options

    auth = options(args.auth) if args.auth else None
    return auth, options(args.option)


def run(args: argparse.Namespace) -> int:
    """Sign; print where the signature went."""
    from unifs.signing import sign_model

    auth, options = store_options(args)
    where = sign_model(
        args.model,
        private_key=args.private_key,
        signature=args.output,
        password=args.password,
        ignore=args.ignore,
        auth=auth,
        follow_symlinks=args.follow_symlinks,
        **options,
    )
    print(f"signed {args.model} -> {where}")
    return 0
