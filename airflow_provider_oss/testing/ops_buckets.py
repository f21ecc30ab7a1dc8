"""The local server's bucket and service operations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_oss.testing.apierror import OssApiError
from airflow_provider_oss.testing.ops_common import MAX_XML_BODY
from airflow_provider_oss.testing.routing import valid_bucket_name
from airflow_provider_oss.testing.xmlresp import el, iso_time, owner

if TYPE_CHECKING:
    from airflow_provider_oss.testing.httpd import Exchange

# -- buckets -------------------------------------------------------------------------------------


def _bucket_endpoint(ex: Exchange) -> str:
    return f"oss-{ex.state.config.region}.{ex.state.config.virtual_host_domain}"


def list_buckets(ex: Exchange) -> None:
    """ListBuckets (``GET /``)."""
    region = ex.state.config.region
    items = []
    for bucket in ex.store.buckets():
        items.append(
            "<Bucket>"
            + el("CreationDate", iso_time(bucket.created))
            + el("ExtranetEndpoint", _bucket_endpoint(ex))
            + el("IntranetEndpoint", _bucket_endpoint(ex))
            + el("Location", f"oss-{region}")
            + el("Name", bucket.name)
            + el("Region", region)
            + el("StorageClass", "Standard")
            + "</Bucket>"
        )
    ex.respond_xml("ListAllMyBucketsResult", [owner(), "<Buckets>", *items, "</Buckets>"])


def get_bucket_info(ex: Exchange) -> None:
    """GetBucketInfo (``GET /?bucketInfo``)."""
    bucket = ex.store.bucket(ex.bucket)
    region = ex.state.config.region
    acl = "public-read" if bucket.public_read else "private"
    inner = (
        el("CreationDate", iso_time(bucket.created))
        + el("ExtranetEndpoint", _bucket_endpoint(ex))
        + el("IntranetEndpoint", _bucket_endpoint(ex))
        + el("Location", f"oss-{region}")
        + el("Name", bucket.name)
        + el("Region", region)
        + el("StorageClass", "Standard")
        + el("DataRedundancyType", "LRS")
        + el("Versioning", "Disabled")
        + owner()
        + "<AccessControlList>"
        + el("Grant", acl)
        + "</AccessControlList>"
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
    """PutBucket (``PUT /bucket/``): creates the bucket; ``x-oss-acl: public-read`` makes it public."""
    if not valid_bucket_name(ex.bucket):
        raise OssApiError(
            400, "InvalidBucketName", "The specified bucket is not valid.", BucketName=ex.bucket
        )
    acl = ex.headers.get("x-oss-acl", "private")
    ex.body.read_all(MAX_XML_BODY)
    ex.store.create_bucket(ex.bucket, public_read=acl in ("public-read", "public-read-write"))
    ex.respond(200, {"Location": f"/{ex.bucket}"})


def delete_bucket(ex: Exchange) -> None:
    """DeleteBucket: only an empty bucket (no objects, no uploads)."""
    ex.store.delete_bucket(ex.bucket)
    ex.respond(204)
