"""``unifs get SRC DEST``: download an object or prefix, verified."""

from __future__ import annotations

import argparse
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.commands.shared import add_transfer_flags, auth, options, run_transfer, transfer_kwargs

EXAMPLES = """\
examples:
  unifs get s3://models/llama/ ./llama/                  a prefix, every file verified
  unifs get gs://b/model.bin ./model.bin                 one object
  unifs get oci://n/acme/b/m/o/llama/ ./llama/ -a auth=instance_principal \\
      --verify-signature --public-key signer.pub          nothing published unless it matches
exit status: 0 downloaded, 1 some files failed, 2 bad usage, auth or not found,
             3 an --include matched no file (0 with --allow-empty)
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``get`` to the ``unifs`` command."""
    p = with_options(
        subparsers.add_parser(
            "get",
            help="download an object or prefix, verified",
            epilog=EXAMPLES,
            formatter_class=ExamplesFormatter,
        )
    )
    p.add_argument("src")
    p.add_argument("dest")
    add_transfer_flags(p, verify=True)
    p.add_argument(
        "--verify-signature",
        nargs="?",
        const=True,
        metavar="SIGNATURE",
        help="publish nothing unless the model matches this signature (path or URI; "
        "without a value: the model.sig inside the model)",
    )
    p.add_argument("--public-key", metavar="PEM", help="the signer's public key")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from unifs.transfer import get

    if args.verify_signature:
        import unifs.signing  # noqa: F401  (registers the check a get with a signature makes)

    return run_transfer(
        args,
        "get",
        lambda bar: get(
            args.src,
            args.dest,
            auth=auth(args),
            callback=bar,
            verify_signature=args.verify_signature,
            public_key=args.public_key,
            **transfer_kwargs(args),
            **options(args.option),
        ),
    )
