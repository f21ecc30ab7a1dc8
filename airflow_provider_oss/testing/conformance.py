"""
Classifying the results of an official SDK integration suite run against the local server
(``scripts/conformance.py``, ``make conformance SDK_TESTS=...``).

Every test gets exactly one class, by these rules, in this order:

``passed``
    pytest says it passed.
``skipped``
    the suite skipped it itself (pytest ``skipped``).
``unsupported``
    it failed, and a ``501`` answer of the local server caused it: an exception in the failure's
    chain (recorded by the plugin) carries status 501 (``501-raised``), or the failure text
    carries the request id of a request of this test that the server answered 501
    (``501-request-id``). A 501 that the test merely sent along the way is no evidence.
``external``
    it failed, and it needs something no local server offers: a rule of :data:`EXTERNAL_RULES`
    matches its test id and a cause of its failure (the exception's type, and the host a
    connection error was trying to reach); each rule names what is missing.
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from xml.etree import ElementTree

CLASSES = ("passed", "skipped", "unsupported", "external", "not-applicable", "failed")


@dataclass(frozen=True)
class ExternalRule:
    """
    A test that needs something no local server can offer, recognised by the cause of its failure.

    :param name: a short identifier shown in reports.
    :param needs: what is missing, in words.
    :param test_id: a regex searched in the test id (``path::Class::test``).
    :param cause_type: a regex the type (``module.QualName``) of one exception of the failure's
        chain must fully match.
    :param host: when given, a regex the host that same exception was trying to reach must fully
        match.
    :param code: when given, a regex the error code that same exception carries must fully match.
    """

    name: str
    needs: str
    test_id: str
    cause_type: str
    host: str | None = None
    code: str | None = None

    def matches(self, test_id: str, causes: Sequence[Mapping[str, Any]]) -> bool:
        """Whether this rule explains the failure of ``test_id`` whose exception chain is ``causes``."""
        if not re.search(self.test_id, test_id):
            return False
        return any(
            re.fullmatch(self.cause_type, str(cause.get("type", "")))
            and (self.host is None or re.fullmatch(self.host, str(cause.get("host") or "")))
            and (self.code is None or re.fullmatch(self.code, str(cause.get("code") or "")))
            for cause in causes
        )


_CONNECTION_ERRORS = r"(requests\.exceptions|urllib3\.exceptions)\.\w*(Connection|Resolution|MaxRetry)\w*"

#: What no local server offers; reviewed by hand (a rule needs a test id and a cause).
EXTERNAL_RULES: tuple[ExternalRule, ...] = (
    ExternalRule(
        "tables",
        "the OSS Tables endpoint (<region>.oss-tables.aliyuncs.com)",
        r"/tables/",
        _CONNECTION_ERRORS,
        r"([a-z0-9-]+\.)*oss-tables\.aliyuncs\.com",
    ),
    ExternalRule(
        "vectors",
        "the OSS Vectors endpoint (<bucket>-<account>.<region>.oss-vectors.aliyuncs.com)",
        r"/vector/",
        _CONNECTION_ERRORS,
        r"([a-z0-9-]+\.)*oss-vectors\.aliyuncs\.com",
    ),
    ExternalRule(
        "sts",
        "STS credentials (OSS_TEST_STS_ID, OSS_TEST_STS_KEY, OSS_TEST_STS_ARN) for aliyunsdkcore's client",
        r".",
        r"aliyunsdkcore\.acs_exception\.exceptions\.ClientException",
        code=r"SDK\.InvalidCredential",
    ),
    ExternalRule(
        "kms",
        "a KMS service (oss2's AliKMSProvider asks kms.<region>.aliyuncs.com for data keys; oss2's tests "
        "pick a KMS-encrypting bucket at random, so any module may need it; STS, the suite's only other "
        "aliyunsdkcore client, fails earlier with SDK.InvalidCredential)",
        r".",
        r"aliyunsdkcore\.acs_exception\.exceptions\.ClientException",
        code=r"SDK\.HttpError",
    ),
    ExternalRule(
        "default-port",
        "an endpoint on the default port (the test resolves or parses OSS_TEST_ENDPOINT without its port)",
        r"test_api_base.*::(test_ip|test_check_endpoint)$",
        r"socket\.gaierror|builtins\.ValueError",
    ),
    ExternalRule(
        "locale",
        "a zh_CN locale installed on the test machine (oss2's date-parsing unit tests)",
        r"locale",
        r"locale\.Error",
    ),
    ExternalRule(
        "other-region",
        "real OSS's public endpoints (*.aliyuncs.com: another region, or a bucket named by its real host)",
        r".",
        _CONNECTION_ERRORS,
        r"([a-z0-9-]+\.)*aliyuncs\.com",
    ),
)

#: Tests that contradict a run's setting; reviewed by hand like the external rules. The evidence
#: regex is searched in the failure text (these are assertions on the request the SDK built).
NOT_APPLICABLE_RULES: tuple[tuple[str, str, str, str], ...] = (
    (
        "v4-only-test",
        "V4 signing: the test checks the V4 form of the default client, which a V1 run switched to V1",
        r"_v4$|test_presign_fail$",
        r"OSS4-HMAC-SHA256|x-oss-signature-version|PresignExpirationError",
    ),
    (
        "rtmp-path-style",
        "a virtual-hosted endpoint name: oss2 builds RTMP URLs path-style for an IP endpoint",
        r"test_live_channel",
        r"'rtmp://\d+\.\d+\.\d+\.\d+:\d+/",
    ),
    (
        "v4-needs-region",
        "a region: the test builds its own client without one, which V4 signing (this run's) requires",
        r".",
        r"ClientError: The region should not be None in signature version 4",
    ),
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


def read_failures(path: str) -> dict[str, list[dict[str, Any]]]:
    """Test id (pytest node id) -> the causes of its failures (every phase) the plugin recorded."""
    failures: dict[str, list[dict[str, Any]]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            entry = json.loads(line)
            if entry["event"] == "failure":
                failures.setdefault(entry["nodeid"], []).extend(entry.get("causes") or [])
    return failures


def _node_matches(test_id: str, nodeid: str) -> bool:
    """
    Whether a pytest node id (``tests/x.py::C::t``) is the junit test id (``tests/x/C::t``: junit
    joins module and class with dots, so both are compared with every separator made ``/``).
    """

    def norm(text: str) -> str:
        return re.sub(r"\.py::|::|\.", "/", text)

    return norm(nodeid) == norm(test_id)


def requests_in_window(
    log: Sequence[dict[str, Any]], window: tuple[float, float] | None
) -> list[dict[str, Any]]:
    """The logged requests that arrived within ``window`` (none without a window)."""
    if window is None:
        return []
    start, finish = window
    return [entry for entry in log if start <= float(entry["time"]) <= finish]


def classify_one(
    result: TestResult,
    requests: Sequence[Mapping[str, Any]] = (),
    causes: Sequence[Mapping[str, Any]] = (),
) -> Classified:
    """
    The class of one test, by the module's rules.

    :param requests: the server's log entries of the requests this test sent.
    :param causes: the exceptions of its failure, as the plugin recorded them.
    """
    if result.outcome in ("passed", "skipped"):
        return Classified(result.test_id, result.outcome, "", result.text)
    text = result.text
    raised = [cause for cause in causes if cause.get("status") == 501]
    if raised:
        request_id = raised[0].get("request_id")
        return Classified(result.test_id, "unsupported", f"501-raised {request_id or ''}".strip(), text)
    for entry in requests:
        request_id = entry.get("request_id")
        if int(entry["status"]) == 501 and request_id and str(request_id) in text:
            return Classified(result.test_id, "unsupported", f"501-request-id {request_id}", text)
    for rule in EXTERNAL_RULES:
        if rule.matches(result.test_id, causes):
            return Classified(result.test_id, "external", rule.name, text)
    for name, _needs, test_id, evidence in NOT_APPLICABLE_RULES:
        if re.search(test_id, result.test_id) and re.search(evidence, text, re.DOTALL):
            return Classified(result.test_id, "not-applicable", name, text)
    return Classified(result.test_id, "failed", "", text)


def _by_node(test_id: str, by_nodeid: Mapping[str, Any]) -> Any:
    return next((value for nodeid, value in by_nodeid.items() if _node_matches(test_id, nodeid)), None)


def classify(
    results: Iterable[TestResult],
    times: dict[str, tuple[float, float]],
    log: Sequence[dict[str, Any]],
    failures: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> list[Classified]:
    """
    Classify every test of a run (``times`` and ``failures`` from the plugin's file, ``log`` the
    server's request log).
    """
    out = []
    for result in results:
        window = _by_node(result.test_id, times)
        causes = _by_node(result.test_id, failures or {}) or ()
        out.append(classify_one(result, requests_in_window(log, window), causes))
    return out


def summary(classified: Iterable[Classified]) -> dict[str, int]:
    """How many tests fell in each class (every class present, in :data:`CLASSES` order)."""
    counts = Counter(item.klass for item in classified)
    return {name: counts.get(name, 0) for name in CLASSES}


SUITE_NAMES = {"v2": "alibabacloud-oss-python-sdk-v2", "oss2": "aliyun-oss-python-sdk (oss2)"}
RESULTS_HEADING = "## Results"


@dataclass(frozen=True)
class Run:
    """
    One finished run, as ``scripts/conformance.py`` leaves it in its report directory.

    :param meta: ``meta.json``: suite, commit, signature, addressing, started, finished, timeout.
    :param results: ``results.json``: every test with its class and rule.
    """

    meta: Mapping[str, Any]
    results: Sequence[Mapping[str, Any]]

    @classmethod
    def load(cls, directory: str) -> Run:
        """The run whose reports are in ``directory``."""
        with open(f"{directory}/meta.json", encoding="utf-8") as f:
            meta = json.load(f)
        with open(f"{directory}/results.json", encoding="utf-8") as f:
            results = json.load(f)
        return cls(meta, results)


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def render_results(runs: Sequence[Run]) -> str:
    """
    The ``## Results`` section of CONFORMANCE.md for ``runs`` (any suites and configurations):
    when and on which SDK commits they ran, the count per class per configuration, and every
    test that failed on implemented behaviour, with its first line.
    """
    ordered = sorted(
        runs,
        key=lambda r: (r.meta["suite"] != "v2", r.meta["signature"] != "v4", r.meta["addressing"] != "path"),
    )
    lines = [
        RESULTS_HEADING,
        "",
        "Written by `scripts/conformance.py --report` from the runs below; do not edit by hand.",
        "",
    ]
    lines += [
        "| suite | SDK commit | signature | addressing | run (UTC) | timeout | tests | "
        + " | ".join(CLASSES)
        + " |"
    ]
    lines += ["|" + "---|" * (7 + len(CLASSES))]
    for run in ordered:
        meta = run.meta
        counts = Counter(str(item["class"]) for item in run.results)
        title = SUITE_NAMES.get(str(meta["suite"]), str(meta["suite"]))
        selection = f" (-k {meta['keyword']})" if meta.get("keyword") else ""
        cells = [
            title + selection,
            str(meta.get("commit") or "not a git checkout")[:12],
            str(meta["signature"]).upper(),
            str(meta["addressing"]),
            _utc(float(meta["started"])),
            f"{meta.get('timeout')} s",
            str(len(run.results)),
            *(str(counts.get(name, 0)) for name in CLASSES),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for run in ordered:
        meta = run.meta
        failed = [item for item in run.results if item["class"] == "failed"]
        title = SUITE_NAMES.get(str(meta["suite"]), str(meta["suite"]))
        lines.append(
            f"### {title}, {str(meta['signature']).upper()}, {meta['addressing']}: failed on implemented behaviour ({len(failed)})"
        )
        lines.append("")
        for item in failed:
            first = next((line.strip() for line in str(item["text"]).splitlines() if line.strip()), "")
            lines.append(f"- `{item['test']}`: {first[:200].replace('|', '/')}")
        if not failed:
            lines.append("None.")
        by_rule = Counter(
            f"{item['class']} {item['rule']}"
            for item in run.results
            if item["class"] in ("external", "not-applicable")
        )
        if by_rule:
            lines += [
                "",
                "External and not-applicable, by rule: "
                + ", ".join(f"{k} {v}" for k, v in sorted(by_rule.items()))
                + ".",
            ]
        lines.append("")
    return "\n".join(lines)


def write_report(path: str, runs: Sequence[Run]) -> None:
    """
    Replace the results section of the Markdown file at ``path`` (from :data:`RESULTS_HEADING` to
    its end; appended when absent) by :func:`render_results` of ``runs``.
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head = text.split(f"\n{RESULTS_HEADING}\n", 1)[0].rstrip("\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write(head + "\n\n" + render_results(runs).rstrip("\n") + "\n")
