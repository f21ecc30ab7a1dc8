"""The local server's bucket and service operations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_oss.testing.apierror import OssApiError, invalid_argument
from airflow_provider_oss.testing.ops_common import MAX_XML_BODY, STORAGE_CLASSES, int_param, parse_xml_body
from airflow_provider_oss.testing.routing import valid_bucket_name
from airflow_provider_oss.testing.xmlresp import el, iso_time, owner

if TYPE_CHECKING:
    from airflow_provider_oss.testing.exchange import Exchange
    from airflow_provider_oss.testing.store import BucketRecord

BUCKET_ACLS = ("private", "public-read", "public-read-write")
#: Bucket names start with this when another account holds them: bucket names are global in OSS,
#: so a PutBucket on one answers 409 BucketAlreadyExists (the server's own account owns the rest).
OTHER_ACCOUNT_PREFIX = "other-account-"

# -- buckets -------------------------------------------------------------------------------------


def _bucket_endpoint(ex: Exchange) -> str:
    """
    The endpoint clients reach this server by, as they addressed it (``127.0.0.1:PORT``, or the
    virtual-host domain with its port): what the SDKs use to talk to a listed bucket.
    """
    host = ex.host.strip() or f"oss-{ex.state.config.region}.{ex.state.config.virtual_host_domain}"
    if ex.target.virtual_hosted and ex.target.bucket and host.lower().startswith(ex.target.bucket + "."):
        host = host[len(ex.target.bucket) + 1 :]
    return host


def bucket_acl(bucket: BucketRecord) -> str:
    """The canned ACL of a bucket."""
    return bucket.acl or ("public-read" if bucket.public_read else "private")


def list_buckets(ex: Exchange) -> None:
    """ListBuckets (``GET /``), with ``prefix``, ``marker`` and ``max-keys``."""
    region = ex.state.config.region
    prefix = ex.params.get("prefix", "")
    marker = ex.params.get("marker", "")
    max_keys = int_param(ex, "max-keys", 100, 1, 1000)
    chosen = [b for b in ex.store.buckets() if b.name.startswith(prefix) and b.name > marker]
    page, truncated = chosen[:max_keys], len(chosen) > max_keys
    items = []
    for bucket in page:
        items.append(
            "<Bucket>"
            + el("CreationDate", iso_time(bucket.created))
            + el("ExtranetEndpoint", _bucket_endpoint(ex))
            + el("IntranetEndpoint", _bucket_endpoint(ex))
            + el("Location", f"oss-{region}")
            + el("Name", bucket.name)
            + el("Region", region)
            + el("StorageClass", bucket.storage_class)
            + "</Bucket>"
        )
    children = [el("Prefix", prefix), el("Marker", marker), el("MaxKeys", max_keys)]
    children.append(el("IsTruncated", str(truncated).lower()))
    if truncated:
        children.append(el("NextMarker", page[-1].name))
    ex.respond_xml("ListAllMyBucketsResult", [*children, owner(), "<Buckets>", *items, "</Buckets>"])


def get_bucket_info(ex: Exchange) -> None:
    """GetBucketInfo (``GET /?bucketInfo``)."""
    bucket = ex.store.bucket(ex.bucket)
    region = ex.state.config.region
    acl = bucket_acl(bucket)
    inner = (
        el("AccessMonitor", "Disabled")
        + el("CreationDate", iso_time(bucket.created))
        + el("ExtranetEndpoint", _bucket_endpoint(ex))
        + el("IntranetEndpoint", _bucket_endpoint(ex))
        + el("Location", f"oss-{region}")
        + el("Name", bucket.name)
        + el("Region", region)
        + el("ResourceGroupId", "rg-default")
        + el("StorageClass", bucket.storage_class)
        + el("DataRedundancyType", bucket.redundancy)
        + el("CrossRegionReplication", "Disabled")
        + el("TransferAcceleration", "Disabled")
        + el("BlockPublicAccess", str(acl == "private").lower())
        + (el("Versioning", bucket.versioning) if bucket.versioning else "")
        + el("Comment", "")
        + owner()
        + "<AccessControlList>"
        + el("Grant", acl)
        + "</AccessControlList>"
        + "<ServerSideEncryptionRule>"
        + el("SSEAlgorithm", "None")
        + "</ServerSideEncryptionRule>"
        + "<BucketPolicy>"
        + el("LogBucket", "")
        + el("LogPrefix", "")
        + "</BucketPolicy>"
    )
    ex.respond_xml("BucketInfo", ["<Bucket>" + inner + "</Bucket>"])


def get_bucket_location(ex: Exchange) -> None:
    """GetBucketLocation (``GET /?location``)."""
    ex.store.bucket(ex.bucket)
    ex.respond_xml("LocationConstraint", [f"oss-{ex.state.config.region}"])


def head_bucket(ex: Exchange) -> None:
    """HEAD on a bucket: 200 when it exists."""
    ex.store.bucket(ex.bucket)
    ex.respond(200)


def put_bucket(ex: Exchange) -> None:
    """
    PutBucket (``PUT /bucket/``): creates the bucket; ``x-oss-acl: public-read`` makes it public.
    As OSS: on a bucket the account owns it answers 200 and changes the ACL only; on a name another
    account holds (:data:`OTHER_ACCOUNT_PREFIX`) it answers 409 ``BucketAlreadyExists``.
    """
    if not valid_bucket_name(ex.bucket):
        raise OssApiError(
            400, "InvalidBucketName", "The specified bucket is not valid.", BucketName=ex.bucket
        )
    if ex.bucket.startswith(OTHER_ACCOUNT_PREFIX):
        raise OssApiError(
            409,
            "BucketAlreadyExists",
            "The requested bucket name is not available. The bucket namespace is shared by all users "
            "of the system. Please select a different name and try again.",
            BucketName=ex.bucket,
        )
    acl = ex.headers.get("x-oss-acl", "private")
    if acl not in BUCKET_ACLS:
        raise invalid_argument(f"x-oss-acl must be one of {', '.join(BUCKET_ACLS)}.", "x-oss-acl", acl)
    body = ex.body.read_all(MAX_XML_BODY)
    storage_class, redundancy = None, None
    if body.strip():
        root = parse_xml_body(body, "CreateBucketConfiguration")
        storage_class = (root.findtext("StorageClass") or "").strip() or None
        redundancy = (root.findtext("DataRedundancyType") or "").strip() or None
        if storage_class is not None and storage_class not in STORAGE_CLASSES:
            raise invalid_argument(
                f"StorageClass must be one of {', '.join(STORAGE_CLASSES)}.", "StorageClass", storage_class
            )
        if redundancy is not None and redundancy not in ("LRS", "ZRS"):
            raise invalid_argument("DataRedundancyType must be LRS or ZRS.", "DataRedundancyType", redundancy)
    if ex.store.bucket_exists(ex.bucket):  # as OSS: the owner's PutBucket on its bucket changes its ACL only
        existing = ex.store.bucket(ex.bucket)
        storage_class, redundancy = existing.storage_class, existing.redundancy
    ex.store.create_bucket(
        ex.bucket,
        public_read=acl in ("public-read", "public-read-write"),
        acl=acl,
        storage_class=storage_class,
        redundancy=redundancy,
    )
    ex.respond(200, {"Location": f"/{ex.bucket}"})


def delete_bucket(ex: Exchange) -> None:
    """DeleteBucket: only an empty bucket (no objects, no uploads)."""
    ex.store.delete_bucket(ex.bucket)
    ex.respond(204)
