"""Sign and verify models where they live, in the OpenSSF model-signing format.

>>> unifs.sign_model("s3://models/llama/", private_key="signer.pem")        # doctest: +SKIP
's3://models/llama/model.sig'
>>> report = unifs.verify_model("s3://models/llama/", public_key="signer.pub")  # doctest: +SKIP
>>> report.ok, report.summary()                                               # doctest: +SKIP

A signature is a Sigstore bundle over an in-toto statement that lists every file of the
model with its SHA-256 -- the format of the ``model-signing`` library (PyPI
``model-signing``, ``pip install 'unifs[signing]'``), so a signature unifs makes verifies
with ``model_signing`` and one ``model_signing`` makes (with an elliptic-curve key)
verifies with unifs. What unifs adds is the place: the model may be a local directory or a
prefix on any store, and verifying one in a bucket needs no local copy -- each object is
streamed once and hashed as its bytes arrive.

The runbook's simpler ``model_signature.json`` (``{"artifact_uri": ..., "sha256": ...}``)
is read too; it proves integrity of one object, not who made it (``report.signed`` is
False).

:func:`verify_files` checks files already on disk (a download in its staging directory)
against a signature: ``download_artifact(..., verify_signature=...)`` calls it before it
publishes a model, and the transfer engine can call it before it renames a download into
place, passing the SHA-256 digests it computed as the data landed.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import posixpath
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from typing import Any

from unifs.engine.hooks import register_hook
from unifs.errors import MissingDependencyError
from unifs.errors import ModelVerificationError as ModelVerificationError
from unifs.types import AuthLike

__all__ = [
    "DEFAULT_SIGNATURE_NAME",
    "ModelVerificationError",
    "VerificationReport",
    "digest_files",
    "sign_model",
    "verify_files",
    "verify_model",
]

#: where a signature goes when none is named: inside the model, as model_signing's CLI does
DEFAULT_SIGNATURE_NAME = "model.sig"
#: paths model_signing leaves out of every manifest unless told otherwise
GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")
_CHUNK = 8 * 2**20
_THREADS = 8


@dataclass
class VerificationReport:
    """What verifying a model found, file by file."""

    model: str
    signature: str
    #: "model-signing" (a signed manifest) or "sha256-json" (the runbook's checksum file)
    kind: str
    #: True when a key vouched for the digests; False for a bare checksum file
    signed: bool
    verified: list[str] = field(default_factory=list)
    #: files whose bytes differ from what was signed
    differing: list[str] = field(default_factory=list)
    #: files the signature lists that are not in the model
    missing: list[str] = field(default_factory=list)
    #: files in the model that the signature does not list
    extra: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every signed file is present and identical, and nothing is extra."""
        return not (self.differing or self.missing or self.extra)

    def summary(self) -> str:
        """One line: OK with a count, or each problem with the files it concerns."""
        what = "signed manifest" if self.signed else "unsigned SHA-256 checksum"
        if self.ok:
            return f"OK: {len(self.verified)} files match the {what} ({self.kind})"
        problems = [
            f"{label}: {', '.join(names)}"
            for label, names in (
                ("differs", self.differing),
                ("missing", self.missing),
                ("extra", self.extra),
            )
            if names
        ]
        return f"FAILED against the {what}: " + "; ".join(problems)

    def raise_for_failure(self) -> VerificationReport:
        """Raise :class:`ModelVerificationError` naming the files unless ``ok``; return self."""
        if not self.ok:
            raise ModelVerificationError(f"{self.model}: {self.summary()}", self)
        return self


# -- model-signing, in one place --------------------------------------------------------------


def _model_signing() -> Any:
    try:
        import model_signing  # noqa: F401
        from model_signing import manifest
        from model_signing._hashing import hashing
        from model_signing._signing import sign_ec_key, sign_sigstore_pb, signing
    except ImportError as exc:
        raise MissingDependencyError("model signing", "signing", "model-signing") from exc

    return SimpleNamespace(
        manifest=manifest,
        hashing=hashing,
        ec_key=sign_ec_key,
        bundle=sign_sigstore_pb,
        signing=signing,
    )


