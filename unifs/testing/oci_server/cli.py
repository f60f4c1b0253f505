"""``python -m unifs.testing.oci_server``: run the server in the foreground."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator

from unifs.testing.oci_server.identity import OCITestIdentity
from unifs.testing.oci_server.server import OCIServer


def _iter_buckets(values: Iterable[str]) -> Iterator[str]:
    for value in values:
        yield from (v for v in value.split(",") if v)


def main(argv: list[str] | None = None) -> int:
    """Run the server in the foreground until Ctrl-C, with a fresh test identity on disk."""
    parser = argparse.ArgumentParser(
        prog="python -m unifs.testing.oci_server",
        description="Local OCI Object Storage server for tests (loopback only).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1 (default) or ::1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--namespace", default="unifs")
    parser.add_argument("--bucket", action="append", default=[], help="bucket(s) to pre-create")
    parser.add_argument(
        "--config-dir",
        default=None,
        help="where to write the OCI config and key (default: a new temporary directory)",
    )
    parser.add_argument("--profile", default="DEFAULT")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)

    ident = OCITestIdentity.generate()
    config_dir = args.config_dir or tempfile.mkdtemp(prefix="unifs-oci-")
    config_path = ident.write_config_file(config_dir, profile=args.profile)
    server = OCIServer(namespace=args.namespace, identities=[ident], host=args.host, port=args.port)
    for name in _iter_buckets(args.bucket):
        server.create_bucket(name)
    server.start()
    print(f"OCI Object Storage endpoint: {server.endpoint}")
    print(f"namespace: {server.namespace}")
    print(f"config file: {config_path} (profile {args.profile})")
    print(
        f"use: OCIFileSystem(config={str(config_path)!r}, profile={args.profile!r}, "
        f"config_kwargs={{'service_endpoint': {server.endpoint!r}}})"
    )
    profile = "" if args.profile == "DEFAULT" else f" -a profile={args.profile}"
    bucket = next(iter(_iter_buckets(args.bucket)), "BUCKET")
    print(
        f"unifs: unifs ls oci://n/{server.namespace}/b/{bucket}/o/ -a auth=user_principal "
        f"-a config_path={config_path}{profile} -a endpoint={server.endpoint}"
    )
    print(f"environment: export OCI_CONFIG_FILE={config_path} (then -a endpoint=... alone)")
    print("all four clouds at once, with the same kind of lines: unifs serve")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
