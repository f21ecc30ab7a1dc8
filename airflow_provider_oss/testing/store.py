"""
On-disk storage of the local server: buckets, objects and in-progress multipart uploads.

Layout under the root directory (every file is written to the scratch folder first, then renamed into place,
so a reader never sees half a file)::

    oss-local-server.json                   marks the directory as a server root (see :mod:`.storefiles`)
    .oss-local-scratch/                     request bodies being received, JSON being written
    buckets/<bucket>/bucket.json            creation time, public_read
    buckets/<bucket>/objects/<hh>/<sha>.json         object record (key, size, ETag, CRC, metadata)
    buckets/<bucket>/objects/<hh>/<sha>.<token>.data the bytes of a simple object (a file per version)
    buckets/<bucket>/objects/<hh>/<sha>.<token>.parts/part-<n>.data  a multipart object's segments
    buckets/<bucket>/uploads/<upload_id>/upload.json           key, initiation time, metadata
    buckets/<bucket>/uploads/<upload_id>/part-<n>.json         part record
    buckets/<bucket>/uploads/<upload_id>/part-<n>.<token>.data part bytes

Completing a multipart upload moves its part files into the object's ``.parts`` folder: the object
is read across them (:class:`~airflow_provider_oss.testing.objectdata.ObjectReader`), so completion
costs metadata, not a copy of every byte. The index lives in memory and is rebuilt from the JSON
records when a server starts on an existing root directory. A reader registers with the object's
record under the store lock; a replaced or deleted version's files stay until its last reader is
closed.
"""

from __future__ import annotations

from airflow_provider_oss.testing.records import (
    BucketRecord,
    ListPage,
    ObjectRecord,
    PartRecord,
    UploadRecord,
    new_upload_id,
)
from airflow_provider_oss.testing.store_uploads import UploadStore

__all__ = ["BucketRecord", "ListPage", "ObjectRecord", "PartRecord", "Store", "UploadRecord", "new_upload_id"]


class Store(UploadStore):
    """
    Thread-safe on-disk storage: buckets (:class:`~airflow_provider_oss.testing.store_base.StoreBase`),
    objects (:class:`~airflow_provider_oss.testing.store_objects.ObjectStore`) and multipart uploads
    (:class:`~airflow_provider_oss.testing.store_uploads.UploadStore`).

    :param root: the root directory (created if missing; existing records are loaded).
    :param clock: the server clock (epoch seconds), for modification times.
    """
