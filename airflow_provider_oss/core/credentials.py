"""Credentials for signing OSS requests, with a repr that never shows the secret or the token."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from airflow_provider_oss.core.errors import OssClientError

# A header value must not carry control characters (a newline would split the request) or
# surrounding white space (HTTP strips it on receipt, so the signature would not match).
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _check_value(what: str, fix: str, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise OssClientError(f"The OSS {what} must be a string ({fix}).")
    if _BAD_CHARS.search(value) or value != value.strip():
        # Never echo the value: it may be a secret.
        raise OssClientError(
            f"The OSS {what} contains a control character (such as a newline) or leading/trailing white "
            f"space, so it cannot be sent in a header: {fix}, copying it again without line breaks."
        )


@dataclass(frozen=True)
class Credentials:
    """
    An access key pair, optionally with an STS security token.

    :param access_key_id: the AccessKeyId (not secret; it appears in signed requests).
    :param access_key_secret: the AccessKeySecret; never logged, never part of ``repr``.
    :param security_token: the STS token for temporary credentials; never logged.
    """

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.access_key_id or not str(self.access_key_id).strip():
            raise OssClientError("OSS credentials need an access key id: set the connection's login.")
        if not self.access_key_secret:
            raise OssClientError("OSS credentials need an access key secret: set the connection's password.")
        _check_value("access key id", "set the connection's login", self.access_key_id)
        _check_value("access key secret", "set the connection's password", self.access_key_secret)
        _check_value("STS security token", "set the connection's security token", self.security_token or None)

    def secrets(self) -> list[str]:
        """The strings that must never reach a log, an exception or a checkpoint."""
        return [s for s in (self.access_key_secret, self.security_token) if s]
