"""Compare unifs.get with what a user would otherwise use, on the same data and local server.

    python bench/bench_transfer.py                                    # everything, full size
    python bench/bench_transfer.py --dataset model --profile link     # one dataset, one link
    python bench/bench_transfer.py --scale 0.25 --providers gcs,oci   # smaller, fewer servers

Datasets (``--scale`` shrinks sizes and counts):

- ``model``: 4 x 256 MiB shards + 12 small config/tokenizer files
- ``small``: 2,000 x 32 KiB files
- ``large``: one 1 GiB file

Profiles: ``loopback`` (the server directly) and ``link``: every request goes through
:mod:`unifs.testing.faults` run as a separate process, which adds ``--rtt-ms`` (20) per
request and per new connection and caps each connection at ``--conn-mibps`` (16) and all of
them together at ``--total-mibps`` (256) -- what a cloud region looks like from one VM,
scaled to what a Python proxy on this machine can forward.

Contenders, each in its own subprocess so its peak RSS is its own: ``unifs``; each backend's
stock fsspec ``get`` (s3fs, gcsfs, adlfs, ocifs); for OCI also ``unifs-fs``, unifs's own
OCI filesystem through fsspec's plain ``get`` (no transfer engine); obstore (S3, GCS,
Azure; every object streamed, ``--concurrency`` at once); boto3's TransferManager (S3,
``max_concurrency`` = ``--concurrency``); azure-storage-blob
``download_blob(max_concurrency=...)`` blob after blob.

rclone (S3, GCS, Azure; the OS package, e.g. ``apt-get install rclone``; skipped with a
note when it is not on ``PATH``): ``rclone copy`` with ``--transfers 8`` files at once and
``--rclone-streams`` (16) streams per file above 16 MiB, MD5 checked as it does by default.

Every download is checked byte for byte: each file's CRC32 against the one computed when
the data was seeded (after the timed part). Client CPU is user+sys seconds of the
contender's process and the processes it waited for (rclone), per GiB moved.

``--part-size MIB`` fixes unifs's part size (default: its own choice); ``UNIFS_BENCH_DEBUG=1``
makes each contender log unifs's gate and range splits to stderr.

Prints one table: MiB/s, each peer's speed as a ratio of unifs's, CPU-s per GiB, peak RSS.
Asserts nothing; moto copies the whole object for every ranged GET, so read S3 numbers with
that in mind: ``--providers s3rver`` runs the S3 contenders against s3rver (bench/s3rver.py;
``npm ci`` installs it), whose ranged GETs are independent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from typing import Any

from unifs.testing.network import guard

guard()  # benchmarks, like tests, never leave 127.0.0.1

MiB = 2**20
BUCKET = "unifs-bench"
DATASETS = ("model", "small", "large")
PROFILES = ("loopback", "link")
PEERS: dict[str, tuple[str, ...]] = {
    "s3": ("unifs", "fsspec", "obstore", "boto3", "rclone"),
    "gcs": ("unifs", "fsspec", "obstore", "rclone"),
    "azure": ("unifs", "fsspec", "obstore", "azure-blob", "rclone"),
    "oci": ("unifs", "fsspec", "unifs-fs"),
}
STOCK = {"s3": "s3fs", "gcs": "gcsfs", "azure": "adlfs", "oci": "ocifs"}


# -- datasets -------------------------------------------------------------------------------


def dataset_files(name: str, scale: float) -> dict[str, int]:
    """Relative path -> size for dataset ``name`` at ``scale``."""
    if name == "model":
        shard = max(MiB, int(256 * MiB * scale))
        files = {f"model-{i:05d}-of-00004.safetensors": shard for i in range(4)}
        small = ["config.json", "generation_config.json", "tokenizer.json",
                 "tokenizer_config.json", "special_tokens_map.json",
                 "model.safetensors.index.json", "README.md", "LICENSE", "vocab.json",
                 "merges.txt", "chat_template.jinja", "params.json"]  # fmt: skip
        files.update({name: 2048 + 977 * i for i, name in enumerate(small)})
        return files
    if name == "small":
        return {f"shards/{i // 100:02d}/f{i:05d}.bin": 32 * 1024 for i in range(int(2000 * scale))}
    if name == "large":
        return {"blob.bin": max(MiB, int(1024 * MiB * scale))}
    raise ValueError(name)


def seed(
    server: Any, dataset: str, scale: float, *, crcs: dict[str, int] | None = None
) -> tuple[str, dict[str, int]]:
    """Upload ``dataset`` to ``server``; return its root URI and files (``crcs``: their CRC32)."""
    import unifs

    files = dataset_files(dataset, scale)
    root = server.uri(BUCKET, f"{dataset}/")
    fs = server.filesystem()
    _, base = unifs.url_to_fs(root, **server.storage_options)
    pool = os.urandom(max(files.values()) + 4096)
    for index, (name, size) in enumerate(sorted(files.items())):
        # distinct bytes per file without generating each from scratch
        start = (index * 4099) % 4096
        data = memoryview(pool)[start : start + size]
        fs.pipe_file(f"{base.rstrip('/')}/{name}", bytes(data))
        if crcs is not None:
            crcs[name] = zlib.crc32(data)
    fs.invalidate_cache()
    return root, files


# -- contenders (each runs in a child process) ---------------------------------------------


# Each runner does its set-up (imports, clients) and returns what the timer measures.
Runner = Callable[[], None]


def run_unifs(job: dict[str, Any]) -> Runner:
    import unifs

    unifs.url_to_fs(job["root"], **job["options"])  # import the backend before timing

    def go() -> None:
        report = unifs.get(
            job["root"],
            job["dest"],
            concurrency=job["concurrency"],
            part_size=job["part_size"],
            **job["options"],
        )
        job["extra"] = (
            f"{report.requests} req, {len(report.checksum_verified)} verified, "
            f"{report.retries} retries, buffer peak {report.peak_buffer / MiB:.0f} MiB"
        )

    return go


def run_fsspec(job: dict[str, Any]) -> Runner:
    import unifs

    fs, path = unifs.url_to_fs(job["root"], **job["options"])
    if job["provider"] == "oci":
        # the stock peer is ocifs itself (unifs's OCI filesystem is measured as "unifs-fs")
        import ocifs

        fs = ocifs.OCIFileSystem(**job["options"])
    return lambda: fs.get(path.rstrip("/") + "/", job["dest"] + "/", recursive=True)


def run_unifs_fs(job: dict[str, Any]) -> Runner:
    """unifs's own filesystem through fsspec's plain ``get`` (no transfer engine)."""
    import unifs

    fs, path = unifs.url_to_fs(job["root"], **job["options"])
    return lambda: fs.get(path.rstrip("/") + "/", job["dest"] + "/", recursive=True)


def _obstore(job: dict[str, Any]) -> tuple[Any, str]:
    from obstore.store import AzureStore, GCSStore, S3Store

    o, provider, prefix = job["options"], job["provider"], job["prefix"]
    if provider == "s3":
        store = S3Store(
            BUCKET,
            endpoint=o["endpoint_url"],
            access_key_id=o["key"],
            secret_access_key=o["secret"],
            region="us-east-1",
            virtual_hosted_style_request=False,
            client_options={"allow_http": True},
        )
    elif provider == "gcs":
        store = GCSStore(
            BUCKET,
            base_url=o["endpoint_url"],
            skip_signature=True,
            client_options={"allow_http": True},
        )
    else:
        parts = dict(p.split("=", 1) for p in o["connection_string"].split(";") if p)
        store = AzureStore(
            BUCKET,
            account_name=parts["AccountName"],
            account_key=parts["AccountKey"],
            endpoint=parts["BlobEndpoint"],
            client_options={"allow_http": True},
        )
    return store, prefix


def run_obstore(job: dict[str, Any]) -> Runner:
    import obstore

    store, prefix = _obstore(job)
    dest = job["dest"]

    async def main() -> None:
        limit = asyncio.Semaphore(job["concurrency"])
        objects = [m for batch in obstore.list(store, prefix=prefix) for m in batch]

        async def one(meta: Any) -> None:
            async with limit:
                target = os.path.join(dest, meta["path"][len(prefix) :].lstrip("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                response = await obstore.get_async(store, meta["path"])
                with open(target, "wb") as handle:
                    async for chunk in response.stream(min_chunk_size=MiB):
                        handle.write(chunk)

        await asyncio.gather(*(one(m) for m in objects))

    return lambda: asyncio.run(main())


def run_boto3(job: dict[str, Any]) -> Runner:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from s3transfer.manager import TransferManager

    o = job["options"]
    client = boto3.client(
        "s3",
        endpoint_url=o["endpoint_url"],
        aws_access_key_id=o["key"],
        aws_secret_access_key=o["secret"],
        region_name="us-east-1",
    )
    config = TransferConfig(max_concurrency=job["concurrency"])

    def go() -> None:
        keys = [
            obj["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=BUCKET, Prefix=job["prefix"]
            )
            for obj in page.get("Contents", [])
        ]
        with TransferManager(client, config) as manager:
            futures = []
            for key in keys:
                target = os.path.join(job["dest"], key[len(job["prefix"]) :].lstrip("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                futures.append(manager.download(BUCKET, key, target))
            for future in futures:
                future.result()

    return go


def run_azure_blob(job: dict[str, Any]) -> Runner:
    from azure.storage.blob import ContainerClient

    container = ContainerClient.from_connection_string(job["options"]["connection_string"], BUCKET)

    def go() -> None:
        for blob in container.list_blobs(name_starts_with=job["prefix"]):
            target = os.path.join(job["dest"], blob.name[len(job["prefix"]) :].lstrip("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as handle:
                stream = container.download_blob(blob.name, max_concurrency=job["concurrency"])
                stream.readinto(handle)

    return go


def _rclone_remote(job: dict[str, Any]) -> tuple[dict[str, str], str]:
    """rclone settings for the job's store as environment variables; the remote path."""
    o, provider = job["options"], job["provider"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
    env.pop("AWS_CA_BUNDLE", None)  # rclone refuses the bundle this environment sets
    settings: dict[str, str]
    if provider == "s3":
        settings = {
            "type": "s3", "provider": "Other", "endpoint": o["endpoint_url"],
            "access_key_id": o["key"], "secret_access_key": o["secret"],
            "region": "us-east-1", "force_path_style": "true",
        }  # fmt: skip
        path = f"{BUCKET}/{job['prefix']}"
    elif provider == "gcs":
        # rclone reads from each object's mediaLink: the link proxy rewrites it to itself
        endpoint = o["endpoint_url"].rstrip("/") + "/storage/v1/"
        settings = {"type": "google cloud storage", "anonymous": "true", "endpoint": endpoint}
        path = f"{BUCKET}/{job['prefix']}"
    else:
        # with an account key rclone builds https://{account}.{endpoint}: a SAS URL it takes
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        parts = dict(p.split("=", 1) for p in o["connection_string"].split(";") if p)
        sas = generate_container_sas(
            parts["AccountName"],
            BUCKET,
            account_key=parts["AccountKey"],
            permission=ContainerSasPermissions(read=True, list=True),
            expiry=time.time() + 3600,  # type: ignore[arg-type]
        )
        settings = {"type": "azureblob", "sas_url": f"{parts['BlobEndpoint']}/{BUCKET}?{sas}"}
        path = f"{BUCKET}/{job['prefix']}"
    for name, value in settings.items():
        env[f"RCLONE_CONFIG_BENCH_{name.upper()}"] = value
    return env, f"bench:{path}"


def run_rclone(job: dict[str, Any]) -> Runner:
    env, remote = _rclone_remote(job)
    command = [
        "rclone", "copy", remote, job["dest"], "--config", os.devnull,
        "--transfers", "8", "--checkers", "16",
        "--multi-thread-streams", str(job["rclone_streams"]), "--multi-thread-cutoff", "16M",
    ]  # fmt: skip
    job["rss_of_children"] = True  # rclone's peak, not the Python process waiting for it

    def go() -> None:
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"rclone exit {done.returncode}: {done.stderr.strip()[-300:]}")

    return go


