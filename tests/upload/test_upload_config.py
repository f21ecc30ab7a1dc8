"""TransferConfig: every transfer tunable in one frozen value, each bad value refused with its name."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from airflow_provider_oss.core.models import MAX_PUT_OBJECT_SIZE, ObjectOptions
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import ResumableUploader, TransferConfig, TransferConfigError
from tests.upload_support import BUCKET, make_client


def test_defaults_and_derived_values() -> None:
    config = TransferConfig()
    assert (config.part_size, config.parallelism, config.threshold, config.pool_size) == (
        8 << 20,
        4,
        8 << 20,
        5,
    )
    assert TransferConfig(part_size=1 << 20, multipart_threshold=0).threshold == 0
    assert TransferConfig(multipart_threshold=MAX_PUT_OBJECT_SIZE).threshold == MAX_PUT_OBJECT_SIZE
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.parallelism = 8  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"part_size": 1000}, r"below OSS's minimum part size .*: part_size must be an int from 102400"),
        (
            {"part_size": "8M"},
            r"part_size must be an int from 102400 \(100 KiB\) to 5368709120 \(5 GiB\) bytes; got '8M'",
        ),
        ({"parallelism": 0}, r"parallelism must be an int from 1 to 64; got 0"),
        ({"parallelism": 65}, r"parallelism must be an int from 1 to 64; got 65"),
        ({"parallelism": True}, r"parallelism must be an int from 1 to 64; got True"),
        ({"multipart_threshold": -1}, r"multipart_threshold must be a non-negative int"),
        (
            {"multipart_threshold": MAX_PUT_OBJECT_SIZE + 1},
            r"at most 5368709120 bytes \(5 GiB, the largest PutObject\)",
        ),
        ({"traffic_limit": 819199}, r"traffic_limit must be an integer number of bit/s from 819200"),
        ({"traffic_limit": 838860801}, r"Give None for no limit"),
        ({"verify_reused_parts": 1}, r"verify_reused_parts must be True or False; got 1"),
        ({"progress_interval": -1}, r"progress_interval must be a number of seconds, 0 or more; got -1"),
        ({"checkpoint_save_interval": float("nan")}, r"checkpoint_save_interval must be a number of seconds"),
    ],
)
def test_each_bad_value_is_refused_with_its_name(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TransferConfig(**kwargs)


def test_errors_are_transfer_config_errors() -> None:
    with pytest.raises(TransferConfigError):
        TransferConfig(parallelism=0)


def test_traffic_limit_in_object_options_is_refused_by_the_engine(oss_server: LocalOssServer) -> None:
    """One place for the bandwidth cap: TransferConfig, never ObjectOptions (which names the object)."""
    with pytest.raises(ValueError, match=r"TransferConfig\(traffic_limit=\.\.\.\), not in ObjectOptions"):
        ResumableUploader(
            make_client(oss_server), BUCKET, "k", "/x", object_options=ObjectOptions(traffic_limit=819200)
        )
    assert oss_server.request_log() == []