@dataclass(frozen=True)
class _Expected:
    digests: dict[str, str]  # relative path -> sha256 hex
    ignore: tuple[str, ...]
    kind: str
    signed: bool


def _bundle_manifest(signature_file: Path, public_key: str | os.PathLike[str]) -> _Expected:
    lib = _model_signing()
    try:
        verifier = lib.ec_key.Verifier(Path(public_key))
        bundle = lib.bundle.Signature.read(signature_file)
        manifest = verifier.verify(bundle)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ModelVerificationError(
            f"the signature does not verify with the public key {os.fspath(public_key)!r} "
            f"({type(exc).__name__}): it was made with another key, or it was altered"
        ) from exc
    except Exception as exc:  # cryptography's InvalidSignature and kin
        raise ModelVerificationError(
            f"the signature does not verify with the public key {os.fspath(public_key)!r} "
            f"({type(exc).__name__})"
        ) from exc
    params = manifest.serialization_type
    if params.get("method") != "files" or params.get("hash_type") != "sha256":
        raise ModelVerificationError(
            f"this signature hashes the model as {params.get('method')}/"
            f"{params.get('hash_type')}; unifs verifies the default files/sha256 form "
            "(sign with model_signing's defaults, or verify with model_signing directly)"
        )
    digests = {rd.identifier: rd.digest.digest_hex for rd in manifest.resource_descriptors()}
    ignore = tuple(str(p) for p in params.get("ignore_paths", ())) + GIT_PATHS
    return _Expected(digests, ignore, "model-signing", True)


def _read_expected(
    signature: str | os.PathLike[str],
    public_key: str | os.PathLike[str] | None,
    auth: AuthLike,
    storage_options: dict[str, Any],
) -> tuple[_Expected, str | None]:
    """The digests a signature vouches for; plus ``artifact_uri`` for a checksum file."""
    raw = _read_bytes(signature, auth, storage_options)
    simple = _simple_checksum(raw)
    if simple is not None:
        uri, digest = simple
        return _Expected({"": digest}, (), "sha256-json", False), uri
    if public_key is None:
        raise ModelVerificationError(
            f"{_show(signature)} is a model-signing bundle: pass the public key it was signed "
            "with (public_key=..., or --public-key PUB)"
        )
    with tempfile.TemporaryDirectory(prefix="unifs-sig-") as tmp:
        path = Path(tmp) / "model.sig"
        path.write_bytes(raw)
        return _bundle_manifest(path, public_key), None


