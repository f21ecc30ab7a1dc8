"""Provider metadata that Airflow discovers through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_oss import __version__
from airflow_provider_oss.core.connection_settings import CONN_TYPE

_STRING = {"type": ["string", "null"]}
_NUMBER = {"type": ["number", "null"]}
_INTEGER = {"type": ["integer", "null"]}


def get_provider_info() -> dict[str, Any]:
    """Return the provider description: hooks, operators, sensors and the ``oss_resumable`` connection form."""
    return {
        "package-name": "airflow-provider-oss",
        "name": "Alibaba Cloud OSS (resumable)",
        "description": "Alibaba Cloud Object Storage Service: a signed OSS client, OssHook, and a "
        "resumable parallel multipart upload whose checkpoint survives task retries.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Alibaba Cloud OSS",
                "external-doc-url": "https://www.alibabacloud.com/product/object-storage-service",
                "tags": ["alibaba"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Alibaba Cloud OSS",
                "python-modules": ["airflow_provider_oss.hooks.oss"],
            }
        ],
        "operators": [
            {
                "integration-name": "Alibaba Cloud OSS",
                "python-modules": ["airflow_provider_oss.operators.resumable_upload"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Alibaba Cloud OSS",
                "python-modules": ["airflow_provider_oss.sensors.oss_key"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_oss.hooks.oss.OssHook",
                "hook-name": "Alibaba Cloud OSS (resumable)",
                # Not "oss": apache-airflow-providers-alibaba registers that type, and Airflow keeps
                # one hook per type (it warns and hides the other form). OssHook still reads an
                # official "oss" connection unchanged.
                "connection-type": CONN_TYPE,
                "conn-fields": {
                    "region": {
                        "label": "Region",
                        "description": "Region id such as cn-hangzhou (required unless the endpoint names it).",
                        "schema": _STRING,
                    },
                    "endpoint": {
                        "label": "Endpoint",
                        "description": "Host or URL; default oss-<region>.aliyuncs.com. "
                        "An Alibaba Cloud endpoint also gives the region.",
                        "schema": _STRING,
                    },
                    "bucket": {"label": "Default bucket", "schema": _STRING},
                    "security_token": {
                        "label": "STS security token",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "signature_version": {
                        "label": "Signature version",
                        "schema": {"type": ["string", "null"], "default": "v4", "enum": ["v4", "v1"]},
                    },
                    "addressing_style": {
                        "label": "Addressing style",
                        "schema": {
                            "type": ["string", "null"],
                            "default": "virtual",
                            "enum": ["virtual", "path"],
                        },
                    },
                    "internal": {
                        "label": "Use the VPC internal endpoint",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                    "connect_timeout": {"label": "Connect timeout (s)", "schema": {**_NUMBER, "default": 10}},
                    "read_timeout": {"label": "Read timeout (s)", "schema": {**_NUMBER, "default": 120}},
                    "max_retries": {"label": "Retries per request", "schema": {**_INTEGER, "default": 5}},
                    "verify": {
                        "label": "TLS verification",
                        "description": "true (default), false (insecure, logs a warning), or a CA bundle path.",
                        "schema": _STRING,
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "host"],
                    "relabeling": {"login": "Access Key ID", "password": "Access Key Secret"},
                    "placeholders": {
                        "login": "LTAI5t...",
                        "password": "AccessKeySecret",
                        "region": "cn-hangzhou",
                        "endpoint": "https://oss-cn-hangzhou.aliyuncs.com",
                        "bucket": "my-bucket",
                        "verify": "true",
                    },
                },
            }
        ],
    }
