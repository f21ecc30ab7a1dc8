"""V1 signing as OSS and oss2 do it: every sub-resource and x-oss- parameter, x-oss-date, trimmed values."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import oss2
import pytest
import requests

from airflow_provider_oss.core import signing
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.rawclient import RawClient, error_code, parse_xml

B = "test-bucket"
NOW = datetime(2024, 6, 1, 8, 30, 0, tzinfo=timezone.utc)
SUBRESOURCES = [
    "cors", "logging", "website", "referer", "policy", "inventory", "encryption", "worm", "style",
    "styleName", "x-oss-request-payer", "x-oss-async-process", "lifecycle", "tagging", "x-oss-process",
]  # fmt: skip


@pytest.mark.parametrize("name", [*SUBRESOURCES, "x-oss-anything-new"])
def test_v1_signs_every_subresource_and_x_oss_parameter(name: str) -> None:
    resource = signing.v1_canonical_resource("b", "k", [(name, "v"), ("not-signed", "x")])
    assert resource == f"/b/k?{name}=v"


@pytest.mark.parametrize("name", SUBRESOURCES)
def test_v1_signature_matches_oss2(name: str) -> None:
    headers: dict[str, str] = {"x-oss-meta-a": "1"}
    signing.sign_v1(
        signing.SigningRequest("GET", "bucket", "key", [(name, "value")], headers),
        Credentials("ak", "sk"),
        NOW,
    )
    auth = oss2.Auth("ak", "sk")
    request = oss2.http.Request("GET", "http://bucket.example.com/key", params={name: "value"}, headers={
        "x-oss-meta-a": "1",
        "date": headers["Date"],
    })  # fmt: skip
    string_to_sign = auth._ProviderAuth__make_signature  # the private name oss2 signs with
    expected = string_to_sign(request, "bucket", "key", auth.credentials_provider.get_credentials())
    assert headers["Authorization"] == f"OSS ak:{expected}"


def test_header_values_are_trimmed_before_signing_and_sending(oss_server: LocalOssServer) -> None:
    for version in ("v4", "v1"):
        headers = {"x-oss-meta-note": "  padded value \t", "Content-Type": " text/plain "}
        if version == "v4":
            signing.sign_v4(
                signing.SigningRequest("PUT", B, "t", [], headers),
                oss_server.credentials,
                oss_server.region,
                datetime.now(timezone.utc),
            )
        else:
            signing.sign_v1(
                signing.SigningRequest("PUT", B, "t", [], headers),
                oss_server.credentials,
                datetime.now(timezone.utc),
            )
        assert headers["x-oss-meta-note"] == "padded value"
        assert headers["Content-Type"] == "text/plain"
        url = f"{oss_server.endpoint}/{B}/t"
        put = requests.put(url, data=b"x", headers=headers, timeout=10)
        assert put.status_code == 200, put.text
    plain = {"x-oss-meta-note": "padded value"}
    padded = {"x-oss-meta-note": " padded value "}
    assert signing.v1_string_to_sign(
        signing.SigningRequest("PUT", B, "t", [], plain), "D"
    ) == signing.v1_string_to_sign(signing.SigningRequest("PUT", B, "t", [], padded), "D")


def test_server_signs_the_same_v1_subresources(oss_server: LocalOssServer) -> None:
    """A V1 signature that leaves a signed parameter out is refused; one that includes it passes."""
    with RawClient(oss_server, version="v1") as client:
        client.request("PUT", B, "v", data=b"x")
        good = client.request("GET", B, None, [("versions", ""), ("prefix", "v")])
        assert good.status_code == 200
        assert [v.findtext("Key") for v in parse_xml(good).findall("Version")] == ["v"]
        headers: dict[str, str] = {}
        signing.sign_v1(
            signing.SigningRequest("GET", B, None, [], headers),
            oss_server.credentials,
            datetime.now(timezone.utc),
        )
        forged = requests.get(f"{oss_server.endpoint}/{B}/?versions", headers=headers, timeout=10)
        assert (forged.status_code, error_code(forged)) == (403, "SignatureDoesNotMatch")


def test_v1_x_oss_date_takes_the_place_of_date(oss_server: LocalOssServer) -> None:
    now = datetime.now(timezone.utc)
    stale = signing.http_date(now - timedelta(hours=2))
    headers = {"x-oss-date": signing.http_date(now)}
    string_to_sign = signing.v1_string_to_sign(
        signing.SigningRequest("GET", B, None, [], headers), headers["x-oss-date"]
    )
    signature = signing.v1_signature(oss_server.access_key_secret, string_to_sign)
    sent = {**headers, "Date": stale, "Authorization": f"OSS {oss_server.access_key_id}:{signature}"}
    assert requests.get(f"{oss_server.endpoint}/{B}/", headers=sent, timeout=10).status_code == 200
    skewed = {"x-oss-date": stale}
    string_to_sign = signing.v1_string_to_sign(signing.SigningRequest("GET", B, None, [], skewed), stale)
    signature = signing.v1_signature(oss_server.access_key_secret, string_to_sign)
    sent = {
        **skewed,
        "Date": signing.http_date(now),
        "Authorization": f"OSS {oss_server.access_key_id}:{signature}",
    }
    refused = requests.get(f"{oss_server.endpoint}/{B}/", headers=sent, timeout=10)
    assert (refused.status_code, error_code(refused)) == (403, "RequestTimeTooSkewed")
    ours: dict[str, str] = {"x-oss-date": signing.http_date(now)}
    signing.sign_v1(
        signing.SigningRequest("GET", B, None, [], ours), oss_server.credentials, now - timedelta(hours=2)
    )
    assert requests.get(f"{oss_server.endpoint}/{B}/", headers=ours, timeout=10).status_code == 200
