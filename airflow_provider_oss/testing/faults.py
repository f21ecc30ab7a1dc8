"""Fault injection rules: which request to break, and how."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

from airflow_provider_oss.testing.routing import OPERATIONS

#: What a rule does to the request it fires on.
ACTIONS = (
    "status",
    "reset",
    "delay",
    "bad_crc",
    "expire_upload",
    "corrupt",
    "drop_answer",
    "ignore_range",
    "portal",
)

#: The OSS error code answered for an injected status.
STATUS_CODES = {
    400: "InvalidArgument",
    403: "AccessDenied",
    404: "NoSuchKey",
    408: "RequestTimeout",
    409: "OperationConflict",
    429: "Throttling",
    500: "InternalError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclass
class FaultRule:
    """
    A fault rule. It counts the requests that match ``op``, ``part_number`` and ``key`` since it was
    added, and fires on the ``nth`` of them and the ``times - 1`` that follow.

    :param id: the rule's id, returned by ``add_fault``.
    :param op: the operation name (``UploadPart``...) or ``*`` for any.
    :param action: ``status``, ``reset``, ``delay``, ``bad_crc``, ``expire_upload``, ``corrupt``
        (GetObject: send the bytes with one flipped, headers unchanged), ``drop_answer``,
        ``ignore_range`` (GetObject: answer as if the request had no ``Range``: 200 with the whole
        object, as a proxy that drops the header does) or ``portal`` (answer ``200 text/html`` with a
        login page and no ``x-oss-request-id``, unprocessed, as a captive portal does).
    :param nth: the first matching request it fires on (1 = the next one).
    :param times: how many matching requests in a row it fires on.
    :param status: the HTTP status for ``status``.
    :param code: the OSS error code for ``status`` (derived from the status when None).
    :param delay: seconds to sleep for ``delay``.
    :param after_bytes: for ``reset``, body bytes to read first (or, for a download, to send first).
    :param part_number: only requests with this ``partNumber``.
    :param key: only requests for this object key.
    """

    id: int
    op: str = "*"
    action: str = "status"
    nth: int = 1
    times: int = 1
    status: int = 503
    code: str | None = None
    delay: float = 0.0
    after_bytes: int | None = None
    part_number: int | None = None
    key: str | None = None
    seen: int = 0
    fired: int = 0

    def matches(self, op: str, part_number: int | None, key: str | None) -> bool:
        """Whether a request is one this rule counts."""
        if self.op not in ("*", op):
            return False
        if self.part_number is not None and self.part_number != part_number:
            return False
        return self.key is None or self.key == key

    def error_code(self) -> str:
        """The OSS error code answered by a ``status`` fault."""
        return self.code or STATUS_CODES.get(self.status, "InjectedFault")

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description."""
        return asdict(self)


class FaultSet:
    """The server's fault rules, in the order they were added; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._next_id = 1

    def add(
        self,
        op: str = "*",
        action: str = "status",
        *,
        nth: int = 1,
        times: int = 1,
        status: int = 503,
        code: str | None = None,
        delay: float = 0.0,
        after_bytes: int | None = None,
        part_number: int | None = None,
        key: str | None = None,
    ) -> int:
        """
        Add a rule (see :class:`FaultRule`) and return its id.

        :raises ValueError: for an unknown op or action, or out-of-range numbers.
        """
        if op != "*" and op not in OPERATIONS:
            raise ValueError(f"Unknown op {op!r}: use '*' or one of {', '.join(OPERATIONS)}.")
        if action not in ACTIONS:
            raise ValueError(f"Unknown fault action {action!r}: use one of {', '.join(ACTIONS)}.")
        if nth < 1 or times < 1:
            raise ValueError(f"nth and times must be at least 1 (got nth={nth}, times={times}).")
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status 400-599 (got {status}).")
        if delay < 0 or (after_bytes is not None and after_bytes < 0):
            raise ValueError("delay and after_bytes must not be negative.")
        with self._lock:
            rule = FaultRule(
                id=self._next_id,
                op=op,
                action=action,
                nth=nth,
                times=times,
                status=status,
                code=code,
                delay=float(delay),
                after_bytes=after_bytes,
                part_number=part_number,
                key=key,
            )
            self._next_id += 1
            self._rules.append(rule)
            return rule.id

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, object]]:
        """Every rule with its counters."""
        with self._lock:
            return [rule.to_dict() for rule in self._rules]

    def match(self, op: str, part_number: int | None, key: str | None) -> FaultRule | None:
        """
        Count a request against every matching rule; return the first rule that fires on it.

        :return: a copy of the firing rule, or None.
        """
        firing: FaultRule | None = None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(op, part_number, key):
                    continue
                rule.seen += 1
                if firing is None and rule.nth <= rule.seen < rule.nth + rule.times:
                    rule.fired += 1
                    firing = FaultRule(**asdict(rule))
        return firing
