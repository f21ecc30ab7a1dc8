"""The error a local-server operation raises to answer with an OSS error response."""

from __future__ import annotations

#: ``EC`` values for the error body and the ``x-oss-ec`` header. Real OSS's EC codes index its
#: documentation; these are local placeholders (product ``9999``, which OSS does not use) except
#: where the real value is known.
_EC = {
    "AccessDenied": "9999-00000003",
    "BadDigest": "9999-00000011",
    "BucketAlreadyExists": "9999-00000020",
    "BucketNotEmpty": "9999-00000021",
    "EntityTooLarge": "9999-00000030",
    "EntityTooSmall": "9999-00000031",
    "FileAlreadyExists": "9999-00000032",
    "InternalError": "9999-00000050",
    "InvalidAccessKeyId": "9999-00000060",
    "InvalidArgument": "9999-00000061",
    "InvalidBucketName": "9999-00000062",
    "InvalidDigest": "9999-00000063",
    "InvalidObjectName": "9999-00000064",
    "InvalidPart": "9999-00000065",
    "InvalidPartOrder": "9999-00000066",
    "InvalidRange": "9999-00000067",
    "InvalidSecurityToken": "9999-00000068",
    "MalformedXML": "9999-00000070",
    "MetadataTooLarge": "9999-00000071",
    "MethodNotAllowed": "9999-00000072",
    "MissingContentLength": "9999-00000073",
    "NoSuchBucket": "9999-00000080",
    "NoSuchKey": "0026-00000001",
    "NoSuchUpload": "9999-00000082",
    "NotImplemented": "9999-00000090",
    "PreconditionFailed": "9999-00000091",
    "RequestTimeTooSkewed": "9999-00000100",
    "ServiceUnavailable": "9999-00000110",
    "SignatureDoesNotMatch": "9999-00000120",
    "Throttling": "9999-00000130",
}
_SIGNING_PRODUCT_EC = "0002-00000227"  # the EC real OSS gives for "Invalid signing product"
_SIGNING_REGION_EC = "0002-00000226"  # ... and for "Invalid signing region in Authorization header."


def ec_for(code: str, message: str = "") -> str:
    """The ``EC`` value sent with an error code."""
    if message.startswith("Invalid signing product"):
        return _SIGNING_PRODUCT_EC
    if message == "Invalid signing region in Authorization header.":
        return _SIGNING_REGION_EC
    return _EC.get(code, "9999-00000000")


class OssApiError(Exception):
    """
    An OSS error answer: the HTTP status, the OSS ``Code`` and ``Message``, and extra body elements.

    :param status: the HTTP status.
    :param code: the OSS error code (``NoSuchKey``...).
    :param message: the human-readable message.
    :param details: extra elements of the XML body (``ServerTime``, ``PartNumber``...), in order.
    :param close: close the connection after answering.
    """

    def __init__(
        self, status: int, code: str, message: str, *, close: bool = False, **details: str | int
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, str] = {name: str(value) for name, value in details.items()}
        self.close = close
        #: extra response headers (``x-oss-next-append-position``...)
        self.headers: dict[str, str] = {}

    @classmethod
    def with_details(cls, status: int, code: str, message: str, details: dict[str, str]) -> OssApiError:
        """An error with extra body elements given as a dict."""
        err = cls(status, code, message)
        err.details.update(details)
        return err

    @property
    def ec(self) -> str:
        """The ``EC`` diagnostic code."""
        return ec_for(self.code, self.message)


def no_such_bucket(bucket: str) -> OssApiError:
    """``NoSuchBucket`` for ``bucket``."""
    return OssApiError(404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=bucket)


def no_such_key(key: str) -> OssApiError:
    """``NoSuchKey`` for ``key``."""
    return OssApiError(404, "NoSuchKey", "The specified key does not exist.", Key=key)


def no_such_upload(upload_id: str, why: str = "") -> OssApiError:
    """``NoSuchUpload`` for ``upload_id``."""
    message = "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    if why:
        message += " " + why
    return OssApiError(404, "NoSuchUpload", message, UploadId=upload_id)


def invalid_argument(message: str, name: str = "", value: str = "") -> OssApiError:
    """``InvalidArgument`` (400), optionally naming the argument."""
    details = {"ArgumentName": name, "ArgumentValue": value} if name else {}
    return OssApiError.with_details(400, "InvalidArgument", message, details)
