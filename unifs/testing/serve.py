"""``unifs serve s3 gcs azure oci``: local storage servers for the shell, until Ctrl-C.

Starts the chosen local servers (:mod:`unifs.testing.servers`) in the foreground, makes a
bucket in each, and prints for each the exact ``unifs`` flags, the environment variables and
the ``storage_options`` dict for fsspec/pandas that reach it; then waits. Ctrl-C (exit 130)
or SIGTERM/SIGHUP (exit 0) stops them all: moto and the OCI server are threads of this
process, fake-gcs-server and Azurite run under a keeper that ends them with it.

The ``serve`` verb of the ``unifs`` command is this module's :func:`register` (listed in
:data:`unifs.commands.ELSEWHERE`); ``python -m unifs.testing`` runs it too.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from unifs.testing.servers import PROVIDERS, LocalServer, OCILocalServer, start

__all__ = ["Served", "register", "serve", "served"]

#: the bucket (container) ``serve`` makes in each server unless told another name
DEFAULT_BUCKET = "unifs"


@dataclass
class Served:
    """How to reach one started server from the shell and from Python."""

    provider: str
    uri: str  # a URI in the bucket made for you
    flags: list[str]  # the -o/-a arguments for `unifs VERB URI ...`
    env: dict[str, str] = field(default_factory=dict)  # variables the SDKs read instead
    storage_options: dict[str, Any] = field(default_factory=dict)  # fsspec / pandas

    def text(self) -> str:
        """The lines ``serve`` prints for this server."""
        flags = " ".join(shlex.quote(f) for f in self.flags)
        lines = [
            f"{self.provider}: {self.uri}",
            f"  unifs ls {self.uri} {flags}",
        ]
        if self.env:
            exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
            lines.append(f"  environment: export {exports}")
        lines.append(f"  storage_options = {json.dumps(self.storage_options)}")
        return "\n".join(lines)


def served(server: LocalServer, bucket: str, scratch: str) -> Served:
    """What to pass to reach ``server`` (its bucket ``bucket``); OCI's key goes in ``scratch``."""
    options = server.storage_options
    if server.provider == "s3":
        return Served(
            "s3",
            f"s3://{bucket}/",
            [
                "-o",
                f"endpoint_url={server.endpoint}",
                "-o",
                f"key={options['key']}",
                "-o",
                f"secret={options['secret']}",
            ],
            {
                "AWS_ENDPOINT_URL": server.endpoint,
                "AWS_ACCESS_KEY_ID": options["key"],
                "AWS_SECRET_ACCESS_KEY": options["secret"],
            },
            dict(options),
        )
    if server.provider == "gcs":
        return Served(
            "gcs",
            f"gs://{bucket}/",
            ["-o", f"endpoint_url={server.endpoint}", "-o", "token=anon"],
            {"STORAGE_EMULATOR_HOST": server.endpoint},
            {"endpoint_url": server.endpoint, "token": "anon"},
        )
    if server.provider == "azure":
        connection = options["connection_string"]
        return Served(
            "azure",
            f"az://{bucket}/",
            ["-o", f"connection_string={connection}"],
            {"AZURE_STORAGE_CONNECTION_STRING": connection},
            {"connection_string": connection},
        )
    assert isinstance(server, OCILocalServer) and server.identity is not None
    # an ~/.oci/config-style file with the server's throwaway key, as `oci setup config` makes
    config = str(server.identity.write_config_file(os.path.join(scratch, "oci")))
    return Served(
        "oci",
        f"oci://n/{server.namespace}/b/{bucket}/o/",
        [
            "-a",
            "auth=user_principal",
            "-a",
            f"config_path={config}",
            "-a",
            f"endpoint={server.endpoint}",
        ],
        {"OCI_CONFIG_FILE": config},
        {"config": config, "config_kwargs": {"service_endpoint": server.endpoint}},
    )


class _Stop(Exception):
    """Raised in the main thread by SIGTERM/SIGHUP: stop the servers, exit 0."""


def serve(providers: Sequence[str], *, bucket: str = DEFAULT_BUCKET) -> int:
    """Start ``providers``' servers, print how to reach them, wait; return an exit status."""
    from unifs.testing.network import guard

    guard()  # the servers and the SDKs they load never leave 127.0.0.1
    chosen = list(dict.fromkeys(providers or PROVIDERS))
    servers: list[LocalServer] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        raise _Stop

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    # a parent that blocks these (a test runner's thread) would pass the mask on to us
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGHUP, signal.SIGINT})
    status = 0
    with tempfile.TemporaryDirectory(prefix="unifs-serve-") as scratch:
        try:
            for name in chosen:
                server = start(name)
                servers.append(server)
                server.make_bucket(bucket)
                print(served(server, bucket, scratch).text(), flush=True)
            print(
                f"serving {', '.join(chosen)} on 127.0.0.1 (bucket {bucket!r} in each); "
                "Ctrl-C stops them",
                flush=True,
            )
            forever = threading.Event()
            while not forever.wait(1.0):
                pass
        except _Stop:
            status = 0
        except KeyboardInterrupt:
            status = 130
        finally:
            for server in reversed(servers):
                server.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    print("unifs serve: servers stopped", file=sys.stderr, flush=True)
    return status


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``serve`` to the ``unifs`` command."""
    del with_options
    from unifs.commands import ExamplesFormatter

    p = subparsers.add_parser(
        "serve",
        help="run local S3/GCS/Azure/OCI servers and print the flags that reach them",
        formatter_class=ExamplesFormatter,
        epilog=(
            "examples:\n"
            "  unifs serve                 # all four: s3 gcs azure oci\n"
            "  unifs serve s3 oci          # then, in another shell, the printed lines, e.g.\n"
            "  unifs put model/ s3://unifs/model/ -o endpoint_url=http://127.0.0.1:PORT "
            "-o key=... -o secret=...\n"
        ),
    )
    p.add_argument(
        "providers",
        nargs="*",
        choices=PROVIDERS,
        metavar="PROVIDER",
        help=f"which servers to start: {', '.join(PROVIDERS)} (default: all)",
    )
    p.add_argument(
        "--bucket", default=DEFAULT_BUCKET, help="bucket to make in each (default %(default)s)"
    )
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    return serve(args.providers, bucket=args.bucket)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m unifs.testing [PROVIDER...]``: the same as ``unifs serve``."""
    from unifs.cli import main as cli_main

    return cli_main(["serve", *(sys.argv[1:] if argv is None else argv)])
