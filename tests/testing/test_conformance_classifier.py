"""
The conformance classifier (scripts/conformance.py): its rules on records shaped as a real run
writes them (junit, the plugin's times/failure file, the server's request log), the causes the
plugin records from the SDKs' real exceptions, and the CONFORMANCE.md results it generates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import alibabacloud_oss_v2 as oss
import oss2
import pytest
import requests

from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.conformance import (
    Run,
    TestResult,
    classify,
    classify_one,
    read_failures,
    read_junit,
    read_times,
    summary,
    write_report,
)
from airflow_provider_oss.testing.conformance_plugin import exception_causes

B = "test-bucket"
V2_501 = (
    "alibabacloud_oss_v2.exceptions.OperationError: operation error GetBucketCors: Error returned by "
    "Service.\n        Http Status Code: 501.\n        Error Code: NotImplemented.\n        Request Id: "
    "RID501CORS.\n        Message: The local OSS server does not implement ..."
)
JUNIT = f"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.integration.test_client.TestObjectBasic" name="test_put" time="0.1"/>
<testcase classname="tests.integration.test_client.TestObjectBasic" name="test_skipped" time="0">
  <skipped message="needs OSS_TEST_X"/></testcase>
<testcase classname="tests.integration.test_bucket_cors_client.TestBucketCors" name="test_cors" time="0.1">
  <failure message="OperationError">{V2_501}</failure></testcase>
<testcase classname="tests.integration.test_client.TestObjectBasic" name="test_tagging" time="0.1">
  <failure message="AssertionError: 400 != 501">AssertionError: 400 != 501 (request id RID501TAG)</failure>
</testcase>
<testcase classname="tests.integration.tables.test_table_basic.TestTableBasic" name="test_create_table" time="0.1">
  <error message="failed on setup">requests.exceptions.ConnectionError: HTTPSConnectionPool(...)</error></testcase>
<testcase classname="tests.integration.test_client.TestObjectBasic" name="test_get" time="0.1">
  <failure message="AssertionError: b'x' != b'y'">AssertionError</failure></testcase>
<testcase classname="tests.integration.test_client.TestObjectBasic" name="test_after_a_501" time="0.1">
  <failure message="AssertionError: b'x' != b'y'">AssertionError: b'x' != b'y'</failure></testcase>
</testsuite></testsuites>
"""


def _plugin_file(path: Path, tests: list[tuple[str, float, float, list[dict[str, Any]] | None]]) -> None:
    """The plugin's CONFORMANCE_TIMES file: start, failure (with its causes) and finish per test."""
    with path.open("w") as f:
        for nodeid, start, finish, causes in tests:
            f.write(json.dumps({"nodeid": nodeid, "event": "start", "time": start}) + "\n")
            if causes is not None:
                entry = {
                    "nodeid": nodeid,
                    "event": "failure",
                    "time": finish,
                    "phase": "call",
                    "causes": causes,
                }
                f.write(json.dumps(entry) + "\n")
            f.write(json.dumps({"nodeid": nodeid, "event": "finish", "time": finish}) + "\n")


def _log(time: float, status: int, request_id: str, code: str | None = None) -> dict[str, object]:
    """A request-log entry as the server writes it (the fields the classifier reads, and more)."""
    return {"time": time, "op": "Unsupported" if status == 501 else "GetObject", "method": "GET",
            "status": status, "error_code": code, "request_id": request_id, "auth": "v4"}  # fmt: skip


