"""
``[logging] remote_base_log_folder = oss://bucket/prefix`` parsed once, and the object key of a log.

The key is the prefix and Airflow's relative log path joined by one ``/``: never the prefix twice,
never the ``oss://`` URI inside the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from airflow_provider_oss.core.endpoints import validate_bucket_name
from airflow_provider_oss.core.errors import OssClientError

SCHEME = "oss"


@dataclass(frozen=True)
class LogLocation:
    """
    Where task logs go: a bucket and a key prefix (``""`` for the bucket's root).

    :param bucket: the bucket.
    :param prefix: the key prefix, without leading or trailing ``/``.
    """

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, remote_base: str) -> LogLocation:
        """
        Parse ``oss://bucket`` or ``oss://bucket/prefix``.

        :raises ValueError: naming the setting, the value and the expected form.
        """
        parts = urlsplit(remote_base.strip())
        if parts.scheme != SCHEME or not parts.netloc or parts.query or parts.fragment or "@" in parts.netloc:
            raise ValueError(
                f"[logging] remote_base_log_folder must be oss://<bucket>[/<prefix>]; got {remote_base!r}."
            )
        try:
            validate_bucket_name(parts.netloc)
        except OssClientError as err:
            raise ValueError(f"[logging] remote_base_log_folder {remote_base!r}: {err}") from None
        return cls(bucket=parts.netloc, prefix=parts.path.strip("/"))

    def key_of(self, relative_path: str) -> str:
        """
        The object key of a log at ``relative_path`` (Airflow's path under the local log folder).

        :raises ValueError: for an absolute path or one that climbs out with ``..``.
        """
        path = PurePosixPath(relative_path)
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise ValueError(f"A task log path must be relative to the log folder; got {relative_path!r}.")
        return f"{self.prefix}/{path}" if self.prefix else str(path)

    def uri_of(self, relative_path: str) -> str:
        """``oss://bucket/key`` of the log at ``relative_path``, for messages."""
        return f"{SCHEME}://{self.bucket}/{self.key_of(relative_path)}"
