"""Load a sharded safetensors model into CPU tensors: unifs.torch.load_safetensors vs peers.

    python bench/bench_torch.py                                   # 4 x 256 MiB, every store
    python bench/bench_torch.py --scale 0.25 --providers s3,gcs   # smaller, fewer servers
    python bench/bench_torch.py --profile link                    # through the link proxy only

The model: 4 shards of ``256 MiB * --scale`` (16 tensors each, float32/bfloat16/int64) and a
``model.safetensors.index.json``, on each local server. Profiles as in ``bench_transfer.py``:
``loopback`` and ``link`` (``unifs.testing.faults`` as a separate process: ``--rtt-ms`` per
request and connection, ``--conn-mibps`` per connection, ``--total-mibps`` in all).

Contenders, each in its own subprocess (its peak RSS and CPU time are its own):

- ``unifs``: ``unifs.torch.load_safetensors(index)`` -- ranged parallel reads into tensors,
  verified against the store's checksum;
- ``runai``: Run:ai's model streamer (``runai-model-streamer`` with ``-s3``/``-gcs``), S3
  through ``AWS_ENDPOINT_URL``, GCS through ``CLOUD_STORAGE_EMULATOR_ENDPOINT``. Not run on
  Azure (its client builds ``https://{account}.{suffix}`` URLs, which cannot name a local
  server without leaving 127.0.0.1) nor OCI (no backend);
- ``get+load``: ``unifs.get`` into a temporary directory, then ``safetensors.torch.load_file``;
- ``fsspec``: ``fsspec.open`` + ``safetensors.torch.load(f.read())`` per shard.

Every run is checked (tensor count and bytes) before its time counts. Prints MiB/s, each
peer's speed relative to unifs, CPU seconds per GiB (user + sys of the process), peak RSS,
and peak RSS less the RSS just before the timed load (imports, clients: ~300 MiB with torch).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from unifs.testing.network import guard

guard()  # benchmarks, like tests, never leave 127.0.0.1

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_transfer import _peak_rss, start_link  # noqa: E402

MiB = 2**20
GiB = 2**30
BUCKET = "unifs-bench-torch"
PROFILES = ("loopback", "link")
PEERS: dict[str, tuple[str, ...]] = {
    "s3": ("unifs", "runai", "get+load", "fsspec"),
    "gcs": ("unifs", "runai", "get+load", "fsspec"),
    "azure": ("unifs", "get+load", "fsspec"),
    "oci": ("unifs", "get+load", "fsspec"),
}
TENSORS_PER_SHARD = 16
SHARDS = 4


def seed(server: Any, scale: float) -> tuple[str, int, int]:
    """Upload the sharded model; return the prefix URI, tensor count and tensor bytes."""
    import safetensors.torch
    import torch

    import unifs

    shard_bytes = max(MiB, int(256 * MiB * scale))
    per_tensor = shard_bytes // TENSORS_PER_SHARD // 8 * 8
    root = server.uri(BUCKET, "model/")
    fs, base = unifs.url_to_fs(root, **server.storage_options)
    pool = torch.frombuffer(bytearray(os.urandom(per_tensor + 4096)), dtype=torch.uint8)
    dtypes = (torch.float32, torch.bfloat16, torch.int64, torch.float16)
    weight_map = {}
    for shard in range(SHARDS):
        name = f"model-{shard + 1:05d}-of-{SHARDS:05d}.safetensors"
        tensors = {}
        for i in range(TENSORS_PER_SHARD):
            start = (shard * TENSORS_PER_SHARD + i) * 8 % 4096
            dtype = dtypes[i % len(dtypes)]
            tensor_name = f"layers.{shard}.{i}.weight"
            data = pool[start : start + per_tensor].clone()  # each tensor its own storage
            tensors[tensor_name] = data.view(dtype).reshape(-1, 64)
            weight_map[tensor_name] = name
        fs.pipe_file(f"{base.rstrip('/')}/{name}", safetensors.torch.save(tensors))
    index = {"metadata": {}, "weight_map": weight_map}
    fs.pipe_file(f"{base.rstrip('/')}/model.safetensors.index.json", json.dumps(index).encode())
    fs.invalidate_cache()
    return root, SHARDS * TENSORS_PER_SHARD, SHARDS * TENSORS_PER_SHARD * per_tensor


# -- contenders (each runs in a child process) ---------------------------------------------

Runner = Callable[[], dict[str, Any]]


def _count(tensors: Any) -> dict[str, Any]:
    items = list(tensors.items()) if hasattr(tensors, "items") else list(tensors)
    return {"tensors": len(items), "bytes": sum(t.nbytes for _, t in items)}


def run_unifs(job: dict[str, Any]) -> Runner:
    import unifs
    from unifs.torch import load_safetensors

    unifs.url_to_fs(job["root"], **job["options"])  # import the backend before timing

    def go() -> dict[str, Any]:
        index = job["root"] + "model.safetensors.index.json"
        return _count(load_safetensors(index, concurrency=job["concurrency"], **job["options"]))

    return go


def run_get_load(job: dict[str, Any]) -> Runner:
    import safetensors.torch

    import unifs

    unifs.url_to_fs(job["root"], **job["options"])

    def go() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="unifs-bench-torch-") as dest:
            unifs.get(
                job["root"],
                dest,
                include=["*.safetensors"],
                concurrency=job["concurrency"],
                **job["options"],
            )
            tensors = {}
            for name in sorted(os.listdir(dest)):
                tensors.update(safetensors.torch.load_file(os.path.join(dest, name)))
            return _count(tensors)

    return go


def run_fsspec(job: dict[str, Any]) -> Runner:
    import safetensors.torch

    import unifs

    fs, base = unifs.url_to_fs(job["root"], **job["options"])

    def go() -> dict[str, Any]:
        import fsspec

        tensors = {}
        for path in sorted(fs.glob(f"{base.rstrip('/')}/*.safetensors")):
            url = f"{job['protocol']}://{path}"
            with fsspec.open(url, "rb", **job["options"]) as f:
                tensors.update(safetensors.torch.load(f.read()))
        return _count(tensors)

    return go


def run_runai(job: dict[str, Any]) -> Runner:
    import unifs

    fs, base = unifs.url_to_fs(job["root"], **job["options"])
    paths = sorted(fs.glob(f"{base.rstrip('/')}/*.safetensors"))
    os.environ["RUNAI_STREAMER_CONCURRENCY"] = str(min(job["concurrency"], 64))
    os.environ["RUNAI_STREAMER_LOG_LEVEL"] = "WARNING"
    credentials = None
    if job["provider"] == "s3":
        from runai_model_streamer.s3_utils.s3_utils import S3Credentials

        os.environ["RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING"] = "0"
        os.environ["AWS_ENDPOINT_URL"] = job["options"]["endpoint_url"]
        os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
        os.environ.pop("AWS_CA_BUNDLE", None)
        credentials = S3Credentials(
            access_key_id=job["options"]["key"],
            secret_access_key=job["options"]["secret"],
            region_name="us-east-1",
            endpoint=job["options"]["endpoint_url"],
        )
        urls = [f"s3://{p}" for p in paths]
    elif job["provider"] == "gcs":
        # google-cloud-cpp talks to an emulator anonymously, over plain http
        os.environ["CLOUD_STORAGE_EMULATOR_ENDPOINT"] = job["options"]["endpoint_url"]
        urls = [f"gs://{p}" for p in paths]
    else:  # pragma: no cover - PEERS lists runai for S3 and GCS only
        raise ValueError(job["provider"])
    from runai_model_streamer import SafetensorsStreamer

    def go() -> dict[str, Any]:
        tensors = {}
        with SafetensorsStreamer() as streamer:
            streamer.stream_files(urls, s3_credentials=credentials, device="cpu")
            for name, tensor in streamer.get_tensors():
                tensors[name] = tensor
        return _count(tensors)

    return go


RUNNERS: dict[str, Callable[[dict[str, Any]], Runner]] = {
    "unifs": run_unifs,
    "runai": run_runai,
    "get+load": run_get_load,
    "fsspec": run_fsspec,
}


def _rss_now() -> int:
    """This process's resident set now (after imports and clients, before the timed load)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def child(job_file: str) -> int:
    """Run one contender; print seconds, CPU seconds, tensors, bytes and peak RSS as JSON."""
    with open(job_file, "rb") as handle:
        job = pickle.load(handle)
    go = RUNNERS[job["contender"]](job)
    start_rss = _rss_now()
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    result = go()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result.update(seconds=seconds, cpu=cpu, rss=_peak_rss(), start_rss=start_rss)
    print(json.dumps(result))
    return 0


