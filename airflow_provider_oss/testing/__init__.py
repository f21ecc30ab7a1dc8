"""
A local OSS-compatible server for tests, benchmarks and demos (no Airflow needed).

Strict V4/V1 signature checks (header and presigned), STS tokens, clock skew, multipart uploads
with OSS's rules, CRC-64 headers, objects on disk, fault injection and a request log, on
127.0.0.1::

    from airflow_provider_oss.testing import LocalOssServer

    with LocalOssServer(buckets=["test-bucket"]) as server:
        server.add_fault("UploadPart", "reset", nth=3)
        ...  # point a client at server.endpoint with server.access_key_id/access_key_secret
        assert server.request_log()[-1]["status"] == 200

Run it on its own with ``oss-local-server`` or ``python -m airflow_provider_oss.testing``.
"""

from __future__ import annotations

from airflow_provider_oss.testing.faults import ACTIONS
from airflow_provider_oss.testing.routing import OPERATIONS
from airflow_provider_oss.testing.server import LocalOssServer, LocalServerControlError

__all__ = ["ACTIONS", "OPERATIONS", "LocalOssServer", "LocalServerControlError"]
