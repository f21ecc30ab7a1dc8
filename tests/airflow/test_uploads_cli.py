"""``oss-uploads``: list and abort in-progress uploads through the Airflow connection."""

from __future__ import annotations

import pytest

from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.uploads_cli import main, parse_oss_url
from tests.upload_support import make_client


def test_list_then_abort_one_upload_leaves_the_others(
    oss_server: LocalOssServer, oss_connection_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(oss_server)
    mine = client.initiate_multipart_upload("test-bucket", "backups/day.tar")
    client.upload_part("test-bucket", "backups/day.tar", mine, 1, b"x" * 200 * 1024)
    other = client.initiate_multipart_upload("test-bucket", "backups/day.tar")
    elsewhere = client.initiate_multipart_upload("test-bucket", "logs/a.log")

    assert main(["--conn-id", oss_connection_env, "list", "oss://test-bucket/backups/"]) == 0
    listed = capsys.readouterr().out
    assert mine in listed and other in listed
    assert elsewhere not in listed
    assert "oss://test-bucket/backups/day.tar" in listed

    assert main(["--conn-id", oss_connection_env, "abort", "oss://test-bucket/backups/day.tar", mine]) == 0
    assert f"Aborted upload ID {mine}" in capsys.readouterr().out
    remaining = {u.upload_id for u in client.list_multipart_uploads("test-bucket")}
    assert remaining == {other, elsewhere}
    assert oss_server.access_key_secret not in capsys.readouterr().out


def test_abort_of_an_unknown_upload_is_an_error(
    oss_server: LocalOssServer, oss_connection_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--conn-id", oss_connection_env, "abort", "oss://test-bucket/k", "NOSUCHUPLOAD0000"]) == 1
    assert "NoSuchUpload" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "need_key"),
    [("s3://b/k", True), ("oss://", False), ("oss://bucket", True), ("bucket/key", False)],
)
def test_bad_urls_name_the_expected_form(url: str, need_key: bool) -> None:
    with pytest.raises(ValueError, match="oss://bucket"):
        parse_oss_url(url, need_key=need_key)


def test_a_bad_url_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["abort", "oss://only-bucket", "U"]) == 2
    assert "oss://bucket/key" in capsys.readouterr().err