def _peak_rss() -> int:
    """This process's peak resident set since exec (VmHWM; ru_maxrss counts the parent's)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


RUNNERS: dict[str, Callable[[dict[str, Any]], Runner]] = {
    "unifs": run_unifs,
    "fsspec": run_fsspec,
    "unifs-fs": run_unifs_fs,
    "obstore": run_obstore,
    "boto3": run_boto3,
    "azure-blob": run_azure_blob,
    "rclone": run_rclone,
}


def child(job_file: str) -> int:
    """Run one contender described in ``job_file``; print seconds, bytes, files, peak RSS."""
    with open(job_file, "rb") as handle:
        job = pickle.load(handle)
    if os.environ.get("UNIFS_BENCH_DEBUG"):
        import logging

        logging.basicConfig(level=logging.WARNING, format="%(relativeCreated)6d %(message)s")
        logging.getLogger("unifs.engine").setLevel(logging.DEBUG)
    go = RUNNERS[job["contender"]](job)
    before = _cpu_seconds()
    started = time.perf_counter()
    go()
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - before
    rss = _peak_rss()
    if job.get("rss_of_children"):
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    result = {"seconds": seconds, "cpu": cpu, "rss": rss, "extra": job.get("extra", "")}
    result["check"] = check_download(job["dest"], job["expected"])
    print(json.dumps(result))
    return 0


def _cpu_seconds() -> float:
    """User+sys seconds of this process (all threads) and of the children it waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def check_download(dest: str, expected: dict[str, tuple[int, int]]) -> str:
    """ "ok" if ``dest`` holds exactly the expected files, byte for byte; else what differs."""
    from unifs.transfer import WORK_DIR

    found: dict[str, str] = {}
    for directory, _, names in os.walk(dest):
        if WORK_DIR in directory.split(os.sep):
            continue
        for name in names:
            path = os.path.join(directory, name)
            crc = 0
            with open(path, "rb") as handle:
                while block := handle.read(8 * MiB):
                    crc = zlib.crc32(block, crc)
            found[os.path.relpath(path, dest).replace(os.sep, "/")] = (
                f"{os.path.getsize(path)}:{crc}"
            )
    want = {name: f"{size}:{crc}" for name, (size, crc) in expected.items()}
    missing = sorted(set(want) - set(found))
    extra = sorted(set(found) - set(want))
    wrong = sorted(n for n in set(want) & set(found) if want[n] != found[n])
    if not (missing or extra or wrong):
        return "ok"
    return f"bad: {len(missing)} missing, {len(extra)} extra, {len(wrong)} wrong bytes"


