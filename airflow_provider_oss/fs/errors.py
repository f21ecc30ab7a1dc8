"""
One table from OSS's errors to Python's, for the fsspec filesystem: code written against fsspec
catches ``FileNotFoundError``, ``FileExistsError`` and ``PermissionError`` (as with s3fs), and
fsspec itself relies on them (a recursive ``copy`` skips the "directory" entries it cannot copy
by catching ``FileNotFoundError``).

Each Python error comes as a subclass of both the OSS error and the Python one, carrying OSS's
code, message and request ID: ``except FileNotFoundError`` and ``except OssNotFoundError`` both
catch a missing key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from airflow_provider_oss.core.errors import (
    AUTH_CODES,
    OssAuthError,
    OssNotFoundError,
    OssPreconditionError,
    OssServiceError,
)

#: The parameters of a method wrapped by :func:`python_errors`.
P = ParamSpec("P")
#: The return type of a method wrapped by :func:`python_errors`.
R = TypeVar("R")


class OssFileNotFoundError(OssNotFoundError, FileNotFoundError):
    """A missing key, bucket or upload: both :class:`OssNotFoundError` and ``FileNotFoundError``."""


class OssFileExistsError(OssPreconditionError, FileExistsError):
    """OSS refused to overwrite an object (``FileAlreadyExists``): also ``FileExistsError``."""


class OssPermissionError(OssAuthError, PermissionError):
    """A wrong key or secret, a bad signature, a denied access: also ``PermissionError``."""


#: OSS error code -> the error raised by every :class:`OssFileSystem` method.
ERROR_CODE_TO_PYTHON: dict[str, type[OssServiceError]] = {
    "NoSuchKey": OssFileNotFoundError,
    "NoSuchBucket": OssFileNotFoundError,
    "NoSuchUpload": OssFileNotFoundError,
    "FileAlreadyExists": OssFileExistsError,
    **dict.fromkeys(sorted(AUTH_CODES), OssPermissionError),
}

#: HTTP status -> error, for answers without a body to name a code (a HEAD's 404 or 403).
BODYLESS_STATUS_TO_PYTHON: dict[int, type[OssServiceError]] = {
    404: OssFileNotFoundError,
    403: OssPermissionError,
}


def as_python_error(err: OssServiceError) -> OssServiceError:
    """
    ``err`` as the error of :data:`ERROR_CODE_TO_PYTHON` (same message and attributes), or ``err``
    itself when the table has no entry for it or it is already one.
    """
    target = ERROR_CODE_TO_PYTHON.get(err.code) if err.code else BODYLESS_STATUS_TO_PYTHON.get(err.status)
    # the OSS class of the entry (its first base) must be err's: an entry never changes what err is
    if target is None or isinstance(err, target) or not isinstance(err, target.__mro__[1]):
        return err
    translated = target.__new__(target)
    Exception.__init__(translated, *err.args)
    translated.__dict__.update(err.__dict__)
    return translated


def python_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Make ``method`` raise OSS's errors as :func:`as_python_error` maps them."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except OssServiceError as err:
            translated = as_python_error(err)
            if translated is err:
                raise
            raise translated.with_traceback(err.__traceback__) from err.__cause__

    return wrapper
