"""Provider metadata that Airflow discovers through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_oss import __version__
from airflow_provider_oss.core.connection_settings import CONN_TYPE

_STRING = {"type": ["string", "null"]}
_NUMBER = {"type": ["number", "null"]}
_INTEGER = {"type": ["integer", "null"]}
#: Offered by the 3.2+ form as suggestions (a datalist with the hint "Start typing to see options").
_REGION_EXAMPLES = (
    "cn-hangzhou",
    "cn-shanghai",
    "cn-beijing",
    "cn-shenzhen",
    "ap-southeast-1",
    "eu-central-1",
)
_ENDPOINT_EXAMPLES = (
    "oss-cn-hangzhou.aliyuncs.com",
    "oss-cn-hangzhou-internal.aliyuncs.com",
    "https://oss-ap-southeast-1.aliyuncs.com",
)


def _choice(label: str, default: str, values: list[str], description: str = "") -> dict[str, Any]:
    """
    A select of ``values`` whose empty choice (JSON null, what an untouched field saves) reads as
    "default: ...": the default is shown, never stored.
    """
    return {
        "label": label,
        "description": f"{description} Empty: {default}.".strip(),
        "schema": {
            "type": ["string", "null"],
            "enum": [None, *values],
            "values_display": {"null": f"(default: {default})"},
        },
    }


def _number(label: str, default: str, description: str = "", *, integer: bool = False) -> dict[str, Any]:
    """A number field with no pre-filled value (the form saves null when it is left alone)."""
    return {
        "label": label,
        "description": f"{description} Empty: {default}.".strip(),
        "schema": _INTEGER if integer else _NUMBER,
    }


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
                "python-modules": [
                    "airflow_provider_oss.operators.resumable_upload",
                    "airflow_provider_oss.operators.distributed_upload",
                    "airflow_provider_oss.operators.delete",
                    "airflow_provider_oss.operators.list",
                    "airflow_provider_oss.operators.folder_upload",
                    "airflow_provider_oss.operators.download",
                    "airflow_provider_oss.operators.copy",
                    "airflow_provider_oss.operators.bucket",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Alibaba Cloud OSS",
                "python-modules": [
                    "airflow_provider_oss.sensors.oss_key",
                    "airflow_provider_oss.sensors.oss_keys_unchanged",
                ],
            }
        ],
        "filesystems": ["airflow_provider_oss.fs.oss"],
        # Airflow 3.3+ picks the remote task log handler of [logging] remote_base_log_folder by its
        # scheme; older versions (and a deployment with the official provider, which claims "oss"
        # too) select it through logging_config_class (docs/REMOTE_LOGS.md).
        "remote-logging": [
            {"classpath": "airflow_provider_oss.log.oss_remote_log.OssRemoteLogIO", "scheme": "oss"}
        ],
        "asset-uris": [
            {
                "schemes": ["oss"],
                "handler": "airflow_provider_oss.assets.oss.sanitize_uri",
                "factory": "airflow_provider_oss.assets.oss.create_asset",
            }
        ],
        "triggers": [
            {
                "integration-name": "Alibaba Cloud OSS",
                "python-modules": [
                    "airflow_provider_oss.triggers.oss",
                    "airflow_provider_oss.triggers.oss_keys_unchanged",
                ],
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
                        "description": "Region id such as cn-hangzhou; leave empty when the endpoint names it "
                        "(oss-cn-shanghai.aliyuncs.com).",
                        "schema": {**_STRING, "examples": list(_REGION_EXAMPLES)},
                    },
                    "endpoint": {
                        "label": "Endpoint",
                        "description": "Host or URL; empty means oss-<region>.aliyuncs.com. "
                        "An Alibaba Cloud endpoint also gives the region.",
                        "schema": {**_STRING, "examples": list(_ENDPOINT_EXAMPLES)},
                    },
                    "bucket": {
                        "label": "Default bucket",
                        "description": "Used when a task gives no bucket_name; empty means none.",
                        "schema": _STRING,
                    },
                    "security_token": {
                        "label": "STS security token",
                        "description": "Only for temporary (STS) credentials; leave empty for an AccessKey pair.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "signature_version": _choice("Signature version", "v4", ["v4", "v1"]),
                    "addressing_style": _choice(
                        "Addressing style",
                        "virtual (path for an IP or localhost endpoint)",
                        ["virtual", "path", "cname"],
                        "virtual: bucket.endpoint (real OSS); path: endpoint/bucket (IP endpoints); "
                        "cname: a custom domain bound to one bucket.",
                    ),
                    "internal": _choice(
                        "Use the VPC internal endpoint", "false", ["true", "false"], "oss-<region>-internal."
                    ),
                    "scheme": _choice(
                        "Scheme",
                        "https, or the endpoint URL's",
                        ["https", "http"],
                        "Used when the endpoint has no scheme.",
                    ),
                    "connect_timeout": _number("Connect timeout (s)", "10"),
                    "read_timeout": _number("Read timeout (s)", "120"),
                    "max_retries": _number("Retries per request", "5", integer=True),
                    "backoff_base": _number(
                        "Retry backoff base (s)", "0.5", "The first retry's wait; doubles per retry."
                    ),
                    "backoff_max": _number(
                        "Retry backoff cap (s)", "20", "The longest wait between retries."
                    ),
                    "pool_size": _number(
                        "HTTP connection pool size",
                        "10",
                        "Transfers size their own pool from their parallelism.",
                        integer=True,
                    ),
                    "verify": {
                        "label": "TLS verification",
                        "description": "Empty or true: system CAs; false: no verification (insecure, logs a "
                        "warning); or a CA bundle path.",
                        "schema": {
                            **_STRING,
                            "examples": ["true", "false", "/etc/ssl/certs/ca-certificates.crt"],
                        },
                    },
                    "resolve": {
                        "label": "Resolve host names (like curl --resolve)",
                        "description": 'A JSON object of host name -> IP address, e.g. {"*.oss-cn-hangzhou.'
                        'aliyuncs.com": "10.0.0.5"}; the Host header keeps the name. Empty: DNS.',
                        "schema": _STRING,
                    },
                    "user_agent": {
                        "label": "User-Agent",
                        "description": "Empty: airflow-provider-oss/<version> python/<version>.",
                        "schema": _STRING,
                    },
                    "require_crc64": _choice(
                        "Require OSS's CRC-64 and request id (writes and reads)",
                        "true",
                        ["true", "false"],
                        "false only for an OSS-compatible server that sends neither (each such write and "
                        "read is then logged as unverified).",
                    ),
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