# -- the parent: servers, link proxy, table ------------------------------------------------


def measure(
    contender: str,
    provider: str,
    root: str,
    prefix: str,
    options: dict[str, Any],
    expected: dict[str, tuple[int, int]],
    args: Any,
) -> dict[str, Any]:
    dest = tempfile.mkdtemp(prefix="unifs-bench-dst-")
    job = {
        "contender": contender,
        "provider": provider,
        "root": root,
        "prefix": prefix,
        "options": options,
        "dest": dest,
        "concurrency": args.concurrency,
        "part_size": int(args.part_size * MiB) if args.part_size else None,
        "rclone_streams": args.rclone_streams,
        "expected": expected,
    }
    with tempfile.NamedTemporaryFile("wb", suffix=".job", delete=False) as handle:
        pickle.dump(job, handle)
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--child", handle.name],
            capture_output=True,
            text=True,
            timeout=args.timeout,
        )
        if done.returncode != 0:
            lines = [x.strip() for x in done.stderr.strip().splitlines() if x.strip()]
            errors = [x for x in lines if "Error" in x or "error" in x] or lines[-1:]
            return {"error": errors[0][:160] if errors else f"exit {done.returncode}"}
        return json.loads(done.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout}s"}
    finally:
        os.unlink(handle.name)
        shutil.rmtree(dest, ignore_errors=True)


