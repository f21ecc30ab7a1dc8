"""The conformance classifier (scripts/conformance.py): its rules on hand-made reports."""

from __future__ import annotations

import json
from pathlib import Path

from airflow_provider_oss.testing.conformance import (
    TestResult,
    classify,
    classify_one,
    read_junit,
    read_times,
    summary,
)

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.integration.test_client.TestObjectBasic" name="test_put" time="0.1"/>
<testcase classname="tests.integration.test_client.TestObjectBasic" name="test_skipped" time="0">
  <skipped message="needs OSS_TEST_X"/></testcase>
<testcase classname="tests.integration.test_bucket_cors_client.TestBucketCors" name="test_cors" time="0.1">
  <failure message="OperationError">Http Status Code: 501. Error Code: NotImplemented.</failure></testcase>
<testcase classname="tests.integration.test_client.TestObjectBasic" name="test_tagging" time="0.1">
  <failure message="AssertionError: 200 != 501">AssertionError</failure></testcase>
<testcase classname="tests.integration.tables.test_table_basic.TestTableBasic" name="test_create_table" time="0.1">
  <error message="failed on setup">HTTPSConnection(host='cn-hangzhou.oss-tables.aliyuncs.com')</error></testcase>
<testcase classname="tests.integration.test_client.TestObjectBasic" name="test_get" time="0.1">
  <failure message="AssertionError: b'x' != b'y'">AssertionError</failure></testcase>
<testcase classname="tests.integration.test_client.TestObjectBasic" name="test_missing_key" time="0.1">
  <failure message="NoSuchKey">Error Code: NoSuchKey</failure></testcase>
</testsuite></testsuites>
"""


def test_every_class_and_its_evidence(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    times = tmp_path / "times.jsonl"
    entries = [
        ("tests/integration/test_client.py::TestObjectBasic::test_tagging", 100.0, 101.0),
        ("tests/integration/test_client.py::TestObjectBasic::test_missing_key", 200.0, 201.0),
    ]
    with times.open("w") as f:
        for nodeid, start, finish in entries:
            f.write(json.dumps({"nodeid": nodeid, "event": "start", "time": start}) + "\n")
            f.write(json.dumps({"nodeid": nodeid, "event": "finish", "time": finish}) + "\n")
    log = [
        {"time": 100.5, "status": 501},  # in test_tagging's window: the 501 explains its failure
        {"time": 200.5, "status": 501},  # in test_missing_key's: but it failed on another OSS code
    ]
    results = {
        r.test_id.rsplit("::", 1)[1]: r for r in classify(read_junit(str(junit)), read_times(str(times)), log)
    }
    assert {name: (r.klass, r.rule) for name, r in results.items()} == {
        "test_put": ("passed", ""),
        "test_skipped": ("skipped", ""),
        "test_cors": ("unsupported", "501-in-failure"),
        "test_tagging": ("unsupported", "501-in-request-log"),
        "test_create_table": ("external", "tables"),
        "test_get": ("failed", ""),
        "test_missing_key": ("failed", ""),
    }
    assert summary(results.values()) == {
        "passed": 1,
        "skipped": 1,
        "unsupported": 2,
        "external": 1,
        "not-applicable": 0,
        "failed": 2,
    }


def test_a_v4_only_test_in_a_v1_run_is_not_applicable() -> None:
    v4_only = TestResult(
        "tests/integration/test_presign/TestPresign::test_presign_get_object_v4",
        "failed",
        "AssertionError: 'x-oss-signature-version=OSS4-HMAC-SHA256' not found in 'http://...'",
        0,
    )
    assert (classify_one(v4_only, []).klass, classify_one(v4_only, []).rule) == (
        "not-applicable",
        "v4-only-test",
    )
    elsewhere = TestResult(
        "tests/integration/test_client/T::test_put_v4", "failed", "AssertionError: 1 != 2", 0
    )
    assert classify_one(elsewhere, []).klass == "failed"


def test_an_external_rule_needs_its_evidence_not_just_a_test_name() -> None:
    no_evidence = TestResult(
        "tests/integration/tables/test_table_basic::T::t", "failed", "AssertionError: 1 != 2", 0
    )
    assert classify_one(no_evidence, []).klass == "failed"
    no_501 = TestResult("tests/test_object::T::t", "failed", "AssertionError: 200 != 404", 0)
    assert classify_one(no_501, [200, 404]).klass == "failed"
