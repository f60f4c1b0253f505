"""What a transfer did (``TransferReport``) and the error that carries it."""

from __future__ import annotations

from dataclasses import dataclass, field

from unifs.errors import UnifsError
from unifs.transfer.limits import MiB


class TransferError(UnifsError, OSError):
    """One or more files failed to transfer; ``report`` says which and why."""

    def __init__(self, message: str, report: TransferReport) -> None:
        super().__init__(message)
        self.report = report


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