def test_every_class_and_its_evidence(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    times = tmp_path / "times.jsonl"
    mod = "tests/integration/test_client.py::TestObjectBasic::"
    v2_service_error: list[dict[str, Any]] = [
        {"type": "alibabacloud_oss_v2.exceptions.OperationError"},
        {"type": "alibabacloud_oss_v2.exceptions.ServiceError", "status": 501, "code": "NotImplemented",
         "request_id": "RID501CORS"},
    ]  # fmt: skip
    tables_host: list[dict[str, Any]] = [
        {"type": "requests.exceptions.ConnectionError", "host": "cn-hangzhou.oss-tables.aliyuncs.com"},
        {"type": "urllib3.exceptions.MaxRetryError", "host": "cn-hangzhou.oss-tables.aliyuncs.com"},
        {"type": "socket.gaierror"},
    ]
    _plugin_file(
        times,
        [
            ("tests/integration/test_bucket_cors_client.py::TestBucketCors::test_cors", 50.0, 51.0, v2_service_error),
            (mod + "test_tagging", 100.0, 101.0, [{"type": "builtins.AssertionError"}]),
            ("tests/integration/tables/test_table_basic.py::TestTableBasic::test_create_table", 150, 151, tables_host),
            (mod + "test_after_a_501", 200.0, 201.0, [{"type": "builtins.AssertionError"}]),
        ],
    )  # fmt: skip
    log = [
        _log(50.5, 501, "RID501CORS", "NotImplemented"),
        _log(100.5, 501, "RID501TAG", "NotImplemented"),  # the test's failure text names it
        _log(200.2, 501, "RID501SETUP", "NotImplemented"),  # sent along the way: not what failed
        _log(200.5, 200, "RIDGET"),
    ]
    results = {
        r.test_id.rsplit("::", 1)[1]: r
        for r in classify(read_junit(str(junit)), read_times(str(times)), log, read_failures(str(times)))
    }
    assert {name: (r.klass, r.rule) for name, r in results.items()} == {
        "test_put": ("passed", ""),
        "test_skipped": ("skipped", ""),
        "test_cors": ("unsupported", "501-raised RID501CORS"),
        "test_tagging": ("unsupported", "501-request-id RID501TAG"),
        "test_create_table": ("external", "tables"),
        "test_get": ("failed", ""),
        "test_after_a_501": ("failed", ""),
    }
    assert summary(results.values()) == {
        "passed": 1,
        "skipped": 1,
        "unsupported": 2,
        "external": 1,
        "not-applicable": 0,
        "failed": 2,
    }


def test_a_501_that_did_not_cause_the_failure_is_no_evidence() -> None:
    result = TestResult("tests/test_object/T::test_get", "failed", "AssertionError: b'x' != b'y'", 0)
    requests_of_test = [_log(1.0, 501, "RIDA", "NotImplemented"), _log(2.0, 200, "RIDB")]
    causes = [{"type": "builtins.AssertionError"}]
    assert classify_one(result, requests_of_test, causes).klass == "failed"
    # the word alone, without the 501's request id or a 501 in the exception chain, is no evidence
    worded = TestResult("tests/test_object/T::test_get", "failed", "expected NotImplemented", 0)
    assert classify_one(worded, requests_of_test, causes).klass == "failed"


def test_external_rules_match_causes_not_words() -> None:
    words = TestResult(
        "tests/test_crypto/T::test_put",
        "failed",
        "AssertionError: ... sts.aliyuncs.com AssumeRole aliyunsdksts KMS_CMK_ID ... payer",
        0,
    )
    assert classify_one(words, [], [{"type": "builtins.AssertionError"}]).klass == "failed"
    sdk_core = "aliyunsdkcore.acs_exception.exceptions.ClientException"
    sts = [{"type": sdk_core, "code": "SDK.InvalidCredential"}]
    assert classify_one(words, [], sts).rule == "sts"
    kms: list[dict[str, Any]] = [
        {"type": "oss2.exceptions.ClientError", "status": -1},
        {"type": sdk_core, "code": "SDK.HttpError"},
    ]
    assert classify_one(words, [], kms).rule == "kms"
    other = [{"type": sdk_core, "code": "SDK.InvalidParameter"}]
    assert classify_one(words, [], other).klass == "failed"
    real_oss: list[dict[str, Any]] = [
        {"type": "oss2.exceptions.RequestError", "status": -2},
        {
            "type": "requests.exceptions.ConnectionError",
            "host": "oss-python-sdk-x.oss-ap-south-1.aliyuncs.com",
        },
    ]
    assert classify_one(words, [], real_oss).rule == "other-region"
    local = [{"type": "requests.exceptions.ConnectionError", "host": "127.0.0.1"}]
    assert classify_one(words, [], local).klass == "failed"  # a connection error to us is ours


def test_a_v4_only_test_in_a_v1_run_is_not_applicable() -> None:
    v4_only = TestResult(
        "tests/integration/test_presign/TestPresign::test_presign_get_object_v4",
        "failed",
        "AssertionError: 'x-oss-signature-version=OSS4-HMAC-SHA256' not found in 'http://...'",
        0,
    )
    assert (classify_one(v4_only).klass, classify_one(v4_only).rule) == ("not-applicable", "v4-only-test")
    elsewhere = TestResult(
        "tests/integration/test_client/T::test_put_v4", "failed", "AssertionError: 1 != 2", 0
    )
    assert classify_one(elsewhere).klass == "failed"


@pytest.fixture(autouse=True)
def _quiet_sdk_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oss2.defaults, "request_retries", 1)