def start_link(endpoint: str, args: Any, provider: str) -> tuple[subprocess.Popen[str], str]:
    # fake-gcs-server routes by Host (obstore's XML-style paths need it), nothing there signs,
    # and its JSON names itself in each object's mediaLink (which rclone downloads from)
    rewrite = ["--rewrite-host", "--rewrite-links"] if provider == "gcs" else []
    process = subprocess.Popen(
        [
            sys.executable, "-m", "unifs.testing.faults", "--upstream", endpoint,
            "--rtt-ms", str(args.rtt_ms), "--conn-mibps", str(args.conn_mibps),
            "--total-mibps", str(args.total_mibps), "--exit-with-stdin", *rewrite,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dataset", default="all", help="model, small, large or all")
    parser.add_argument("--profile", default="all", help="loopback, link or all")
    parser.add_argument("--providers", default="s3,gcs,azure,oci", help="and s3rver")
    parser.add_argument("--scale", type=float, default=1.0, help="shrink sizes and counts")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender (median)")
    parser.add_argument("--concurrency", type=int, default=64, help="for every contender")
    parser.add_argument("--part-size", type=float, help="MiB, for unifs (default: its own)")
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--conn-mibps", type=float, default=16.0)
    parser.add_argument("--total-mibps", type=float, default=256.0)
    parser.add_argument("--timeout", type=float, default=900.0, help="per contender run")
    parser.add_argument("--contenders", help="comma-separated subset, e.g. unifs,obstore")
    parser.add_argument("--rclone-streams", type=int, default=16, help="streams per large file")
    parser.add_argument("--plot", help="write a PNG of MiB/s and CPU-s/GiB per contender here")
    parser.add_argument("--json", help="write every measured row as JSON here")
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    # a terminated run still stops its servers and proxies (atexit runs on SystemExit)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    from s3rver import start_s3rver

    from unifs.testing import servers
    from unifs.testing.faults import route_through

    datasets = DATASETS if args.dataset == "all" else tuple(args.dataset.split(","))
    profiles = PROFILES if args.profile == "all" else tuple(args.profile.split(","))
    wanted = set(args.contenders.split(",")) if args.contenders else None
    print(
        f"scale {args.scale}, concurrency {args.concurrency}, link: +{args.rtt_ms:g} ms RTT, "
        f"{args.conn_mibps:g} MiB/s per connection, {args.total_mibps:g} MiB/s in all; "
        f"{os.cpu_count()} cores",
        flush=True,
    )
    header = (
        f"{'profile':<9}{'provider':<7}{'dataset':<8}{'contender':<12}{'MiB':>7}{'MiB/s':>8}"
        f"{'vs unifs':>10}{'CPU-s/GiB':>10}{'peak RSS':>10}  bytes  notes"
    )
    rows: list[str] = []
    measured: list[dict[str, Any]] = []
    skipped: list[str] = []
    if shutil.which("rclone") is None:
        skipped.append("rclone: not on PATH (apt-get install rclone), not measured")
    for provider in args.providers.split(","):
        # s3rver is a second S3 server (bench/s3rver.py): S3's contenders, measured there
        kind = "s3" if provider == "s3rver" else provider
        server = start_s3rver() if provider == "s3rver" else servers.start(provider)
        try:
            server.make_bucket(BUCKET)
            for dataset in datasets:
                crcs: dict[str, int] = {}
                root, files = seed(server, dataset, args.scale, crcs=crcs)
                expected = {name: (size, crcs[name]) for name, size in files.items()}
                mib = sum(files.values()) / MiB
                _, fs_path = __import__("unifs").url_to_fs(root, **server.storage_options)
                prefix = fs_path.split("/", 1)[1] if "/" in fs_path else ""
                for profile in profiles:
                    link = None
                    options = dict(server.storage_options)
                    if profile == "link":
                        link, endpoint = start_link(server.endpoint, args, kind)
                        options = route_through(options, server.endpoint, endpoint)
                    try:
                        results: dict[str, dict[str, Any]] = {}
                        for contender in PEERS[kind]:
                            if wanted and contender not in wanted:
                                continue
                            if contender == "rclone" and shutil.which("rclone") is None:
                                continue
                            runs = [
                                measure(contender, kind, root, prefix, options, expected, args)
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
                            bad = [r["check"] for r in good if r["check"] != "ok"]
                            if bad:
                                best["error"] = bad[0]
                            results[contender] = best
                        ours = results.get("unifs", {})
                        for contender, r in results.items():
                            name = STOCK[kind] if contender == "fsspec" else contender
                            line = f"{profile:<9}{provider:<7}{dataset:<8}{name:<12}{mib:>7.0f}"
                            if "error" in r:
                                rows.append(f"{line}{'':>8}{'':>10}{'':>10}{'':>10}  {r['error']}")
                                print(rows[-1], flush=True)
                                continue
                            speed = mib / r["seconds"]
                            ratio = (
                                ours["seconds"] / r["seconds"]
                                if "seconds" in ours and "error" not in ours
                                else float("nan")
                            )
                            measured.append(
                                {"profile": profile, "provider": provider, "dataset": dataset,
                                 "contender": name, "mib": mib, "mibps": speed,
                                 "vs_unifs": ratio, "cpu_s_per_gib": r["cpu"] / (mib / 1024),
                                 "peak_rss_mib": r["rss"] / MiB, "check": r["check"]}
                            )  # fmt: skip
                            rows.append(
                                f"{line}{speed:>8.1f}{ratio:>9.2f}x{r['cpu'] / (mib / 1024):>10.2f}"
                                f"{r['rss'] / MiB:>7.0f}MiB  {r['check']:<5}  {r.get('extra', '')}"
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
    print("CPU-s/GiB = user+sys seconds of the client (and its child processes) per GiB moved")
    print("bytes: every downloaded file compared (size and CRC32) with what was seeded")
    for note in skipped:
        print(note)
    print(header)
    for row in rows:
        print(row)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {"args": vars(args), "cores": os.cpu_count(), "rows": measured}, handle, indent=1
            )
    if args.plot:
        plot(measured, args.plot)
    return 0


def plot(measured: list[dict[str, Any]], path: str) -> None:
    """MiB/s (top) and client CPU-s/GiB (bottom) per contender, one column per profile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    profiles = sorted({m["profile"] for m in measured}, key=PROFILES.index)
    fig, axes = plt.subplots(2, len(profiles), figsize=(7 * len(profiles), 7), squeeze=False)
    contenders = list(dict.fromkeys(m["contender"] for m in measured))
    colours = {c: plt.get_cmap("tab10")(i % 10) for i, c in enumerate(contenders)}
    for column, profile in enumerate(profiles):
        rows = [m for m in measured if m["profile"] == profile]
        groups = list(dict.fromkeys(f"{m['provider']}\n{m['dataset']}" for m in rows))
        for line, (key, label) in enumerate((("mibps", "MiB/s"), ("cpu_s_per_gib", "CPU-s/GiB"))):
            ax = axes[line][column]
            for g, group in enumerate(groups):
                here = [m for m in rows if f"{m['provider']}\n{m['dataset']}" == group]
                width = 0.8 / max(1, len(here))
                for i, m in enumerate(here):
                    colour = colours[m["contender"]]
                    x = g - 0.4 + width * (i + 0.5)
                    ax.bar(x, m[key], width, color=colour, label=m["contender"])
            ax.set_xticks(range(len(groups)), groups, fontsize=8)
            ax.set_ylabel(label)
            ax.set_title(f"{profile}: {label}")
    unique: dict[str, Any] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            unique.setdefault(label, handle)
    fig.legend(unique.values(), unique.keys(), loc="upper center", ncol=len(unique))
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    sys.exit(main())
