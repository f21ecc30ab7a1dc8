"""Every error a user can catch derives from ``OssError`` and survives pickling (Airflow pickles a
task's exception to its supervisor process), attributes and message included."""

from __future__ import annotations

import importlib
import pickle
import pkgutil

import pytest

import airflow_provider_oss
from airflow_provider_oss.copy.errors import (
    CopyDestinationError,
    CopyError,
    CopySourceChangedError,
    CopySourceMissingError,
)
from airflow_provider_oss.core.bulk_delete import DeleteFailure, OssDeleteError
from airflow_provider_oss.core.callback import CallbackConfigError
from airflow_provider_oss.core.errors import (
    CallbackFailedError,
    CrcMismatchError,
    OssAuthError,
    OssClientError,
    OssConnectionError,
    OssError,
    OssNotFoundError,
    OssPreconditionError,
    OssResponseError,
    OssServiceError,
)
from airflow_provider_oss.core.xmlutil import OssXmlError
from airflow_provider_oss.download.errors import (
    DestinationError,
    DownloadError,
    DownloadInProgressError,
    ObjectChangedError,
    RangeFetchError,
)
from airflow_provider_oss.fs.errors import OssFileExistsError, OssFileNotFoundError, OssPermissionError
from airflow_provider_oss.hooks.oss import OssConnectionConfigError
from airflow_provider_oss.sensors.oss_key import OssSensorError
from airflow_provider_oss.upload.config import TransferConfigError
from airflow_provider_oss.upload.distributed_plan import DistributedPlanError
from airflow_provider_oss.upload.errors import (
    CheckpointCorruptError,
    ObjectExistsError,
    PartUploadError,
    SourceChangedError,
    SourceFileError,
    UploadError,
    UploadGoneError,
)
from airflow_provider_oss.upload.folder_result import FolderUploadError
from airflow_provider_oss.upload.plan import PartPlanError


def _service(cls: type[OssServiceError]) -> OssServiceError:
    return cls(
        status=404,
        code="NoSuchKey",
        message="The specified key does not exist.",
        request_id="RID-1",
        ec="0026-00000001",
        method="GET",
        bucket="b",
        key="k",
        details={"ServerTime": "2026-01-01T00:00:00.000Z"},
    )


SAMPLES: dict[type[OssError], OssError] = {
    OssError: OssError("plain"),
    OssClientError: OssClientError("bad key"),
    OssConnectionError: OssConnectionError("reset", method="PUT", key="k", attempts=6),
    CrcMismatchError: CrcMismatchError("crc", local_crc=2**64 - 1, server_crc=1, key="k", part_number=3),
    OssServiceError: _service(OssServiceError),
    OssNotFoundError: _service(OssNotFoundError),
    OssAuthError: _service(OssAuthError),
    OssPreconditionError: _service(OssPreconditionError),
    OssFileNotFoundError: _service(OssFileNotFoundError),
    OssFileExistsError: _service(OssFileExistsError),
    OssPermissionError: _service(OssPermissionError),
    CallbackFailedError: CallbackFailedError(
        status=203,
        code="CallbackFailed",
        message="Error status : 502.",
        method="PutObject",
        bucket="b",
        key="k",
        etag="E",
        crc64=7,
        callback_url="http://app/cb",
    ),
    CallbackConfigError: CallbackConfigError("needs callbackUrl"),
    OssResponseError: OssResponseError("no ETag"),
    OssXmlError: OssXmlError("not XML"),
    OssConnectionConfigError: OssConnectionConfigError("no region"),
    PartPlanError: PartPlanError("too small"),
    TransferConfigError: TransferConfigError("parallelism must be an int from 1 to 64; got 0."),
    UploadError: UploadError("upload"),
    DistributedPlanError: DistributedPlanError("range 3 does not belong to this plan"),
    SourceFileError: SourceFileError("missing"),
    SourceChangedError: SourceChangedError("changed", upload_id="U1", changes=["size 1 -> 2"]),
    ObjectExistsError: ObjectExistsError("exists", bucket="b", key="k"),
    PartUploadError: PartUploadError("part 3 failed", part_number=3, upload_id="U1"),
    UploadGoneError: UploadGoneError("gone", upload_id="U1"),
    CheckpointCorruptError: CheckpointCorruptError("bad JSON", salvage={"upload_id": "U1"}),
    OssSensorError: OssSensorError("stopped waiting: OssAuthError: denied"),
    OssDeleteError: OssDeleteError(
        "not deleted", bucket="b", failed=[DeleteFailure("k", "AccessDenied", "no")], deleted=["j"]
    ),
    FolderUploadError: FolderUploadError("2 files failed", summary={"failed": 2, "uploaded": 5}),
    CopyError: CopyError("copy"),
    CopySourceMissingError: CopySourceMissingError("no source"),
    CopyDestinationError: CopyDestinationError("no destination bucket"),
    CopySourceChangedError: CopySourceChangedError(
        "source changed", source="oss://b/k", etag="E1", upload_id="U1"
    ),
    DownloadError: DownloadError("download"),
    DestinationError: DestinationError("no directory"),
    DownloadInProgressError: DownloadInProgressError("locked"),
    ObjectChangedError: ObjectChangedError("changed", bucket="b", key="k"),
    RangeFetchError: RangeFetchError("range 3 failed", part_number=3),
}
SAMPLE_CLASSES = sorted(SAMPLES, key=lambda cls: cls.__name__)


def _all_error_classes() -> set[type[OssError]]:
    for module in pkgutil.walk_packages(airflow_provider_oss.__path__, "airflow_provider_oss."):
        if not module.name.endswith(".__main__"):  # a __main__ runs a command line when imported
            importlib.import_module(module.name)
    found: set[type[OssError]] = set()
    pending: list[type[OssError]] = [OssError]
    while pending:
        cls = pending.pop()
        found.add(cls)
        pending.extend(cls.__subclasses__())
    return {cls for cls in found if cls.__module__.startswith("airflow_provider_oss.")}


def test_every_error_class_has_a_sample() -> None:
    # A new error class must be added to SAMPLES, so that its pickling is tested too.
    assert _all_error_classes() <= set(SAMPLES), _all_error_classes() - set(SAMPLES)


@pytest.mark.parametrize("cls", SAMPLE_CLASSES, ids=[cls.__name__ for cls in SAMPLE_CLASSES])
def test_error_round_trips_through_pickle(cls: type[OssError]) -> None:
    err = SAMPLES[cls]
    copy = pickle.loads(pickle.dumps(err))  # noqa: S301  # our own bytes
    assert type(copy) is cls
    assert str(copy) == str(err)
    assert copy.args == err.args
    assert vars(copy) == vars(err)


@pytest.mark.parametrize(
    "cls",
    [OssConnectionConfigError, PartPlanError, TransferConfigError, CheckpointCorruptError, OssClientError],
    ids=lambda c: c.__name__,
)
def test_argument_errors_are_oss_errors_and_value_errors(cls: type[OssError]) -> None:
    assert issubclass(cls, OssError)
    assert issubclass(cls, ValueError)
