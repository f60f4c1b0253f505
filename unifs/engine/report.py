"""What a transfer did (``TransferReport``, ``SyncReport``) and the error that carries it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from unifs.engine.filters import unmatched
from unifs.engine.limits import MiB
from unifs.errors import TransferError as TransferError

#: what a file whose store keeps no usable checksum was checked by (the pinned version's size)
SIZE_ONLY = "size+version only"


@dataclass
class TransferReport:
    """What a transfer did: files moved, skipped, verified, failed, retried, and how fast."""

    source: str
    destination: str
    transferred: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: files whose checksum (not only size) matched the store's
    checksum_verified: list[str] = field(default_factory=list)
    #: files the store reports no usable checksum for: only their size was compared
    size_only: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    #: bytes moved over the network by this run (resumed parts not counted)
    bytes_transferred: int = 0
    seconds: float = 0.0
    #: requests retried after a transient failure
    retries: int = 0
    #: files completed from parts an earlier, interrupted run left behind
    resumed: list[str] = field(default_factory=list)
    #: bytes those earlier parts held, which this run did not fetch again
    bytes_resumed: int = 0
    #: why a file in ``size_only`` could not be checksum-verified, where there was a reason
    unverified: dict[str, str] = field(default_factory=dict)
    #: requests made for data (ranged GETs, uploads)
    requests: int = 0
    #: most bytes held in the byte budget at once
    peak_buffer: int = 0
    #: most requests allowed in flight at once (the engine ramps up to ``concurrency``)
    peak_requests: int = 0
    #: what the run did differently from what was asked, and why (each said once)
    notes: list[str] = field(default_factory=list)
    #: per file, what it was verified against: ``crc64nvme``, ``crc32c``, ``md5``,
    #: ``md5-of-parts``, or ``size+version only``
    verified_against: dict[str, str] = field(default_factory=dict)
    #: ``include`` patterns that kept no source file (each most likely a typo: not an error,
    #: as an empty prefix is not; the ``unifs`` command exits 3 unless ``--allow-empty``)
    unmatched: list[str] = field(default_factory=list)

    def selected(self) -> list[str]:
        """The source files the filters kept: moved, skipped as valid, or failed."""
        return [*self.transferred, *self.skipped, *self.failed]

    def check_includes(self, include: Sequence[str] | None) -> None:
        """Record (in ``unmatched`` and ``notes``) the patterns of ``include`` that kept no file."""
        if not include:
            return
        self.unmatched = unmatched(include, self.selected())
        if self.unmatched:
            names = ", ".join(repr(p) for p in self.unmatched)
            self.notes.append(f"include {names} matched no file")

    def settle(self, relative: str, against: str | None) -> None:
        """Count ``relative`` as checksum-verified against ``against`` (None: size only)."""
        (self.checksum_verified if against else self.size_only).append(relative)
        self.verified_against[relative] = against or SIZE_ONLY

    @property
    def files(self) -> int:
        """Number of files transferred (not counting skipped ones)."""
        return len(self.transferred)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed

    @property
    def throughput(self) -> float:
        """Bytes per second over the whole transfer."""
        return self.bytes_transferred / self.seconds if self.seconds else 0.0

    def raise_if_failed(self, how_many: str) -> None:
        """Raise :class:`TransferError` with this report if any file failed.

        ``how_many`` completes "N ... failed": ``"of 12 files"``, ``"files to copy"``.
        """
        if self.failed:
            name, why = next(iter(self.failed.items()))
            raise TransferError(
                f"{len(self.failed)} {how_many} failed (first: {name}: {why})", self
            )

    def summary(self) -> str:
        """One line for a log or a terminal."""
        mib = self.bytes_transferred / MiB
        line = (
            f"{self.files} files ({mib:.1f} MiB) in {self.seconds:.2f}s "
            f"({self.throughput / MiB:.1f} MiB/s), {len(self.skipped)} skipped as valid, "
            f"{len(self.checksum_verified)} checksum-verified, {len(self.size_only)} size-only"
        )
        if self.resumed:
            line += f", {len(self.resumed)} resumed"
        if self.retries:
            line += f", {self.retries} retries"
        if self.failed:
            line += f", {len(self.failed)} FAILED"
        for note in self.notes:
            line += f"; {note}"
        return line


@dataclass
class SyncReport(TransferReport):
    """A :class:`TransferReport` that also says what a sync deleted, or would do."""

    #: destination files removed because the source lacks them (``delete=True``)
    deleted: list[str] = field(default_factory=list)
    #: with ``dry_run``: the files that would be copied (nothing was)
    would_copy: list[str] = field(default_factory=list)
    #: with ``dry_run``: the files that would be deleted (nothing was)
    would_delete: list[str] = field(default_factory=list)
    dry_run: bool = False

    def selected(self) -> list[str]:
        """The source files the filters kept (with ``dry_run``: those it would copy too)."""
        return [*super().selected(), *self.would_copy]

    def summary(self) -> str:
        """One line for a log or a terminal."""
        if self.dry_run:
            line = (
                f"dry run: would copy {len(self.would_copy)} files, delete "
                f"{len(self.would_delete)}; {len(self.skipped)} already match"
            )
            return "".join([line, *(f"; {note}" for note in self.notes)])
        line = super().summary()
        return line + (f", {len(self.deleted)} deleted" if self.deleted else "")
