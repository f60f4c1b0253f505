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

``--mode distributed`` (link profile only) runs ranks on this host, each its own process in
one gloo group on 127.0.0.1, and times from a barrier after set-up:

- ``unifs-1``: one rank alone (the reference);
- ``unifs-group``: 2 ranks, ``load_safetensors(index, group="auto")``;
- ``unifs-2x``: 2 independent single-rank loads at the same time, each of the whole model;
- ``runai-group``: 2 ranks of Run:ai's distributed mode (S3, GCS), ``stream_files(...,
  is_distributed=True)`` with ``RUNAI_STREAMER_DIST=1`` (its default, ``auto``,
  distributes over NCCL only).

Each rank talks to the store through its own counting proxy (a plain
:class:`~unifs.testing.faults.FaultProxy`, in one process) in front of the one shared link
proxy, so the counters' logs give each rank's bytes from the store (response bodies, as
relayed) and requests. Prints a markdown table (per rank: MiB from the store, requests,
seconds, CPU-s/GiB, peak RSS; per job: bytes summed, wall time = the slowest rank, load
average); ``--json`` keeps the results, ``--plot`` draws a PNG of them::

    python bench/bench_torch.py --mode distributed --scale 0.25 --repeat 3 \\
        --plot docs/img/bench_torch_distributed.png
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

from unifs.testing.faults import route_through  # noqa: E402

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
    per_tensor = shard_bytes // TENSORS_PER_SHARD // 512 * 512  # rows of 64 x 8 bytes
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
        group = "auto" if job.get("group") else None  # the default group the rank joined
        tensors = load_safetensors(
            index, group=group, concurrency=job["concurrency"], **job["options"]
        )
        return _count(tensors)

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
    if job.get("group"):
        # off by default for gloo ("auto" distributes only over NCCL); "1" turns it on for CPU
        os.environ["RUNAI_STREAMER_DIST"] = "1"
    from runai_model_streamer import SafetensorsStreamer

    def go() -> dict[str, Any]:
        tensors = {}
        with SafetensorsStreamer() as streamer:
            streamer.stream_files(
                urls,
                s3_credentials=credentials,
                device="cpu",
                is_distributed=bool(job.get("group")),
            )
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
    print(json.dumps(_timed(RUNNERS[job["contender"]](job))))
    return 0


def _timed(go: Runner) -> dict[str, Any]:
    """Run ``go``; its result with wall and CPU seconds, peak RSS and the RSS before it."""
    start_rss = _rss_now()
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    result = go()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result.update(seconds=seconds, cpu=cpu, rss=_peak_rss(), start_rss=start_rss)
    return result


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


# -- distributed: ranks on one host, each through its own byte counter -----------------------

#: contender -> (runner, ranks, whether the ranks load as one torch.distributed group)
DISTRIBUTED: dict[str, tuple[str, int, bool]] = {
    "unifs-1": ("unifs", 1, False),  # one rank alone: the reference
    "unifs-group": ("unifs", 2, True),  # load_safetensors(group=): each rank reads half
    "unifs-2x": ("unifs", 2, False),  # two independent loads at once: each reads it all
    "runai-group": ("runai", 2, True),  # Run:ai's distributed mode (RUNAI_STREAMER_DIST=1)
}
DIST_PEERS: dict[str, tuple[str, ...]] = {
    "s3": ("unifs-1", "unifs-group", "unifs-2x", "runai-group"),
    "gcs": ("unifs-1", "unifs-group", "unifs-2x", "runai-group"),
    "azure": ("unifs-1", "unifs-group", "unifs-2x"),
    "oci": ("unifs-1", "unifs-group", "unifs-2x"),
}
COLORS = {
    "unifs-1": "#9ecae1",
    "unifs-group": "#08519c",
    "unifs-2x": "#fd8d3c",
    "runai-group": "#74c476",
}


def rank_child(job_file: str) -> int:
    """One rank: join the gloo group, set up, wait for the others, time the load."""
    from datetime import timedelta

    import torch.distributed as dist

    with open(job_file, "rb") as handle:
        job = pickle.load(handle)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{job['port']}",
        rank=job["rank"],
        world_size=job["world"],
        timeout=timedelta(seconds=job["timeout"]),
    )
    try:
        go = RUNNERS[job["contender"]](job)  # imports and clients, before the clock
        dist.barrier()  # every rank starts its timed load at the same moment
        print(json.dumps(_timed(go)), flush=True)
    finally:
        dist.destroy_process_group()
    return 0


