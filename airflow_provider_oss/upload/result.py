"""What an upload run returns."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_oss.core.models import ObjectInfo
    from airflow_provider_oss.upload.progress import ProgressTracker


@dataclass
class UploadResult:
    """
    What :meth:`ResumableUploader.run` did.

    :param bucket: the bucket.
    :param key: the object key.
    :param etag: the object's ETag.
    :param crc64: the object's CRC-64 (as OSS reports it, checked against the local bytes).
    :param size: the object's size.
    :param upload_id: the multipart upload ID (None for a single PutObject).
    :param parts_total: parts in the plan (1 for a single PutObject).
    :param parts_reused: parts an earlier try had stored, reused after a CRC-64 check.
    :param parts_sent: parts sent by this run.
    :param bytes_sent: bytes sent by this run.
    :param bytes_reused: bytes of the reused parts.
    :param resumed: True when this run built on what an earlier try left: it reused at least one
        part (``parts_reused > 0``) or found the object already complete (``already_complete``);
        False when this run sent every byte itself. The same in every checkpoint mode (see
        docs/XCOM_RESULTS.md).
    :param seconds: the run's duration.
    :param already_complete: True when this run sent nothing because the object already held
        exactly this file (size and CRC-64 checked): an earlier try, or a re-run, had completed it.
    :param parts_reused_confirmed: of ``parts_reused``, the confirmed ones: the checkpoint had
        confirmed them with the CRC-64 that OSS lists, so the file was not read again for them.
    :param callback_response: with an upload callback, the callback server's answer as OSS relayed
        it (the JSON value, or its text when it is not JSON); None without a callback, or when the
        object was already complete and nothing was sent.
    :param uploads_left_in_progress: upload IDs of in-progress uploads of the key that this run
        found in OSS's list (discover mode on a retry, or a damaged checkpoint) and left alone:
        neither continued nor aborted (another writer's, or one a killed try started and stored no
        part in). Each is logged with its ``oss-uploads abort`` command. Empty when none was found
        or OSS's list was not consulted (a first try, a usable checkpoint).
    """

    bucket: str
    key: str
    etag: str
    crc64: int | None
    size: int
    upload_id: str | None
    parts_total: int
    parts_reused: int
    parts_sent: int
    bytes_sent: int
    bytes_reused: int
    resumed: bool
    seconds: float
    already_complete: bool = False
    parts_reused_confirmed: int = 0
    callback_response: Any = None
    uploads_left_in_progress: list[str] = field(default_factory=list)

    @classmethod
    def of_single_put(
        cls, bucket: str, key: str, *, etag: str, crc64: int, size: int, seconds: float
    ) -> UploadResult:
        """The result of a file sent in one PutObject."""
        return cls(
            bucket=bucket,
            key=key,
            etag=etag,
            crc64=crc64,
            size=size,
            upload_id=None,
            parts_total=1,
            parts_reused=0,
            parts_sent=1,
            bytes_sent=size,
            bytes_reused=0,
            resumed=False,
            seconds=seconds,
        )

    @classmethod
    def of_existing_object(
        cls, bucket: str, key: str, info: ObjectInfo, upload_id: str | None, seconds: float
    ) -> UploadResult:
        """The result when the object already held the file (an earlier try completed it): nothing sent."""
        return cls(
            bucket=bucket,
            key=key,
            etag=info.etag,
            crc64=info.crc64,
            size=info.size,
            upload_id=upload_id,
            parts_total=0,
            parts_reused=0,
            parts_sent=0,
            bytes_sent=0,
            bytes_reused=0,
            resumed=True,
            seconds=seconds,
            already_complete=True,
        )

    @classmethod
    def of_multipart(
        cls,
        bucket: str,
        key: str,
        *,
        etag: str,
        crc64: int | None,
        size: int,
        upload_id: str,
        parts_total: int,
        progress: ProgressTracker,
        seconds: float,
        already_complete: bool = False,
    ) -> UploadResult:
        """The result of a multipart run: the object's identity plus what this run sent and reused."""
        return cls(
            bucket=bucket,
            key=key,
            etag=etag,
            crc64=crc64,
            size=size,
            upload_id=upload_id,
            parts_total=parts_total,
            parts_reused=progress.parts_reused,
            parts_sent=progress.parts_sent,
            bytes_sent=progress.bytes_sent,
            bytes_reused=progress.bytes_reused,
            resumed=progress.parts_reused > 0 or already_complete,
            seconds=seconds,
            already_complete=already_complete,
        )

    def log_completion(self, logger: logging.Logger | logging.LoggerAdapter[Any], *, resends: int) -> None:
        """
        Log the line that closes a multipart run: the object, its verified CRC-64, what was sent and reused.

        :param logger: where to log.
        :param resends: parts sent twice because OSS reported another CRC-64 the first time.
        """
        confirmed = self.parts_reused_confirmed
        logger.info(
            "Completed oss://%s/%s from upload ID %s: %d bytes, CRC-64 %s verified; %d part(s) sent (%d bytes), "
            "%d reused (%d bytes; %d confirmed by the checkpoint, not read; %d read and CRC-checked again)%s, "
            "in %.1f s.",
            self.bucket,
            self.key,
            self.upload_id,
            self.size,
            self.crc64,
            self.parts_sent,
            self.bytes_sent,
            self.parts_reused,
            self.bytes_reused,
            confirmed,
            self.parts_reused - confirmed,
            f", {resends} re-sent after a CRC-64 mismatch" if resends else "",
            self.seconds,
        )

    def to_dict(self) -> dict[str, Any]:
        """
        A JSON-ready dict (for XCom): ``crc64`` as a decimal string (the Airflow UI's JavaScript
        would round a 64-bit integer; ``int(result["crc64"])`` gives it back), ``seconds`` rounded to ms.
        """
        data = asdict(self)
        data["crc64"] = str(self.crc64) if self.crc64 is not None else None
        data["seconds"] = round(self.seconds, 3)
        return data
