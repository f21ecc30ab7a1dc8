"""
What a folder upload did: one :class:`FileOutcome` per file and the bounded
:class:`FolderUploadSummary` that goes to XCom.

XCom stays bounded whatever the folder holds: the summary carries counts and bytes, at most
``max_keys`` keys in each key list (``keys_truncated`` tells when the lists were cut) and at most
``max_errors`` failures and ignored entries. A 100,000-file folder gives the same ~100 KB summary
as a 1,000-file one; a downstream task that needs every key lists the prefix instead
(``OssListOperator``), which also sees what other runs wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_oss.upload.errors import UploadError

if TYPE_CHECKING:
    from airflow_provider_oss.upload.folder_scan import FolderFile, FolderScan

#: What happened to a file: sent now, already in OSS, failed, or never tried (a fatal error stopped the run).
Status = Literal["uploaded", "skipped", "failed", "not_attempted"]
#: Keys listed in each key list of the summary at most, by default.
DEFAULT_MAX_KEYS = 1000
#: Failures (and ignored entries) listed in the summary and the error message at most, by default.
DEFAULT_MAX_ERRORS = 20


@dataclass(frozen=True)
class FileOutcome:
    """
    What happened to one file.

    :param file: the file.
    :param status: ``uploaded``, ``skipped`` (the object already held these bytes: same size and
        CRC-64), ``failed`` or ``not_attempted``.
    :param bytes_sent: bytes this run sent for it.
    :param resumed: True when this try uploaded it (``uploaded``) reusing parts an earlier try had stored.
    :param error: why it failed (one line, no secrets).
    """

    file: FolderFile
    status: Status
    bytes_sent: int = 0
    resumed: bool = False
    error: str | None = None


class FolderUploadError(UploadError):
    """
    Some files of a folder upload failed (the others were uploaded or skipped, none left half done).

    :param summary: the summary (as a dict, the XCom shape) of the run.
    """

    def __init__(self, message: str, *, summary: dict[str, Any]) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass
class FolderUploadSummary:
    """
    The outcome of a folder upload, bounded for XCom (see the module docstring).

    :param bucket: the bucket.
    :param prefix: the normalised key prefix.
    :param folder: the local folder.
    :param scan: what the scan found.
    :param outcomes: one outcome per scanned file, in the scan's order.
    :param seconds: the run's duration.
    :param max_keys: keys listed per key list at most.
    :param max_errors: failures and ignored entries listed at most.
    """

    bucket: str
    prefix: str
    folder: str
    scan: FolderScan
    outcomes: list[FileOutcome]
    seconds: float
    max_keys: int = DEFAULT_MAX_KEYS
    max_errors: int = DEFAULT_MAX_ERRORS
    _counts: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for status in ("uploaded", "skipped", "failed", "not_attempted"):
            self._counts[status] = sum(1 for o in self.outcomes if o.status == status)

    def count(self, status: Status) -> int:
        """How many files ended with ``status``."""
        return self._counts[status]

    @property
    def failures(self) -> list[tuple[str, str]]:
        """``(relative path, reason)`` of every refused entry, then of every failed file, in order."""
        listed = [(entry.relpath, entry.reason) for entry in self.scan.refused]
        listed += [(o.file.relpath, o.error or "failed") for o in self.outcomes if o.status == "failed"]
        return listed

    @property
    def ok(self) -> bool:
        """True when every selected file is in OSS and nothing was refused."""
        return not self.scan.refused and self.count("failed") == 0 and self.count("not_attempted") == 0

    def to_dict(self) -> dict[str, Any]:
        """The XCom value: counts, bytes, bounded key lists, the first failures."""
        in_oss = [o.file.key for o in self.outcomes if o.status in ("uploaded", "skipped")]
        uploaded = [o.file.key for o in self.outcomes if o.status == "uploaded"]
        failures = self.failures
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "folder": self.folder,
            "files": len(self.outcomes),
            "uploaded": self.count("uploaded"),
            "skipped": self.count("skipped"),
            "failed": len(failures),
            "not_attempted": self.count("not_attempted"),
            "ignored": len(self.scan.ignored),
            "resumed": sum(1 for o in self.outcomes if o.resumed),
            "bytes_total": self.scan.total_bytes,
            "bytes_sent": sum(o.bytes_sent for o in self.outcomes),
            "bytes_skipped": sum(o.file.size for o in self.outcomes if o.status == "skipped"),
            "seconds": round(self.seconds, 3),
            "keys": in_oss[: self.max_keys],
            "uploaded_keys": uploaded[: self.max_keys],
            "keys_truncated": len(in_oss) > self.max_keys,
            "failures": [{"path": p, "error": e} for p, e in failures[: self.max_errors]],
            "ignored_entries": [
                {"path": entry.relpath, "reason": entry.reason}
                for entry in self.scan.ignored[: self.max_errors]
            ],
        }

    def describe(self) -> str:
        """One line for the log."""
        d = self.to_dict()
        return (
            f"Folder {self.folder} -> oss://{self.bucket}/{self.prefix}: {d['files']} file(s), {d['uploaded']} "
            f"uploaded ({d['bytes_sent']} bytes sent, {d['resumed']} resumed), {d['skipped']} skipped (already in "
            f"OSS, {d['bytes_skipped']} bytes), {d['failed']} failed, {d['not_attempted']} not attempted, "
            f"{d['ignored']} ignored, in {d['seconds']:.1f} s."
        )

    def error(self) -> FolderUploadError:
        """The error naming the first failures (call when not :attr:`ok`)."""
        failures = self.failures
        shown = "; ".join(f"{path}: {reason}" for path, reason in failures[: self.max_errors])
        more = f" (and {len(failures) - self.max_errors} more)" if len(failures) > self.max_errors else ""
        not_tried = self.count("not_attempted")
        tail = (
            f" {not_tried} file(s) were not attempted after that error; a retry uploads them and skips the "
            "files already in OSS."
            if not_tried
            else " The other files are in OSS; a retry skips them."
        )
        return FolderUploadError(
            f"{len(failures)} of {len(self.outcomes) + len(self.scan.refused)} file(s) of {self.folder} could not be "
            f"uploaded to oss://{self.bucket}/{self.prefix}: {shown}{more}.{tail}",
            summary=self.to_dict(),
        )