def counter_child(spec: str) -> int:
    """Byte counters, one plain proxy per rank in front of the shared link: every request a
    rank makes to the store passes through its own counter, so the log says which rank read
    what. Commands on stdin: ``clear``; ``log`` (one JSON list: per counter, the response
    bytes and requests it relayed)."""
    from unifs.testing.faults import FaultProxy

    upstream, count, gcs = json.loads(spec)
    proxies = [
        FaultProxy(upstream, rewrite_host=gcs, rewrite_links=gcs).start() for _ in range(count)
    ]
    print(json.dumps([p.endpoint for p in proxies]), flush=True)
    for line in sys.stdin:
        if line.strip() == "clear":
            for proxy in proxies:
                proxy.clear()
            print("[]", flush=True)
        elif line.strip() == "log":
            print(json.dumps([_tally(proxy.requests()) for proxy in proxies]), flush=True)
    for proxy in proxies:
        proxy.stop()
    return 0


def _tally(log: list[Any]) -> dict[str, Any]:
    """Response bytes and requests in one counter's log; how many exchanges did not end
    complete (cut short by either side, or an error status), and the bytes of attempts at
    a range that was then asked for again (a retry)."""
    earlier: dict[tuple[str, str | None], int] = {}
    repeated = 0  # bytes of earlier attempts at a range that was asked for again
    for s in log:
        key = (s.target, s.range)
        if key in earlier and s.method == "GET":
            repeated += earlier[key]
        earlier[key] = s.body_bytes
    incomplete = [s for s in log if s.ended != "complete" or s.status >= 400]
    return {
        "served": sum(s.body_bytes for s in log),
        "requests": len(log),
        "incomplete": len(incomplete),
        "repeated": repeated,
        "why": sorted({f"{s.status} {s.ended}" for s in incomplete}),
    }


