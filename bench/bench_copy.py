"""Cloud-to-cloud copy between two local servers: unifs.copy vs rclone vs fsspec via memory.

    python bench/bench_copy.py                                  # every pair, both profiles
    python bench/bench_copy.py --pairs oci:s3 --profile link --scale 0.25

Pairs (``--pairs``, ``src:dst`` comma-separated): ``oci:s3``, ``gcs:azure``, ``s3:gcs`` by
default. The dataset is bench_transfer's ``model`` (4 shards of 256 MiB and 12 small files;
``--scale`` shrinks it).

Profiles: ``loopback`` (both servers directly) and ``link``: the *source* is reached through
:mod:`unifs.testing.faults` run as a separate process with bench_transfer's link (``--rtt-ms``
per request, ``--conn-mibps`` per connection, ``--total-mibps`` in all): a model pulled from
a far region into a near one.

Contenders, each in its own subprocess (its CPU time and peak RSS are its own):

- ``unifs``: ``unifs.copy(src, dst, dst_options=...)`` -- streamed through the byte budget
  (``--max-buffer``, 128 MiB), verified (MD5 in flight against both ends).
- ``rclone``: ``rclone copy`` (Debian 1.60; S3, GCS and Azure, no OCI) with ``--transfers``
  8, ``--multi-thread-streams`` 8, ``--multi-thread-cutoff`` 16M. rclone reads GCS objects
  from their ``mediaLink``, which names the server itself: from a GCS source under the link
  profile it would bypass the link, so that cell is left out.
- ``fsspec``: each file read whole with ``cat_file`` and written with ``pipe_file``, one after
  the other -- the copy loop people write with two fsspec filesystems.

Every copy is checked (object count and bytes at the destination) before its time counts.
Prints MiB/s, CPU-seconds per GiB (user+sys of the contender's process tree) and peak RSS.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_transfer import _peak_rss, dataset_files, start_link

from unifs.testing.network import guard

guard()  # benchmarks, like tests, never leave 127.0.0.1

MiB = 2**20
BUCKET = "unifs-bench-copy"
PAIRS = ("oci:s3", "gcs:azure", "s3:gcs")
RCLONE = {"s3", "gcs", "azure"}


def seed(server: Any, files: dict[str, int]) -> str:
    """Upload ``files`` under a fresh prefix of ``server``; return the prefix URI."""
    import unifs

    root = server.uri(BUCKET, f"src-{uuid.uuid4().hex[:8]}/")
    fs, base = unifs.url_to_fs(root, **server.storage_options)
    pool = os.urandom(max(files.values()) + 4096)
    for index, (name, size) in enumerate(sorted(files.items())):
        start = (index * 4099) % 4096
        fs.pipe_file(f"{base.rstrip('/')}/{name}", pool[start : start + size])
    fs.invalidate_cache()
    return root


# -- contenders (each runs in a child process) ---------------------------------------------

Runner = Callable[[], None]


def run_unifs(job: dict[str, Any]) -> Runner:
    import unifs

    unifs.url_to_fs(job["src"], **job["src_options"])
    unifs.url_to_fs(job["dst"], **job["dst_options"])

    def go() -> None:
        report = unifs.copy(
            job["src"],
            job["dst"],
            dst_options=job["dst_options"],
            max_buffer=job["max_buffer"],
            callback=False,
            **job["src_options"],
        )
        job["extra"] = (
            f"{len(report.checksum_verified)} verified, {report.retries} retries, "
            f"buffer peak {report.peak_buffer / MiB:.0f} MiB"
        )

    return go


def run_fsspec(job: dict[str, Any]) -> Runner:
    import unifs

    src_fs, src_base = unifs.url_to_fs(job["src"], **job["src_options"])
    dst_fs, dst_base = unifs.url_to_fs(job["dst"], **job["dst_options"])

    def go() -> None:
        base = src_base.rstrip("/")
        for name in sorted(src_fs.find(base)):
            data = src_fs.cat_file(name)
            dst_fs.pipe_file(f"{dst_base.rstrip('/')}/{name[len(base) :].lstrip('/')}", data)

    return go


def run_rclone(job: dict[str, Any]) -> Runner:
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env["RCLONE_CONFIG"] = job["rclone_config"]

    def go() -> None:
        subprocess.run(
            ["rclone", "copy", job["rclone_src"], job["rclone_dst"], "--transfers", "8",
             "--multi-thread-streams", "8", "--multi-thread-cutoff", "16M", "--retries", "1"],
            check=True, env=env, capture_output=True, text=True,
        )  # fmt: skip

    return go


RUNNERS: dict[str, Callable[[dict[str, Any]], Runner]] = {
    "unifs": run_unifs,
    "rclone": run_rclone,
    "fsspec": run_fsspec,
}


def child(job_file: str) -> int:
    with open(job_file, "rb") as handle:
        job = pickle.load(handle)
    go = RUNNERS[job["contender"]](job)
    before_self = resource.getrusage(resource.RUSAGE_SELF)
    before_kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    go()
    seconds = time.perf_counter() - started
    after_self = resource.getrusage(resource.RUSAGE_SELF)
    after_kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (
        after_self.ru_utime - before_self.ru_utime + after_self.ru_stime - before_self.ru_stime
        + after_kids.ru_utime - before_kids.ru_utime + after_kids.ru_stime - before_kids.ru_stime
    )  # fmt: skip
    rss = max(_peak_rss(), after_kids.ru_maxrss * 1024)
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rss": rss, "extra": job.get("extra", "")}))
    return 0


# -- rclone remotes -------------------------------------------------------------------------


def rclone_remote(name: str, provider: str, server: Any, options: dict[str, Any]) -> str:
    """An rclone config section reaching ``server`` (through ``options``' endpoint)."""
    if provider == "s3":
        return (
            f"[{name}]\ntype = s3\nprovider = Other\nenv_auth = false\n"
            f"access_key_id = {options['key']}\nsecret_access_key = {options['secret']}\n"
            f"endpoint = {options['endpoint_url']}\nforce_path_style = true\n"
        )
    if provider == "gcs":
        return (
            f"[{name}]\ntype = google cloud storage\nanonymous = true\n"
            f"endpoint = {options['endpoint_url']}/storage/v1/\n"
        )
    if provider == "azure":
        from datetime import datetime, timedelta, timezone

        from azure.storage.blob import (
            AccountSasPermissions,
            ResourceTypes,
            generate_account_sas,
        )

        fields = dict(
            part.split("=", 1) for part in options["connection_string"].split(";") if "=" in part
        )
        sas = generate_account_sas(
            fields["AccountName"],
            fields["AccountKey"],
            resource_types=ResourceTypes(service=True, container=True, object=True),
            permission=AccountSasPermissions(
                read=True, write=True, list=True, create=True, add=True, delete=True
            ),
            expiry=datetime.now(timezone.utc) + timedelta(hours=6),
        )
        return f"[{name}]\ntype = azureblob\nsas_url = {fields['BlobEndpoint']}?{sas}\n"
    raise ValueError(f"rclone has no backend here for {provider}")


def rclone_path(name: str, uri: str) -> str:
    import unifs

    u = unifs.parse(uri)
    return f"{name}:{u.bucket}/{u.key}"


# -- the parent -----------------------------------------------------------------------------


def measure(job: dict[str, Any], timeout: float) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("wb", suffix=".job", delete=False) as handle:
        pickle.dump(job, handle)
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--child", handle.name],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            lines = [x.strip() for x in done.stderr.strip().splitlines() if x.strip()]
            errors = [x for x in lines if "rror" in x] or lines[-1:]
            return {"error": errors[-1][:160] if errors else f"exit {done.returncode}"}
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout}s"}
    finally:
        os.unlink(handle.name)