# -- the parent: servers, link proxy, table ------------------------------------------------


def measure(contender: str, provider: str, job: dict[str, Any], timeout: float) -> dict[str, Any]:
    job = {**job, "contender": contender, "provider": provider}
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
            errors = [x for x in lines if "Error" in x or "error" in x] or lines[-1:]
            return {"error": errors[-1][:160] if errors else f"exit {done.returncode}"}
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout}s"}
    finally:
        os.unlink(handle.name)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--profile", default="all", help="loopback, link or all")
    parser.add_argument("--providers", default="s3,gcs,azure,oci")
    parser.add_argument("--scale", type=float, default=1.0, help="shrink the 4 x 256 MiB model")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender (median)")
    parser.add_argument("--concurrency", type=int, default=64, help="for every contender")
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--conn-mibps", type=float, default=16.0)
    parser.add_argument("--total-mibps", type=float, default=256.0)
    parser.add_argument("--timeout", type=float, default=900.0, help="per contender run")
    parser.add_argument("--contenders", help="comma-separated subset, e.g. unifs,runai")
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    from unifs.testing import servers
    from unifs.testing.faults import route_through

    profiles = PROFILES if args.profile == "all" else tuple(args.profile.split(","))
    wanted = set(args.contenders.split(",")) if args.contenders else None
    print(
        f"scale {args.scale}, concurrency {args.concurrency}, link: +{args.rtt_ms:g} ms RTT, "
        f"{args.conn_mibps:g} MiB/s per connection, {args.total_mibps:g} MiB/s in all; "
        f"{os.cpu_count()} cores",
        flush=True,
    )
    header = (
        f"{'profile':<9}{'store':<7}{'contender':<10}{'MiB':>6}{'MiB/s':>8}{'vs unifs':>10}"
        f"{'CPU-s/GiB':>11}{'peak RSS':>10}{'- start':>9}"
    )
    rows: list[str] = []
    for provider in args.providers.split(","):
        server = servers.start(provider)
        try:
            server.make_bucket(BUCKET)
            root, count, nbytes = seed(server, args.scale)
            mib = nbytes / MiB
            for profile in profiles:
                link = None
                options = dict(server.storage_options)
                if profile == "link":
                    link, endpoint = start_link(server.endpoint, args, provider)
                    options = route_through(options, server.endpoint, endpoint)
                job = {
                    "root": root,
                    "options": options,
                    "protocol": server.protocol,
                    "concurrency": args.concurrency,
                }
                try:
                    results: dict[str, dict[str, Any]] = {}
                    for contender in PEERS[provider]:
                        if wanted and contender not in wanted:
                            continue
                        runs = [
                            measure(contender, provider, job, args.timeout)
                            for _ in range(args.repeat)
                        ]
                        good = [r for r in runs if "error" not in r]
                        if not good:
                            results[contender] = runs[0]
                            continue
                        best = dict(good[0])
                        best["seconds"] = statistics.median(r["seconds"] for r in good)
                        best["cpu"] = statistics.median(r["cpu"] for r in good)
                        best["rss"] = max(r["rss"] for r in good)
                        if best["tensors"] != count or best["bytes"] != nbytes:
                            best["error"] = (
                                f"incomplete: {best['tensors']} tensors, {best['bytes']} bytes"
                            )
                        results[contender] = best
                    ours = results.get("unifs", {})
                    for contender, r in results.items():
                        line = f"{profile:<9}{provider:<7}{contender:<10}{mib:>6.0f}"
                        if "error" in r:
                            rows.append(f"{line}  {r['error']}")
                        else:
                            ratio = (
                                ours["seconds"] / r["seconds"]
                                if "seconds" in ours and "error" not in ours
                                else float("nan")
                            )
                            rows.append(
                                f"{line}{mib / r['seconds']:>8.1f}{ratio:>9.2f}x"
                                f"{r['cpu'] / (nbytes / GiB):>11.2f}{r['rss'] / MiB:>7.0f}MiB"
                                f"{(r['rss'] - r['start_rss']) / MiB:>6.0f}MiB"
                            )
                        print(rows[-1], flush=True)
                finally:
                    if link is not None:
                        link.terminate()
                        link.wait(10)
            server.filesystem().rm(root, recursive=True)
        finally:
            server.stop()
    print()
    print("'vs unifs' = contender MiB/s / unifs MiB/s (below 1: unifs is faster)")
    print(header)
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