def test_the_plugin_records_the_501_of_either_sdk_with_the_request_id_the_server_logged(
    oss_server: LocalOssServer,
) -> None:
    bucket = oss2.Bucket(
        oss2.Auth(oss_server.access_key_id, oss_server.access_key_secret), oss_server.endpoint, B
    )
    with pytest.raises(oss2.exceptions.ServerError) as oss2_error:
        bucket._Bucket__do_bucket("GET", params={"nosuchsubresource": ""})
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        oss_server.access_key_id, oss_server.access_key_secret
    )
    cfg.region, cfg.endpoint, cfg.use_path_style = oss_server.region, oss_server.endpoint, True
    input_ = oss.OperationInput(op_name="X", method="GET", bucket=B, parameters={"nosuchsubresource": ""})
    with pytest.raises(oss.exceptions.OperationError) as v2_error:
        oss.Client(cfg).invoke_operation(input_)
    logged = [entry["request_id"] for entry in oss_server.request_log() if entry["status"] == 501]
    for error in (oss2_error.value, v2_error.value):
        raised = [c for c in exception_causes(error) if c.get("status") == 501]
        assert len(raised) == 1 and raised[0]["code"] == "NotImplemented"
        assert raised[0]["request_id"] in logged
        result = TestResult("tests/t/T::t", "failed", str(error), 0)
        assert classify_one(result, [], exception_causes(error)).klass == "unsupported"
    assert len(logged) >= 2  # the SDKs may retry a 5xx: each attempt is its own logged request


def test_the_plugin_records_aliyunsdkcore_error_codes() -> None:
    from aliyunsdkcore.acs_exception.exceptions import ClientException

    try:
        try:
            raise ClientException("SDK.HttpError", "kms.cn-hangzhou.aliyuncs.com unreachable")
        except ClientException as inner:
            raise oss2.exceptions.ClientError("wrapped") from inner
    except oss2.exceptions.ClientError as error:
        causes = exception_causes(error)
    assert causes[1] == {
        "type": "aliyunsdkcore.acs_exception.exceptions.ClientException",
        "code": "SDK.HttpError",
    }


def test_the_plugin_records_the_host_a_connection_error_tried() -> None:
    with pytest.raises(requests.exceptions.ConnectionError) as error:
        requests.get("http://no-such-host.invalid/", timeout=5)
    hosts = {c.get("host") for c in exception_causes(error.value)}
    assert "no-such-host.invalid" in hosts


def _run(suite: str, signature: str, classes: list[str]) -> Run:
    meta = {"suite": suite, "commit": "ebe9a43fc6ca04df7382db3b1d86a8aa8f105549", "signature": signature,
            "addressing": "path", "started": 1796692800.0, "finished": 1796693400.0, "timeout": 60}  # fmt: skip
    results = [
        {
            "test": f"tests/t/T::test_{i}",
            "class": k,
            "rule": "kms" if k == "external" else "",
            "text": f"AssertionError: {i} | x\nmore",
        }
        for i, k in enumerate(classes)
    ]
    return Run(meta, results)


def test_the_report_merges_configurations_and_lists_the_failures(tmp_path: Path) -> None:
    report = tmp_path / "CONFORMANCE.md"
    report.write_text("# Conformance\n\nHow to run.\n\n## Results\n\nstale hand-written table\n")
    write_report(
        str(report),
        [_run("oss2", "v1", ["passed", "failed", "external"]), _run("v2", "v4", ["passed", "unsupported"])],
    )
    text = report.read_text()
    assert text.startswith("# Conformance\n\nHow to run.\n\n## Results\n")
    assert "stale" not in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "ebe9a43fc6ca" in line]
    assert rows == [
        "| alibabacloud-oss-python-sdk-v2 | ebe9a43fc6ca | V4 | path | 2026-12-08 01:20 UTC | 60 s | 2 | 1 | 0 | 1 | 0 | 0 | 0 |",
        "| aliyun-oss-python-sdk (oss2) | ebe9a43fc6ca | V1 | path | 2026-12-08 01:20 UTC | 60 s | 3 | 1 | 0 | 0 | 1 | 0 | 1 |",
    ]
    assert "- `tests/t/T::test_1`: AssertionError: 1 / x" in text
    assert "V4, path: failed on implemented behaviour (0)\n\nNone." in text
    assert "External and not-applicable, by rule: external kms 1." in text