class Counters:
    """The :func:`counter_child` process, as the parent talks to it."""

    def __init__(self, upstream: str, count: int, gcs: bool) -> None:
        spec = json.dumps([upstream, count, gcs])
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--counter", spec],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.endpoints: list[str] = json.loads(self._line())

    def _line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline()

    def ask(self, command: str) -> list[dict[str, int]]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return list(json.loads(self._line()))

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure_ranks(
    contender: str,
    provider: str,
    job: dict[str, Any],
    server: Any,
    counters: Counters,
    timeout: float,
) -> dict[str, Any]:
    """Run ``contender``'s ranks at once, each through its counter; their results and bytes."""
    runner, world, grouped = DISTRIBUTED[contender]
    counters.ask("clear")
    port = _free_port()
    files, processes = [], []
    load = os.getloadavg()[0]
    for rank in range(world):
        options = route_through(server.storage_options, server.endpoint, counters.endpoints[rank])
        rank_job = {
            **job,
            "contender": runner,
            "provider": provider,
            "options": options,
            "rank": rank,
            "world": world,
            "port": port,
            "group": grouped,
            "timeout": timeout,
        }
        with tempfile.NamedTemporaryFile("wb", suffix=".job", delete=False) as handle:
            pickle.dump(rank_job, handle)
        files.append(handle.name)
        processes.append(
            subprocess.Popen(
                [sys.executable, __file__, "--rank", handle.name],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    ranks: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        for rank, process in enumerate(processes):
            try:
                out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return {"error": f"rank {rank} timed out after {timeout:g}s", "load": load}
            if process.returncode != 0:
                lines = [x.strip() for x in err.strip().splitlines() if x.strip()]
                errors = [x for x in lines if "Error" in x or "error" in x] or lines[-1:]
                why = errors[-1][:200] if errors else f"exit {process.returncode}"
                return {"error": f"rank {rank}: {why}", "load": load}
            ranks.append(dict(json.loads(out.strip().splitlines()[-1])))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for name in files:
            os.unlink(name)
    for rank, tally in zip(ranks, counters.ask("log")[: len(ranks)], strict=True):
        rank.update(tally)
    return {
        "ranks": ranks,
        "wall": max(r["seconds"] for r in ranks),
        "load": load,
        "load_after": os.getloadavg()[0],
    }


def run_distributed(args: Any) -> int:
    """Every DIST_PEERS contender on every store, through the link; table, JSON, chart."""
    from unifs.testing import servers

    wanted = set(args.contenders.split(",")) if args.contenders else None
    machine = (
        f"{os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
        f"at start, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    print(
        f"distributed: scale {args.scale}, concurrency {args.concurrency} per rank, link: "
        f"+{args.rtt_ms:g} ms RTT, {args.conn_mibps:g} MiB/s per connection, "
        f"{args.total_mibps:g} MiB/s in all (shared by the ranks); {machine}",
        flush=True,
    )
    report: dict[str, Any] = {"machine": machine, "args": vars(args), "stores": {}}
    for provider in args.providers.split(","):
        server = servers.start(provider)
        try:
            server.make_bucket(BUCKET)
            root, count, nbytes = seed(server, args.scale)
            link, link_endpoint = start_link(server.endpoint, args, provider)
            counters = Counters(link_endpoint, 2, provider == "gcs")
            job = {"root": root, "protocol": server.protocol, "concurrency": args.concurrency}
            results: dict[str, Any] = {}
            try:
                for contender in DIST_PEERS[provider]:
                    if wanted and contender not in wanted:
                        continue
                    runs = [
                        measure_ranks(contender, provider, job, server, counters, args.timeout)
                        for _ in range(args.repeat)
                    ]
                    good = [r for r in runs if "error" not in r]
                    if not good:
                        results[contender] = runs[0]
                    else:
                        # the run with the median wall time, whole (its ranks belong together)
                        good.sort(key=lambda r: r["wall"])
                        results[contender] = good[(len(good) - 1) // 2]
                        bad = [
                            r for r in results[contender]["ranks"]
                            if r["tensors"] != count or r["bytes"] != nbytes
                        ]  # fmt: skip
                        if bad:
                            results[contender]["error"] = (
                                f"incomplete: {bad[0]['tensors']} tensors, {bad[0]['bytes']} bytes"
                            )
                    for line in _dist_rows(provider, contender, results[contender], nbytes):
                        print(line, flush=True)
            finally:
                counters.close()
                link.terminate()
                link.wait(10)
            report["stores"][provider] = {"model_bytes": nbytes, "results": results}
            server.filesystem().rm(root, recursive=True)
        finally:
            server.stop()
    report["load_at_end"] = list(os.getloadavg())
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1)
    return show_distributed(report, args.plot)


def show_distributed(report: dict[str, Any], plot: str | None) -> int:
    """Both tables (per rank; one row per contender) and, with ``plot``, the chart."""
    print()
    print(report["machine"], "; load average at end", *report.get("load_at_end", []))
    print(_DIST_HEADER)
    for provider, store in report["stores"].items():
        for contender, result in store["results"].items():
            for line in _dist_rows(provider, contender, result, store["model_bytes"]):
                print(line)
    print()
    print(
        "| store | contender | MiB from store (x model) | per rank | wall s | CPU-s/GiB "
        "per rank | peak RSS per rank | - start | load |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for provider, store in report["stores"].items():
        nbytes = store["model_bytes"]
        for contender, result in store["results"].items():
            name = STORE_NAMES.get(provider, provider)
            if "ranks" not in result:
                print(f"| {name} | {contender} | not run: {result['error']} | | | | | | |")
                continue
            ranks = result["ranks"]
            served = sum(r["served"] for r in ranks)
            print(
                f"| {name} | {contender} | {served / MiB:.0f} ({served / nbytes:.2f}x) | "
                + " / ".join(f"{r['served'] / MiB:.0f}" for r in ranks)
                + f" | {result['wall']:.2f} | "
                + " / ".join(f"{r['cpu'] / (nbytes / GiB):.2f}" for r in ranks)
                + " | "
                + " / ".join(f"{r['rss'] / MiB:.0f}" for r in ranks)
                + " MiB | "
                + " / ".join(f"{(r['rss'] - r['start_rss']) / MiB:.0f}" for r in ranks)
                + f" MiB | {result['load']:.1f} |"
            )
    if plot:
        plot_distributed(report, plot)
    return 0


STORE_NAMES = {"s3": "S3 (moto)", "gcs": "GCS", "azure": "Azure", "oci": "OCI"}


_DIST_HEADER = (
    "| store | contender | rank | MiB from store | x model | requests | seconds | "
    "CPU-s/GiB | peak RSS | peak RSS - start | load |\n"
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def _dist_rows(provider: str, contender: str, result: dict[str, Any], nbytes: int) -> list[str]:
    """Markdown rows: one per rank, then the job (bytes summed, wall time = the slowest rank)."""
    if "ranks" not in result:
        return [f"| {provider} | {contender} | | not run: {result['error']} | | | | | | | |"]
    rows = []
    gib = nbytes / GiB
    for rank, r in enumerate(result["ranks"]):
        requests = str(r["requests"])
        if r.get("incomplete"):
            requests += f" ({r['incomplete']} cut short: {', '.join(r['why'])})"
        if r.get("repeated"):
            requests += f" ({r['repeated'] / MiB:.1f} MiB in attempts retried)"
        rows.append(
            f"| {provider} | {contender} | {rank} | {r['served'] / MiB:.1f} | "
            f"{r['served'] / nbytes:.2f} | {requests} | {r['seconds']:.2f} | "
            f"{r['cpu'] / gib:.2f} | {r['rss'] / MiB:.0f} MiB | "
            f"{(r['rss'] - r['start_rss']) / MiB:.0f} MiB | |"
        )
    served = sum(r["served"] for r in result["ranks"])
    note = f" ({result['error']})" if "error" in result else ""
    rows.append(
        f"| {provider} | **{contender}** | job{note} | **{served / MiB:.1f}** | "
        f"**{served / nbytes:.2f}** | {sum(r['requests'] for r in result['ranks'])} | "
        f"**{result['wall']:.2f}** | | | | {result['load']:.1f} |"
    )
    return rows


def _runs(contender: str) -> tuple[str, ...]:
    """The stores ``contender`` runs on."""
    return tuple(p for p, names in DIST_PEERS.items() if contender in names)


def plot_distributed(report: dict[str, Any], path: str) -> None:
    """A PNG: per store, each contender's wall time, bytes from the store (stacked by rank),
    CPU-s/GiB and peak RSS (bars: the mean over ranks; dots: each rank)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stores = list(report["stores"])
    seen = [set(s["results"]) for s in report["stores"].values()]
    contenders = [c for c in DISTRIBUTED if any(c in names for names in seen)]
    width = 0.8 / max(1, len(contenders))
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    panels = [
        (axes[0][0], "wall time of the job (s), lower is better"),
        (axes[0][1], "MiB read from the store by the job, per rank"),
        (axes[1][0], "CPU-s per GiB loaded, per rank"),
        (axes[1][1], "peak RSS per rank (MiB)"),
    ]
    for i, contender in enumerate(contenders):
        for x, provider in enumerate(stores):
            store = report["stores"][provider]
            result = store["results"].get(contender)
            at = x - 0.4 + width * (i + 0.5)
            if result is None:
                if contender in DISTRIBUTED and provider not in _runs(contender):
                    axes[0][0].text(at, 0, "n/a", ha="center", va="bottom", fontsize=7)
                continue
            if "ranks" not in result:
                axes[0][0].text(at, 0, "not run", rotation=90, ha="center", va="bottom", fontsize=7)
                continue
            ranks = result["ranks"]
            gib = store["model_bytes"] / GiB
            axes[0][0].bar(at, result["wall"], width, color=COLORS[contender])
            bottom = 0.0
            for r in ranks:
                mib = r["served"] / MiB
                axes[0][1].bar(at, mib, width, bottom=bottom, color=COLORS[contender],
                               edgecolor="white", linewidth=0.8)  # fmt: skip
                bottom += mib
            for ax, values in (
                (axes[1][0], [r["cpu"] / gib for r in ranks]),
                (axes[1][1], [r["rss"] / MiB for r in ranks]),
            ):
                ax.bar(at, sum(values) / len(values), width, color=COLORS[contender])
                ax.plot([at] * len(values), values, "k.", markersize=4)
    model_mib = next(iter(report["stores"].values()))["model_bytes"] / MiB
    axes[0][1].axhline(model_mib, color="grey", linestyle="--", linewidth=0.8)
    axes[0][1].text(-0.45, model_mib, "the model", va="bottom", ha="left", fontsize=8)
    for ax, title in panels:
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(len(stores)))
        ax.set_xticklabels([s.upper() if s != "azure" else "Azure" for s in stores])
        ax.grid(axis="y", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLORS[c]) for c in contenders]
    fig.legend(handles, contenders, loc="lower center", ncol=len(contenders), frameon=False)
    a = report["args"]
    fig.suptitle(
        f"2 ranks on one host, {model_mib:.0f} MiB model, link +{a['rtt_ms']:g} ms, "
        f"{a['conn_mibps']:g} MiB/s per connection, {a['total_mibps']:g} MiB/s in all",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    parser.add_argument("--mode", default="single", help="single, or distributed (2 ranks)")
    parser.add_argument("--json", help="distributed: write the results here")
    parser.add_argument("--plot", help="distributed: draw the chart here (PNG)")
    parser.add_argument("--from-json", help="distributed: show and plot a --json file again")
    parser.add_argument("--rank", help=argparse.SUPPRESS)
    parser.add_argument("--counter", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    if args.rank:
        return rank_child(args.rank)
    if args.counter:
        return counter_child(args.counter)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.mode == "distributed" and args.from_json:
        with open(args.from_json) as handle:
            return show_distributed(json.load(handle), args.plot)
    if args.mode == "distributed":
        return run_distributed(args)

    from unifs.testing import servers

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
