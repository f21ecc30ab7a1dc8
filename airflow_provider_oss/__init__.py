"""Alibaba Cloud OSS provider for Apache Airflow.

The :mod:`airflow_provider_oss.core` package is an Airflow-free OSS client (signing, HTTP,
CRC-64, typed errors); :mod:`airflow_provider_oss.upload` is the Airflow-free resumable
multipart engine; ``hooks``, ``operators`` and ``sensors`` are the thin Airflow layer; and
``airflow_provider_oss.testing`` is a local OSS-compatible server for tests and demos (see the
README, "Local OSS server").
"""

from __future__ import annotations

__version__ = "0.1.0"