def _simple_checksum(raw: bytes) -> tuple[str | None, str] | None:
    """The runbook's ``{"artifact_uri": ..., "sha256": ...}``, if ``raw`` is one."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or "sha256" not in data or "mediaType" in data:
        return None
    digest = str(data["sha256"]).lower().removeprefix("sha256:")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ModelVerificationError("model_signature.json: 'sha256' is not a SHA-256 hex digest")
    uri = data.get("artifact_uri")
    return (str(uri) if uri else None), digest


# -- reading the model where it lives ---------------------------------------------------------


def is_local(target: str | os.PathLike[str]) -> bool:
    """True when ``target`` is a local path (or ``file://`` URI) rather than a store's URI."""
    from unifs.registry import get_provider
    from unifs.uri import parse

    return get_provider(parse(os.fspath(target)).provider).local_disk


def _show(target: str | os.PathLike[str]) -> str:
    """A location safe to print: a URI without credentials (PAR tokens stay out)."""
    from unifs.uri import parse

    try:
        return str(parse(os.fspath(target)))
    except ValueError:
        return "<signature>"


def _read_bytes(target: str | os.PathLike[str], auth: AuthLike, options: dict[str, Any]) -> bytes:
    if is_local(target):
        return Path(os.fspath(target)).expanduser().read_bytes()
    from unifs.filesystem import open as unifs_open

    with unifs_open(os.fspath(target), "rb", auth=auth, **options) as handle:
        data: bytes = handle.read()
    return data


def _write_bytes(
    target: str | os.PathLike[str], data: bytes, auth: AuthLike, options: dict[str, Any]
) -> None:
    if is_local(target):
        path = Path(os.fspath(target)).expanduser()
        tmp = path.with_name(f".{path.name}.unifs-tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return
    from unifs.filesystem import open as unifs_open

    with unifs_open(os.fspath(target), "wb", auth=auth, **options) as handle:
        handle.write(data)


def _as_prefix(model: str | os.PathLike[str]) -> str:
    text = os.fspath(model)
    return text if text.endswith("/") else text + "/"


def _ignored(relative: str, ignore: Iterable[str]) -> bool:
    for entry in ignore:
        entry = entry.strip("/")
        if entry and (relative == entry or relative.startswith(entry + "/")):
            return True
    return False


def _sha256_stream(handle: Any) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def digest_files(
    model: str | os.PathLike[str],
    *,
    ignore: Iterable[str] = (),
    auth: AuthLike = None,
    follow_symlinks: bool = False,
    **storage_options: Any,
) -> dict[str, str]:
    """SHA-256 of every file under a directory or prefix, streamed: ``{relative: hex}``.

    Remote objects are read once, in parallel, and hashed as the bytes arrive; nothing is
    written to disk. ``ignore`` lists relative paths (files or directories) to leave out.
    A local directory holding a symlink is refused unless ``follow_symlinks`` (then each
    link is hashed as what it points to), and one holding a special file always is
    (:mod:`unifs.model_files`).
    """
    from unifs.engine.listing import list_files, prefix_base
    from unifs.filesystem import url_to_fs

    ignore = tuple(ignore)
    fs, path = url_to_fs(_as_prefix(model), auth=auth, **storage_options)
    listing = list_files(fs, path, keep=lambda relative: not _ignored(relative, ignore))
    names = {f.relative: f.path for f in listing.files}
    if not names and not fs.isdir(prefix_base(fs, path)):
        raise FileNotFoundError(f"no model at {_show(model)}: nothing under it")
    names.update(_linked(fs, prefix_base(fs, path), model, ignore, follow_symlinks))

    def one(remote: str) -> str:
        with fs.open(remote, "rb", block_size=_CHUNK) as handle:
            return _sha256_stream(handle)

    with concurrent.futures.ThreadPoolExecutor(_THREADS, thread_name_prefix="unifs-hash") as pool:
        digests = dict(zip(names, pool.map(one, names.values()), strict=True))
    return digests


def _linked(
    fs: Any, base: str, model: str | os.PathLike[str], ignore: tuple[str, ...], follow: bool
) -> dict[str, str]:
    """A local model's files reached through symlinks; refuses what cannot be signed."""
    from unifs.model_files import linked_files
    from unifs.registry import provider_for_filesystem

    provider = provider_for_filesystem(fs)
    if provider is None or not provider.local_disk or not os.path.isdir(base):
        return {}
    return linked_files(
        base,
        ignored=lambda relative: _ignored(relative, ignore),
        follow_symlinks=follow,
        where=_show(model),
    )


def _compare(
    model: str, signature: str, expected: _Expected, actual: Mapping[str, str]
) -> VerificationReport:
    report = VerificationReport(model, signature, expected.kind, expected.signed)
    for name in sorted(set(expected.digests) | set(actual)):
        want, got = expected.digests.get(name), actual.get(name)
        if want is None:
            report.extra.append(name)
        elif got is None:
            report.missing.append(name)
        elif want != got:
            report.differing.append(name)
        else:
            report.verified.append(name)
    return report


# -- the public verbs -------------------------------------------------------------------------


def sign_model(
    uri_or_dir: str | os.PathLike[str],
    *,
    private_key: str | os.PathLike[str],
    signature: str | os.PathLike[str] | None = None,
    password: str | None = None,
    ignore: Iterable[str] = (),
    auth: AuthLike = None,
    follow_symlinks: bool = False,
    **storage_options: Any,
) -> str:
    """Sign the model (a directory or a prefix on any store) with an elliptic-curve key.

    Every file is hashed with SHA-256 where it lives (streamed; no local copy), and the
    manifest is signed as a model-signing (OpenSSF) Sigstore bundle. The signature is
    written to ``signature`` (a local path or a URI), by default ``model.sig`` inside the
    model, and left out of the manifest, as are ``ignore`` paths and git files.
    ``private_key`` is a PEM file (``password`` if it is encrypted). Returns where the
    signature was written. A local model holding a symlink is refused unless
    ``follow_symlinks`` (each link is then signed as the bytes it points to), as
    model-signing's ``allow_symlinks`` does.
    """
    lib = _model_signing()
    try:
        signer = lib.ec_key.Signer(Path(private_key), password)
    except (TypeError, ValueError) as exc:
        raise ModelVerificationError(
            f"cannot sign with {os.fspath(private_key)!r}: it must be a PEM elliptic-curve "
            f"private key (P-256, P-384 or P-521), with its password if encrypted "
            f"({type(exc).__name__})"
        ) from None
    prefix = _as_prefix(uri_or_dir)
    target = os.fspath(signature) if signature is not None else prefix + DEFAULT_SIGNATURE_NAME
    ignored = [*ignore]
    inside = _relative_inside(prefix, target)
    if inside is not None:
        ignored.append(inside)
    ignored += [p for p in GIT_PATHS if p not in ignored]
    digests = digest_files(
        prefix, ignore=ignored, auth=auth, follow_symlinks=follow_symlinks, **storage_options
    )
    if not digests:
        raise FileNotFoundError(f"nothing to sign at {_show(uri_or_dir)}: it holds no files")
    items = [
        lib.manifest.FileManifestItem(
            path=PurePosixPath(name), digest=lib.hashing.Digest("sha256", bytes.fromhex(hexd))
        )
        for name, hexd in digests.items()
    ]
    serialization = lib.manifest.SerializationType.from_args(
        {
            "method": "files",
            "hash_type": "sha256",
            "allow_symlinks": follow_symlinks,
            "ignore_paths": sorted(set(ignored)),
        }
    )
    name = posixpath.basename(prefix.rstrip("/")) or "model"
    manifest = lib.manifest.Manifest(name, items, serialization)
    bundle = signer.sign(lib.signing.Payload(manifest))
    with tempfile.TemporaryDirectory(prefix="unifs-sig-") as tmp:
        out = Path(tmp) / "model.sig"
        bundle.write(out)
        _write_bytes(target, out.read_bytes(), auth, storage_options)
    return target


def _relative_inside(prefix: str, target: str) -> str | None:
    """``target``'s path below the model ``prefix``, when the signature lives inside it."""
    from unifs.uri import normalize

    try:
        base, full = normalize(prefix), normalize(target)
    except ValueError:
        return None
    base = base if base.endswith("/") else base + "/"
    return full[len(base) :] if full.startswith(base) else None


def verify_model(
    uri_or_dir: str | os.PathLike[str] | None = None,
    *,
    public_key: str | os.PathLike[str] | None = None,
    signature: str | os.PathLike[str] | None = None,
    auth: AuthLike = None,
    follow_symlinks: bool = False,
    **storage_options: Any,
) -> VerificationReport:
    """Check a model (directory or prefix) against its signature, hashing as it streams.

    ``signature`` defaults to ``model.sig`` inside the model; it may be a model-signing
    bundle (then ``public_key`` is the PEM key it was signed with) or the runbook's
    ``model_signature.json`` (``{"artifact_uri": ..., "sha256": ...}``: one object, no key;
    ``uri_or_dir`` defaults to its ``artifact_uri``). Returns a report naming each file that
    differs, is missing or is extra (``report.ok``, ``report.raise_for_failure()``);
    raises :class:`ModelVerificationError` when the signature itself does not verify, and
    :class:`unifs.model_files.UnsafeModelFileError` when a local model holds a symlink
    (unless ``follow_symlinks``) or a special file.
    """
    if signature is None:
        if uri_or_dir is None:
            raise ValueError("verify_model needs the model, the signature, or both")
        signature = _as_prefix(uri_or_dir) + DEFAULT_SIGNATURE_NAME
    expected, artifact_uri = _read_expected(signature, public_key, auth, storage_options)
    if expected.kind == "sha256-json":
        target = uri_or_dir if uri_or_dir is not None else artifact_uri
        if target is None:
            raise ValueError(f"{_show(signature)} names no artifact_uri: pass the artifact")
        actual = {"": _digest_one(target, auth, storage_options)}
        return _compare(_show(target), _show(signature), expected, actual)
    assert uri_or_dir is not None
    actual = digest_files(
        uri_or_dir,
        ignore=expected.ignore,
        auth=auth,
        follow_symlinks=follow_symlinks,
        **storage_options,
    )
    return _compare(_show(uri_or_dir), _show(signature), expected, actual)


def _digest_one(target: str | os.PathLike[str], auth: AuthLike, options: dict[str, Any]) -> str:
    from unifs.filesystem import open as unifs_open

    try:
        with unifs_open(os.fspath(target), "rb", auth=auth, **options) as handle:
            return _sha256_stream(handle)
    except IsADirectoryError:
        raise ModelVerificationError(
            f"{_show(target)} is a directory; a model_signature.json holds the SHA-256 of one "
            "object: point it at that object"
        ) from None


def verify_files(
    files: Mapping[str, str | os.PathLike[str]],
    *,
    signature: str | os.PathLike[str] | bool,
    public_key: str | os.PathLike[str] | None = None,
    digests: Mapping[str, str] | None = None,
    model: str | None = None,
    auth: AuthLike = None,
    follow_symlinks: bool = False,
    **storage_options: Any,
) -> VerificationReport:
    """Refuse downloaded files that do not match a signature; return the report when they do.

    ``files`` maps each relative path (as in the model) to the local file holding it;
    ``digests`` may give SHA-256 hex digests already computed (a transfer engine hashes as
    data lands), which are used instead of reading those files again. ``signature`` is a
    local path or URI of a model-signing bundle (with ``public_key``) or of a
    ``model_signature.json`` (then ``files`` holds the one object); True is the
    ``model.sig`` inside ``model``, where model_signing's CLI keeps it. Raises
    :class:`ModelVerificationError` naming each file that differs, is missing or is extra.
    ``model`` is how the report and error name the model (default: the files' common
    directory); give the source URI rather than a staging path. A file that is a symlink
    (unless ``follow_symlinks``) or a special file is refused by name.
    """
    if signature is True:
        if model is None:
            raise ValueError("signature=True means the model.sig inside model=: give model")
        signature = model.rstrip("/") + "/" + DEFAULT_SIGNATURE_NAME
    elif signature is False:
        raise ValueError("signature=False checks nothing: give a signature path or URI")
    from unifs.model_files import check_local_files

    expected, _ = _read_expected(signature, public_key, auth, storage_options)
    check_local_files(
        {r: p for r, p in files.items() if not _ignored(r.replace(os.sep, "/"), expected.ignore)},
        follow_symlinks=follow_symlinks,
        where=model or "the downloaded model",
    )
    given = dict(digests or {})
    actual: dict[str, str] = {}
    for relative, local in files.items():
        relative = relative.replace(os.sep, "/")
        if _ignored(relative, expected.ignore):
            continue
        if relative in given:
            actual[relative] = given[relative]
            continue
        with open(local, "rb") as handle:
            actual[relative] = _sha256_stream(handle)
    if expected.kind == "sha256-json":
        if len(actual) != 1:
            raise ModelVerificationError(
                f"{_show(signature)} holds the SHA-256 of one object, but {len(actual)} files "
                "were downloaded"
            )
        actual = {"": next(iter(actual.values()))}
    if model is None:
        model = os.path.commonpath([os.fspath(p) for p in files.values()]) if files else ""
    report = _compare(model, _show(signature), expected, actual)
    return report.raise_for_failure()


# unifs.get(..., verify_signature=...) checks through this (the engine's hooks; the
# ``unifs.hooks`` entry point names this module)
register_hook("verify_files", verify_files)
