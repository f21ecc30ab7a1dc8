"""
Listing calls of the OSS client: objects (ListObjectsV2, paginated), common prefixes and buckets.
"""

from __future__ import annotations

from collections.abc import Iterator

from airflow_provider_oss.core.client_base import (
    MAX_PAGE_SIZE,
    ClientBase,
    check_page_size,
)
from airflow_provider_oss.core.endpoints import validate_bucket_name
from airflow_provider_oss.core.errors import (
    OssClientError,
)
from airflow_provider_oss.core.models import (
    ObjectSummary,
    normalize_etag,
)
from airflow_provider_oss.core.xmlutil import (
    decode_if,
    element_to_dict,
    find_bool,
    find_int,
    find_text,
    is_url_encoded,
    parse_iso_time,
    parse_xml,
)


class ListingCalls(ClientBase):
    """ListObjectsV2 (paginated), common prefixes, bucket info and ListBuckets."""

    # -- listings --------------------------------------------------------------------------------

    def list_objects_v2(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[ObjectSummary]:
        """
        Iterate over the objects of a bucket in key order, fetching pages as needed (with a
        ``delimiter``, the common prefixes are skipped: see :meth:`list_common_prefixes`).

        :param prefix: only keys starting with this.
        :param delimiter: group keys by this character (usually ``/``).
        :param start_after: only keys after this one.
        :param page_size: keys per request, 1..1000.
        """
        validate_bucket_name(bucket)
        check_page_size(page_size)
        pages = self._list_v2_pages(bucket, prefix, delimiter, start_after, page_size)
        return (summary for objects, _ in pages for summary in objects)

    def list_common_prefixes(self, bucket: str, *, prefix: str = "", delimiter: str = "/") -> Iterator[str]:
        """Iterate over the "directories" under ``prefix``: the common prefixes up to ``delimiter``."""
        validate_bucket_name(bucket)
        if not delimiter:
            raise OssClientError("list_common_prefixes needs a non-empty delimiter, such as '/'.")
        pages = self._list_v2_pages(bucket, prefix, delimiter, "", MAX_PAGE_SIZE)
        return (common for _, prefixes in pages for common in prefixes)

    def _list_v2_pages(
        self, bucket: str, prefix: str, delimiter: str, start_after: str, page_size: int
    ) -> Iterator[tuple[list[ObjectSummary], list[str]]]:
        token = ""
        while True:
            query = [("list-type", "2"), ("encoding-type", "url"), ("max-keys", str(page_size))]
            if prefix:
                query.append(("prefix", prefix))
            if delimiter:
                query.append(("delimiter", delimiter))
            if token:
                query.append(("continuation-token", token))
            elif start_after:
                query.append(("start-after", start_after))
            response = self._transport.send("GET", bucket, None, query=query, op="ListObjectsV2")
            root = parse_xml(response.content, "ListBucketResult")
            encoded = is_url_encoded(root)
            objects = []
            for item in root.findall("Contents"):
                modified = find_text(item, "LastModified")
                objects.append(
                    ObjectSummary(
                        key=decode_if(find_text(item, "Key"), encoded),
                        size=find_int(item, "Size"),
                        etag=normalize_etag(find_text(item, "ETag")),
                        last_modified=parse_iso_time(modified) if modified else None,
                        storage_class=find_text(item, "StorageClass") or "Standard",
                    )
                )
            prefixes = [decode_if(find_text(p, "Prefix"), encoded) for p in root.findall("CommonPrefixes")]
            yield objects, prefixes
            token = find_text(root, "NextContinuationToken")
            if not find_bool(root, "IsTruncated") or not token:
                return

    # -- buckets ---------------------------------------------------------------------------------

    def get_bucket_info(self, bucket: str) -> dict[str, object]:
        """The bucket's information (``Name``, ``Location``, ``Region``, ``StorageClass``, ``CreationDate``...)."""
        validate_bucket_name(bucket)
        response = self._transport.send("GET", bucket, None, query=[("bucketInfo", "")], op="GetBucketInfo")
        root = parse_xml(response.content, "BucketInfo")
        inner = root.find("Bucket")
        return element_to_dict(inner if inner is not None else root)

    def list_buckets(self) -> list[str]:
        """The names of the account's buckets."""
        names: list[str] = []
        marker = ""
        while True:
            query = [("max-keys", str(MAX_PAGE_SIZE))]
            if marker:
                query.append(("marker", marker))
            response = self._transport.send("GET", None, None, query=query, op="ListBuckets")
            root = parse_xml(response.content, "ListAllMyBucketsResult")
            names += [find_text(b, "Name") for b in root.findall("Buckets/Bucket")]
            next_marker = find_text(root, "NextMarker")
            if not find_bool(root, "IsTruncated") or not next_marker or next_marker == marker:
                return names
            marker = next_marker
