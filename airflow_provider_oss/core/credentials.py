"""Credentials for signing OSS requests, with a repr that never shows the secret or the token."""

from __future__ import annotations

from dataclasses import dataclass, field


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
        if not self.access_key_id or not self.access_key_id.strip():
            raise ValueError("OSS credentials need an access key id: set the connection's login.")
        if not self.access_key_secret:
            raise ValueError("OSS credentials need an access key secret: set the connection's password.")

    def secrets(self) -> list[str]:
        """The strings that must never reach a log, an exception or a checkpoint."""
        return [s for s in (self.access_key_secret, self.security_token) if s]