def check(server: Any, uri: str, files: dict[str, int]) -> str:
    """'' when ``uri`` holds exactly ``files``' count and bytes, else what is wrong."""
    import unifs

    fs, base = unifs.url_to_fs(uri, **server.storage_options)
    fs.invalidate_cache()
    try:
        found = fs.find(base.rstrip("/"), detail=True)
    except FileNotFoundError:
        found = {}
    total = sum(int(i.get("size") or 0) for i in found.values())
    if len(found) != len(files) or total != sum(files.values()):
        return f"incomplete: {len(found)} objects, {total} bytes"
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--pairs", default=",".join(PAIRS))
    parser.add_argument("--profile", default="loopback,link")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--contenders", default="unifs,rclone,fsspec")
    parser.add_argument("--max-buffer", type=float, default=128, help="MiB, for unifs")
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--conn-mibps", type=float, default=16.0)
    parser.add_argument("--total-mibps", type=float, default=256.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request

    import unifs
    from unifs.testing import servers
    from unifs.testing.faults import route_through

    files = dataset_files("model", args.scale)
    mib = sum(files.values()) / MiB
    print(
        f"model dataset, {len(files)} files, {mib:.0f} MiB; link on the source: "
        f"+{args.rtt_ms:g} ms RTT, {args.conn_mibps:g} MiB/s per connection, "
        f"{args.total_mibps:g} MiB/s in all; {os.cpu_count()} cores",
        flush=True,
    )
    running: dict[str, Any] = {}
    rows: list[str] = []
    header = (
        f"{'profile':<9}{'pair':<11}{'contender':<9}{'MiB/s':>8}{'vs unifs':>10}"
        f"{'CPU-s/GiB':>11}{'peak RSS':>10}  notes"
    )
    try:
        for pair in args.pairs.split(","):
            a, b = pair.split(":")
            for name in (a, b):
                if name not in running:
                    running[name] = servers.start(name)
                    running[name].make_bucket(BUCKET)
            src_server, dst_server = running[a], running[b]
            src = seed(src_server, files)
            for profile in args.profile.split(","):
                link = None
                src_options = dict(src_server.storage_options)
                if profile == "link":
                    link, endpoint = start_link(src_server.endpoint, args, a)
                    src_options = route_through(src_options, src_server.endpoint, endpoint)
                results: dict[str, dict[str, Any]] = {}
                try:
                    for contender in args.contenders.split(","):
                        if contender == "rclone" and not (a in RCLONE and b in RCLONE):
                            results[contender] = {"error": "n/a: rclone 1.60 has no OCI backend"}
                            continue
                        if contender == "rclone" and profile == "link" and a == "gcs":
                            results[contender] = {
                                "error": "n/a: rclone reads GCS mediaLink URLs past the link"
                            }
                            continue
                        dst = dst_server.uri(BUCKET, f"{contender}-{uuid.uuid4().hex[:8]}/")
                        job: dict[str, Any] = {
                            "contender": contender,
                            "src": src,
                            "dst": dst,
                            "src_options": src_options,
                            "dst_options": dict(dst_server.storage_options),
                            "max_buffer": int(args.max_buffer * MiB),
                        }
                        if contender == "rclone":
                            with tempfile.NamedTemporaryFile(
                                "w", suffix=".conf", delete=False
                            ) as config:
                                config.write(rclone_remote("src", a, src_server, src_options))
                                config.write(
                                    rclone_remote("dst", b, dst_server, dst_server.storage_options)
                                )
                            job["rclone_config"] = config.name
                            job["rclone_src"] = rclone_path("src", src)
                            job["rclone_dst"] = rclone_path("dst", dst)
                        result = measure(job, args.timeout)
                        if "error" not in result:
                            wrong = check(dst_server, dst, files)
                            if wrong:
                                result["error"] = wrong
                        results[contender] = result
                        if "rclone_config" in job:
                            os.unlink(job["rclone_config"])
                        fs, path = unifs.url_to_fs(dst, **dst_server.storage_options)
                        with contextlib.suppress(OSError):
                            fs.rm(path.rstrip("/"), recursive=True)
                finally:
                    if link is not None:
                        link.terminate()
                        link.wait(10)
                ours = results.get("unifs", {})
                for contender, r in results.items():
                    cell = f"{profile:<9}{pair:<11}{contender:<9}"
                    if "error" in r:
                        rows.append(f"{cell}{'':>8}{'':>10}{'':>11}{'':>10}  {r['error']}")
                    else:
                        speed = mib / r["seconds"]
                        ratio = (
                            ours["seconds"] / r["seconds"]
                            if "seconds" in ours and "error" not in ours
                            else float("nan")
                        )
                        rows.append(
                            f"{cell}{speed:>8.1f}{ratio:>9.2f}x"
                            f"{r['cpu'] / (mib / 1024):>11.1f}{r['rss'] / MiB:>8.0f}MiB"
                            f"  {r.get('extra', '')}"
                        )
                    print(rows[-1], flush=True)
    finally:
        for server in running.values():
            server.stop()
    print()
    print("'vs unifs' = contender MiB/s / unifs MiB/s (below 1: unifs is faster)")
    print(header)
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
