"""
Classifying the results of an official SDK integration suite run against the local server
(``scripts/conformance.py``, ``make conformance SDK_TESTS=...``).

Every test gets exactly one class, by these rules, in this order:

``passed``
    pytest says it passed.
``skipped``
    the suite skipped it itself (pytest ``skipped``).
``unsupported``
    it failed, and the local server answered ``501 NotImplemented`` for a feature it declares
    unsupported: either the failure text carries the ``NotImplemented`` code, or a request the test
    sent (matched by time in the server's request log) was answered 501 and the failure text
    carries no other OSS error code of this server.
``external``
    it failed, and it needs something no local server offers: a rule of :data:`EXTERNAL_RULES`
    matches both its test id and its failure text (each rule names what is missing).
``not-applicable``
    it failed because it contradicts the run's own setting (a V4-only test of the default client in
    a run that switched the default client to V1): a rule of :data:`NOT_APPLICABLE_RULES` matches.
``failed``
    anything else: a failure on behaviour the server implements (the goal is zero).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

CLASSES = ("passed", "skipped", "unsupported", "external", "not-applicable", "failed")


@dataclass(frozen=True)
class ExternalRule:
    """
    A test that needs something no local server can offer.

    :param name: a short identifier shown in reports.
    :param needs: what is missing, in words.
    :param test_id: a regex searched in the test id (``path::Class::test``).
    :param evidence: a regex searched in the failure text; both must match.
    """

    name: str
    needs: str
    test_id: str
    evidence: str

    def matches(self, test_id: str, text: str) -> bool:
        """Whether this rule explains the failure of ``test_id`` with ``text``."""
        return bool(re.search(self.test_id, test_id) and re.search(self.evidence, text, re.DOTALL))


#: What no local server offers; reviewed by hand (a rule needs both a test id and evidence).
EXTERNAL_RULES: tuple[ExternalRule, ...] = (
    ExternalRule(
        "tables",
        "the OSS Tables endpoint (<region>.oss-tables.aliyuncs.com)",
        r"/tables/",
        r"TableBucket|oss-tables|aliyuncs\.com",
    ),
    ExternalRule(
        "vectors",
        "the OSS Vectors endpoint and an account id (OSS_TEST_VECTORS_ENDPOINT)",
        r"/vector/",
        r"Vector",
    ),
    ExternalRule(
        "sts",
        "an STS service and a RAM role (OSS_TEST_RAM_ROLE_ARN, OSS_TEST_STS_*)",
        r".",
        r"sts\.aliyuncs\.com|sts_assume_role|AssumeRole|aliyunsdksts",
    ),
    ExternalRule(
        "kms",
        "a KMS service (keys for SSE-KMS and client-side encryption; oss2's tests pick a KMS bucket at random)",
        r".",
        r"kms\.[a-z0-9-]+\.aliyuncs\.com|AliKMSProvider|KMS_CMK_ID|CMK",
    ),
    ExternalRule(
        "payer",
        "a second account paying requests (OSS_TEST_PAYER_*)",
        r"(?i)payment|payer",
        r"(?i)payer",
    ),
    ExternalRule(
        "default-port",
        "an endpoint on the default port (the test resolves or parses OSS_TEST_ENDPOINT without its port)",
        r"test_api_base.*::(test_ip|test_check_endpoint)$",
        r"gaierror|Port could not be cast to integer",
    ),
    ExternalRule(
        "rtmp-host",
        "a virtual-hosted endpoint name for RTMP live-channel URLs (oss2 builds them path-style for an IP)",
        r"test_live_channel",
        r"rtmp://",
    ),
    ExternalRule(
        "locale",
        "a zh_CN locale installed on the test machine (oss2's date-parsing unit tests)",
        r"locale",
        r"unsupported locale setting",
    ),
    ExternalRule(
        "other-region",
        "real OSS's public endpoints (*.aliyuncs.com: another region, or a bucket named by its real host)",
        r".",
        r"aliyuncs\.com\S*.{0,400}(Name or service not known|NameResolutionError|Failed to resolve|"
        r"Temporary failure in name resolution|Max retries exceeded)",
    ),
)

#: Tests that contradict a run's setting; reviewed by hand like the external rules.
NOT_APPLICABLE_RULES: tuple[ExternalRule, ...] = (
    ExternalRule(
        "v4-only-test",
        "V4 signing: the test checks the V4 form of the default client, which a V1 run switched to V1",
        r"_v4$|test_presign_fail$",
        r"OSS4-HMAC-SHA256|x-oss-signature-version|PresignExpirationError",
    ),
)

_OSS_CODE_RE = re.compile(
    r"\b(NoSuchKey|NoSuchBucket|NoSuchUpload|AccessDenied|SignatureDoesNotMatch|InvalidArgument|"
    r"MalformedXML|InvalidDigest|InvalidPart|InvalidPartOrder|EntityTooLarge|EntityTooSmall|"
    r"PreconditionFailed|BucketNotEmpty|BucketAlreadyExists|FileAlreadyExists|InvalidObjectName|"
    r"InvalidBucketName|RequestTimeTooSkewed|PositionNotEqualToLength|ObjectNotAppendable|"
    r"InternalError|InvalidAccessKeyId|InvalidRange)\b"
)


@dataclass(frozen=True)
class TestResult:
    """One test of the suite as pytest reported it."""

    test_id: str
    outcome: str  # passed, skipped, failed (failure or error)
    text: str
    duration: float


@dataclass(frozen=True)
class Classified:
    """A test and its class (``rule`` names the external rule or the 501 evidence)."""

    test_id: str
    klass: str
    rule: str
    text: str


def read_junit(path: str) -> list[TestResult]:
    """The tests of a pytest ``--junitxml`` report."""
    root = ElementTree.parse(path).getroot()  # noqa: S314  # a report our own pytest run wrote
    results = []
    for case in root.iter("testcase"):
        module = case.get("classname", "")
        test_id = f"{module.replace('.', '/')}::{case.get('name', '')}"
        outcome, text = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
                text += (child.get("message") or "") + "\n" + (child.text or "")
            elif child.tag == "skipped" and outcome == "passed":
                outcome = "skipped"
                text = child.get("message") or ""
        results.append(TestResult(test_id, outcome, text, float(case.get("time") or 0)))
    return results


def read_times(path: str) -> dict[str, tuple[float, float]]:
    """Test id (pytest node id) -> (start, finish) from the plugin's ``CONFORMANCE_TIMES`` file."""
    starts: dict[str, float] = {}
    windows: dict[str, tuple[float, float]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            entry = json.loads(line)
            if entry["event"] == "start":
                starts[entry["nodeid"]] = entry["time"]
            elif entry["nodeid"] in starts:
                windows[entry["nodeid"]] = (starts[entry["nodeid"]], entry["time"])
    return windows


def _node_matches(test_id: str, nodeid: str) -> bool:
    """
    Whether a pytest node id (``tests/x.py::C::t``) is the junit test id (``tests/x/C::t``: junit
    joins module and class with dots, so both are compared with every separator made ``/``).
    """

    def norm(text: str) -> str:
        return re.sub(r"\.py::|::|\.", "/", text)

    return norm(nodeid) == norm(test_id)


def statuses_in_window(log: Sequence[dict[str, Any]], window: tuple[float, float] | None) -> list[int]:
    """The HTTP statuses of the logged requests that arrived within ``window``."""
    if window is None:
        return []
    start, finish = window
    return [int(entry["status"]) for entry in log if start <= float(entry["time"]) <= finish]


def classify_one(result: TestResult, statuses: Sequence[int]) -> Classified:
    """The class of one test, by the module's rules."""
    if result.outcome in ("passed", "skipped"):
        return Classified(result.test_id, result.outcome, "", result.text)
    text = result.text
    if "NotImplemented" in text:
        return Classified(result.test_id, "unsupported", "501-in-failure", text)
    if 501 in statuses and not _OSS_CODE_RE.search(text):
        return Classified(result.test_id, "unsupported", "501-in-request-log", text)
    for rule in EXTERNAL_RULES:
        if rule.matches(result.test_id, text):
            return Classified(result.test_id, "external", rule.name, text)
    for rule in NOT_APPLICABLE_RULES:
        if rule.matches(result.test_id, text):
            return Classified(result.test_id, "not-applicable", rule.name, text)
    return Classified(result.test_id, "failed", "", text)


def classify(
    results: Iterable[TestResult],
    times: dict[str, tuple[float, float]],
    log: Sequence[dict[str, Any]],
) -> list[Classified]:
    """Classify every test of a run (``times`` from the plugin, ``log`` the server's request log)."""
    out = []
    for result in results:
        window = next((w for nodeid, w in times.items() if _node_matches(result.test_id, nodeid)), None)
        out.append(classify_one(result, statuses_in_window(log, window)))
    return out


def summary(classified: Iterable[Classified]) -> dict[str, int]:
    """How many tests fell in each class (every class present, in :data:`CLASSES` order)."""
    counts = Counter(item.klass for item in classified)
    return {name: counts.get(name, 0) for name in CLASSES}
