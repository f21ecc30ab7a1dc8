"""
Multipart calls of the OSS client: initiate, upload a part, complete (with proof of a completed
upload when the answer is lost), abort, and the part and upload listings.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence

import requests

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.core.callback import UploadCallback
from airflow_provider_oss.core.client_base import (
    MAX_PAGE_SIZE,
    PartRef,
    check_crc_arg,
    check_object,
    check_page_size,
    check_part_number,
    check_upload_id,
    describe_target,
)
from airflow_provider_oss.core.client_callback import CALLBACK_FAILED_STATUS, callback_answer, callback_failed
from airflow_provider_oss.core.client_objects import ObjectCalls
from airflow_provider_oss.core.endpoints import validate_bucket_name
from airflow_provider_oss.core.errors import (
    CrcMismatchError,
    OssClientError,
    OssError,
    OssNotFoundError,
    OssPreconditionError,
    OssResponseError,
)
from airflow_provider_oss.core.models import (
    CompletedUpload,
    MultipartUploadInfo,
    ObjectOptions,
    PartInfo,
    UploadedPart,
    normalize_etag,
    validate_traffic_limit,
)
from airflow_provider_oss.core.read_answers import answer_traits
from airflow_provider_oss.core.transport import (
    Body,
    CallStats,
    as_body,
)
from airflow_provider_oss.core.xmlutil import (
    complete_multipart_body,
    decode_if,
    find_bool,
    find_int,
    find_text,
    is_url_encoded,
    parse_iso_time,
    parse_xml,
)

log = logging.getLogger(__name__)


class MultipartCalls(ObjectCalls):
    """The multipart upload API (proving a completed upload needs :meth:`ObjectCalls.head_object`)."""

    # -- multipart -------------------------------------------------------------------------------

    def initiate_multipart_upload(
        self, bucket: str, key: str, *, options: ObjectOptions | None = None
    ) -> str:
        """
        Start a multipart upload.

        :param options: the properties of the object to be (content type, metadata...).
        :return: the upload id.
        """
        check_object(bucket, key)
        headers = options.to_headers() if options is not None else {}
        headers.pop("x-oss-traffic-limit", None)  # a per-request limit: it belongs on the parts
        response = self._transport.send(
            "POST", bucket, key, query=[("uploads", "")], headers=headers, op="InitiateMultipartUpload"
        )
        upload_id = find_text(parse_xml(response.content, "InitiateMultipartUploadResult"), "UploadId")
        if not upload_id:
            raise OssClientError(
                f"InitiateMultipartUpload for {describe_target(bucket, key)} returned no UploadId."
            )
        return upload_id

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        data: Body,
        *,
        crc64: int | None = None,
        traffic_limit: int | None = None,
    ) -> UploadedPart:
        """
        Upload one part (uploading the same number again replaces it).

        :param upload_id: the upload id.
        :param part_number: 1..10000.
        :param data: the part's bytes (bytes, bytearray or memoryview; sent without a copy).
        :param crc64: the part's CRC-64 when already known.
        :param traffic_limit: a bandwidth limit in bit/s (819200..838860800).
        :raises CrcMismatchError: when OSS's CRC-64 differs (the error carries ``part_number``).
        """
        check_object(bucket, key)
        check_upload_id(upload_id)
        check_part_number(part_number)
        check_crc_arg("crc64", crc64)
        validate_traffic_limit(traffic_limit)
        payload = as_body(data)
        assert payload is not None
        size = payload.nbytes if isinstance(payload, memoryview) else len(payload)
        local = crc64 if crc64 is not None else crc64_mod.crc64(payload)
        headers = {"x-oss-traffic-limit": str(traffic_limit)} if traffic_limit is not None else {}
        response = self._transport.send(
            "PUT",
            bucket,
            key,
            query=[("partNumber", str(part_number)), ("uploadId", upload_id)],
            headers=headers,
            body=payload,
            op="UploadPart",
        )
        etag, _ = self._check_write_answer("UploadPart", local, response, bucket, key, part_number)
        return UploadedPart(
            part_number=part_number,
            etag=etag,
            size=size,
            crc64=local,
        )

    @staticmethod
    def _part_pairs(parts: Sequence[PartRef]) -> list[tuple[int, str]]:
        chosen: dict[int, str] = {}
        for part in parts:
            if isinstance(part, UploadedPart | PartInfo):
                number, etag = part.part_number, part.etag
            elif isinstance(part, tuple) and len(part) == 2:
                number, etag = part
            else:
                raise OssClientError(
                    f"Each part must be an UploadedPart, a PartInfo or a (part_number, etag) tuple; got {part!r}."
                )
            check_part_number(number)
            if not isinstance(etag, str) or not normalize_etag(etag):
                raise OssClientError(f"Part {number} has no ETag.")
            previous = chosen.get(number)
            if previous is not None and normalize_etag(previous) != normalize_etag(etag):
                raise OssClientError(f"Part {number} is listed twice with different ETags.")
            chosen[number] = normalize_etag(etag)
        if not chosen:
            raise OssClientError("complete_multipart_upload needs at least one part.")
        return sorted(chosen.items())

    def complete_multipart_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[PartRef],
        *,
        expected_crc64: int | None = None,
        expected_size: int | None = None,
        forbid_overwrite: bool = False,
        callback: UploadCallback | None = None,
    ) -> CompletedUpload:
        """
        Complete a multipart upload from its parts (sorted here by part number).

        :param parts: the parts, as :class:`UploadedPart`, :class:`PartInfo` or ``(number, etag)``.
        :param expected_crc64: the whole object's CRC-64 (the combine of the parts' CRCs); compared
            with the one OSS reports.
        :param expected_size: the whole object's size, checked when the answer lacks its ETag or
            CRC-64 and a HEAD of the object must prove the completion instead.
        :param forbid_overwrite: fail with ``FileAlreadyExists`` (:class:`OssPreconditionError`)
            when the key exists, atomically in OSS (``x-oss-forbid-overwrite``); the upload stays in
            progress.
        :param callback: OSS's upload callback, fired once when the upload completes; the result's
            ``callback_response`` is the callback server's answer. When an attempt's answer is lost
            and the retry finds the upload already completed, the callback is not fired again and
            ``callback_response`` is None (logged).
        :raises CrcMismatchError: when OSS's CRC-64 of the object differs from ``expected_crc64``.
        :raises CallbackFailedError: (HTTP 203) the object is stored but the callback failed.
        """
        check_object(bucket, key)
        check_upload_id(upload_id)
        check_crc_arg("expected_crc64", expected_crc64)
        body = complete_multipart_body(self._part_pairs(parts))
        stats = CallStats()
        try:
            response = self._transport.send(
                "POST",
                bucket,
                key,
                query=[("uploadId", upload_id), ("encoding-type", "url")],
                headers={"Content-Type": "application/xml"}
                | ({"x-oss-forbid-overwrite": "true"} if forbid_overwrite else {})
                | (callback.headers() if callback is not None else {}),
                body=body,
                op="CompleteMultipartUpload",
                stats=stats,
            )
        except (OssNotFoundError, OssPreconditionError) as err:
            accepted = self._completed_by_lost_attempt(err, stats, bucket, key, expected_crc64, callback)
            if accepted is None:
                raise
            return accepted
        etag = normalize_etag(response.headers.get("ETag", ""))
        if not etag:
            with contextlib.suppress(OssResponseError):
                etag = normalize_etag(
                    find_text(parse_xml(response.content, "CompleteMultipartUploadResult"), "ETag")
                )
        server = crc64_mod.parse_crc(response.headers.get("x-oss-hash-crc64ecma"))
        request_id = response.headers.get("x-oss-request-id", "")
        if expected_crc64 is not None and server is not None and server != expected_crc64:
            raise CrcMismatchError(
                f"CRC-64 mismatch completing {describe_target(bucket, key)}: the parts combine to "
                f"{expected_crc64}, OSS reports {server} for the object.",
                local_crc=expected_crc64,
                server_crc=server,
                key=key,
            )
        if callback is not None and etag:
            answered = self._callback_outcome(response, bucket, key, etag, server, expected_crc64, callback)
            if answered is not None:
                return answered
        if etag and (server is not None or not self.config.require_crc64 or expected_crc64 is None):
            if server is None and expected_crc64 is not None:
                log.warning(
                    "CompleteMultipartUpload %s is UNVERIFIED: %s sent no CRC-64 (require_crc64=false), so "
                    "the object was not checked against the parts.",
                    describe_target(bucket, key),
                    self.config.endpoint_url,
                )
            return CompletedUpload(bucket, key, etag, server, request_id)
        return self._prove_completed(response, bucket, key, expected_crc64, expected_size, etag, server)

    def _completed_by_lost_attempt(
        self,
        err: OssNotFoundError | OssPreconditionError,
        stats: CallStats,
        bucket: str,
        key: str,
        expected_crc64: int | None,
        callback: UploadCallback | None,
    ) -> CompletedUpload | None:
        """
        An earlier attempt may have completed the upload before its answer was lost (the retry then
        meets NoSuchUpload, or FileAlreadyExists with forbid_overwrite): the object when it carries
        exactly the expected content, else None (``err`` stands).
        """
        if (
            err.code not in ("NoSuchUpload", "FileAlreadyExists")
            or stats.attempts <= 1
            or expected_crc64 is None
        ):
            return None
        try:
            info = self.head_object(bucket, key)
        except OssNotFoundError:
            raise err from None
        if info.crc64 != expected_crc64:
            return None
        log.info(
            "CompleteMultipartUpload for %s was retried and the upload is gone, but the object "
            "has the expected CRC-64: an earlier attempt completed it.",
            describe_target(bucket, key),
        )
        if callback is not None:
            log.warning(
                "The upload callback to %s ran (or failed) with that earlier attempt, whose answer was "
                "lost: it is not fired again, and its answer is unknown.",
                callback.describe(),
            )
        return CompletedUpload(bucket, key, info.etag, info.crc64, err.request_id)

    def _callback_outcome(
        self,
        response: requests.Response,
        bucket: str,
        key: str,
        etag: str,
        server: int | None,
        expected_crc64: int | None,
        callback: UploadCallback,
    ) -> CompletedUpload | None:
        """
        The result of a Complete sent with ``callback`` whose answer carries the object's ETag: 203
        raises, a verified answer returns the callback server's answer; None leaves the answer to
        the checks without a callback (an unverified CRC-64).

        :raises CallbackFailedError: HTTP 203, the object stored but the callback failed.
        """
        if response.status_code == CALLBACK_FAILED_STATUS:
            crc = server if server is not None else expected_crc64
            raise callback_failed("CompleteMultipartUpload", response, bucket, key, etag, crc, callback)
        if server is None and self.config.require_crc64:
            return None
        answer = callback_answer("CompleteMultipartUpload", response, bucket, key, callback)
        request_id = response.headers.get("x-oss-request-id", "")
        return CompletedUpload(bucket, key, etag, server, request_id, callback_response=answer)

    def _prove_completed(
        self,
        response: requests.Response,
        bucket: str,
        key: str,
        expected_crc64: int | None,
        expected_size: int | None,
        etag: str,
        server: int | None,
    ) -> CompletedUpload:
        """
        A CompleteMultipartUpload answer without its ETag or CRC-64 is not OSS's: believe it only
        when a HEAD of the object shows the expected CRC-64 (and size, when known).
        """
        missing = [
            name for name, absent in (("ETag", not etag), ("x-oss-hash-crc64ecma", server is None)) if absent
        ]
        what = (
            f"CompleteMultipartUpload {describe_target(bucket, key)}: {self.config.endpoint_url} answered HTTP "
            f"{response.status_code} without {' and '.join(missing)}{answer_traits(response)}"
        )
        if expected_crc64 is None:
            raise OssResponseError(
                f"{what}: the upload is not known to be complete, and without expected_crc64 a HEAD of the "
                "object cannot prove it. Check the connection's endpoint."
            )
        try:
            info = self.head_object(bucket, key)
        except OssError as err:
            raise OssResponseError(
                f"{what}, and a HEAD of the object failed ({type(err).__name__}: {err}): the upload is not "
                "known to be complete. Check the connection's endpoint; the multipart upload is left as it was."
            ) from None
        problems = []
        unverified = info.crc64 is None and not self.config.require_crc64
        if info.crc64 != expected_crc64 and not unverified:
            problems.append(f"CRC-64 {info.crc64} instead of {expected_crc64}")
        if expected_size is not None and info.size != expected_size:
            problems.append(f"size {info.size} instead of {expected_size}")
        if problems:
            raise OssResponseError(
                f"{what}, and the object a HEAD finds has {' and '.join(problems)}: it is not this upload. "
                "Check the connection's endpoint; the multipart upload is left as it was."
            )
        log.warning(
            "%s; a HEAD of the object proved its CRC-64 (%d) and size (%s), so the upload is complete.",
            what,
            info.crc64,
            info.size if expected_size is not None else "not checked",
        )
        return CompletedUpload(bucket, key, info.etag, info.crc64, "")

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Abort a multipart upload, deleting its parts."""
        check_object(bucket, key)
        check_upload_id(upload_id)
        self._transport.send(
            "DELETE", bucket, key, query=[("uploadId", upload_id)], op="AbortMultipartUpload"
        )

    def list_parts(
        self, bucket: str, key: str, upload_id: str, *, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[PartInfo]:
        """
        Iterate over the uploaded parts of a multipart upload, in part number order.

        :raises OssNotFoundError: ``NoSuchUpload`` when the upload is gone (completed, aborted, expired).
        """
        check_object(bucket, key)
        check_upload_id(upload_id)
        check_page_size(page_size)
        return self._list_parts(bucket, key, upload_id, page_size)

    def _list_parts(self, bucket: str, key: str, upload_id: str, page_size: int) -> Iterator[PartInfo]:
        marker = 0
        while True:
            query = [("uploadId", upload_id), ("max-parts", str(page_size)), ("encoding-type", "url")]
            if marker:
                query.append(("part-number-marker", str(marker)))
            response = self._transport.send("GET", bucket, key, query=query, op="ListParts")
            root = parse_xml(response.content, "ListPartsResult")
            for item in root.findall("Part"):
                modified = find_text(item, "LastModified")
                yield PartInfo(
                    part_number=find_int(item, "PartNumber"),
                    etag=normalize_etag(find_text(item, "ETag")),
                    size=find_int(item, "Size"),
                    crc64=crc64_mod.parse_crc(find_text(item, "HashCrc64ecma", "") or None),
                    last_modified=parse_iso_time(modified) if modified else None,
                )
            next_marker = find_int(root, "NextPartNumberMarker")
            if not find_bool(root, "IsTruncated") or next_marker <= marker:
                return
            marker = next_marker

    def list_multipart_uploads(
        self, bucket: str, *, prefix: str = "", page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[MultipartUploadInfo]:
        """Iterate over the in-progress multipart uploads of a bucket (optionally under ``prefix``)."""
        validate_bucket_name(bucket)
        check_page_size(page_size)
        return self._list_uploads(bucket, prefix, page_size)

    def _list_uploads(self, bucket: str, prefix: str, page_size: int) -> Iterator[MultipartUploadInfo]:
        key_marker = ""
        upload_id_marker = ""
        while True:
            query = [("uploads", ""), ("max-uploads", str(page_size)), ("encoding-type", "url")]
            if prefix:
                query.append(("prefix", prefix))
            if key_marker:
                query.append(("key-marker", key_marker))
            if upload_id_marker:
                query.append(("upload-id-marker", upload_id_marker))
            response = self._transport.send("GET", bucket, None, query=query, op="ListMultipartUploads")
            root = parse_xml(response.content, "ListMultipartUploadsResult")
            encoded = is_url_encoded(root)
            for item in root.findall("Upload"):
                initiated = find_text(item, "Initiated")
                yield MultipartUploadInfo(
                    key=decode_if(find_text(item, "Key"), encoded),
                    upload_id=find_text(item, "UploadId"),
                    initiated=parse_iso_time(initiated) if initiated else None,
                )
            next_key = decode_if(find_text(root, "NextKeyMarker"), encoded)
            next_upload = find_text(root, "NextUploadIdMarker")
            if not find_bool(root, "IsTruncated") or (next_key, next_upload) == (
                key_marker,
                upload_id_marker,
            ):
                return
            key_marker, upload_id_marker = next_key, next_upload
