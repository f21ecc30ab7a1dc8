"""Unit tests of ClientConfig, URL building and bucket/key validation (no server needed)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from airflow_provider_oss.core import ClientConfig
from airflow_provider_oss.core.endpoints import (
    encode_query,
    validate_bucket_name,
    validate_object_key,
)
from airflow_provider_oss.core.errors import OssClientError
from airflow_provider_oss.core.signing import v4_canonical_query


class TestClientConfig:
    def test_defaults_derive_the_public_endpoint(self) -> None:
        config = ClientConfig(region="cn-hangzhou")
        assert config.endpoint == "oss-cn-hangzhou.aliyuncs.com"
        assert config.scheme == "https"
        assert config.addressing_style == "virtual"
        assert config.signature_version == "v4"
        assert (config.connect_timeout, config.read_timeout, config.max_retries) == (10.0, 120.0, 5)
        assert (config.backoff_base, config.backoff_max, config.pool_size) == (0.5, 20.0, 10)
        assert config.verify is True
        assert config.user_agent.startswith("airflow-provider-oss/")

    def test_oss_prefix_is_stripped_from_the_region(self) -> None:
        assert ClientConfig(region="oss-cn-hangzhou").region == "cn-hangzhou"
        assert ClientConfig(region=" AP-Southeast-1 ").region == "ap-southeast-1"

    def test_internal_endpoint(self) -> None:
        config = ClientConfig(region="cn-beijing", internal=True)
        assert config.endpoint == "oss-cn-beijing-internal.aliyuncs.com"

    def test_scheme_comes_from_the_endpoint_url(self) -> None:
        config = ClientConfig(region="cn-hangzhou", endpoint="http://127.0.0.1:9000/")
        assert config.scheme == "http"
        assert config.endpoint == "127.0.0.1:9000"
        assert config.endpoint_url == "http://127.0.0.1:9000"

    def test_host_endpoint_keeps_the_configured_scheme(self) -> None:
        config = ClientConfig(region="cn-hangzhou", endpoint="oss-local.test:8080", scheme="HTTP")
        assert (config.scheme, config.endpoint) == ("http", "oss-local.test:8080")

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"region": ""}, "region is required"),
            ({"region": "cn_hangzhou"}, "Invalid OSS region 'cn_hangzhou'"),
            ({"region": "cn-hangzhou", "signature_version": "v3"}, "Unknown signature_version 'v3'"),
            (
                {"region": "cn-hangzhou", "addressing_style": "subdomain"},
                "Unknown addressing_style 'subdomain'",
            ),
            ({"region": "cn-hangzhou", "connect_timeout": 0}, "connect_timeout must be a positive"),
            ({"region": "cn-hangzhou", "read_timeout": -1.0}, "read_timeout must be a positive"),
            ({"region": "cn-hangzhou", "max_retries": -1}, "max_retries must be an integer >= 0"),
            ({"region": "cn-hangzhou", "backoff_base": -0.1}, "backoff_base must be"),
            ({"region": "cn-hangzhou", "pool_size": 0}, "pool_size must be an integer >= 1"),
            ({"region": "cn-hangzhou", "scheme": "ftp"}, "Invalid scheme 'ftp'"),
            ({"region": "cn-hangzhou", "endpoint": "ftp://host"}, "scheme must be 'https' or 'http'"),
            ({"region": "cn-hangzhou", "endpoint": "http://h:1", "scheme": "https"}, "make them agree"),
            ({"region": "cn-hangzhou", "endpoint": "http://h/bucket"}, "without a path"),
            ({"region": "cn-hangzhou", "endpoint": "bad host!"}, "Invalid endpoint 'bad host!'"),
            ({"region": "cn-hangzhou", "verify": "/no/such/ca.pem"}, "CA bundle path does not exist"),
            ({"region": "cn-hangzhou", "resolve": {"a.test": "not-an-ip"}}, "is not an IP address"),
        ],
    )
    def test_invalid_settings_name_what_to_fix(self, kwargs: dict[str, Any], message: str) -> None:
        with pytest.raises(OssClientError, match=message):
            ClientConfig(**kwargs)

    def test_config_is_frozen(self) -> None:
        config = ClientConfig(region="cn-hangzhou")
        with pytest.raises(dataclasses.FrozenInstanceError):
            config.region = "cn-beijing"  # type: ignore[misc]

    def test_resolve_is_copied_and_read_only(self) -> None:
        mapping = {"A.Example.Test": "127.0.0.1"}
        config = ClientConfig(region="cn-hangzhou", resolve=mapping)
        mapping["b.example.test"] = "10.0.0.1"
        assert config.resolve is not None
        assert dict(config.resolve) == {"a.example.test": "127.0.0.1"}
        with pytest.raises(TypeError):
            config.resolve["x"] = "1.1.1.1"  # type: ignore[index]


class TestUrls:
    def test_virtual_hosted_url(self) -> None:
        config = ClientConfig(region="cn-hangzhou")
        target = config.build_target(
            "examplebucket", "dir/my file+1.txt", [("partNumber", "1"), ("uploadId", "X")]
        )
        assert target.url == (
            "https://examplebucket.oss-cn-hangzhou.aliyuncs.com/dir/my%20file%2B1.txt?partNumber=1&uploadId=X"
        )
        assert target.host_header is None

    def test_path_style_url(self) -> None:
        config = ClientConfig(region="cn-hangzhou", endpoint="oss-local.test:9000", addressing_style="path")
        assert config.build_target("b-1", "k", ()).url == "https://oss-local.test:9000/b-1/k"
        assert (
            config.build_target("b-1", None, [("uploads", "")]).url
            == "https://oss-local.test:9000/b-1/?uploads"
        )
        assert config.build_target(None, None, ()).url == "https://oss-local.test:9000/"

    def test_bucket_and_service_level_virtual_urls(self) -> None:
        config = ClientConfig(region="cn-hangzhou")
        assert config.build_target("bkt", None, [("bucketInfo", "")]).url == (
            "https://bkt.oss-cn-hangzhou.aliyuncs.com/?bucketInfo"
        )
        assert config.build_target(None, None, ()).url == "https://oss-cn-hangzhou.aliyuncs.com/"

    def test_ip_endpoint_is_always_path_style(self) -> None:
        config = ClientConfig(region="cn-hangzhou", endpoint="http://127.0.0.1:9000")
        assert config.addressing_style == "virtual"
        assert config.effective_addressing_style == "path"
        assert config.build_target("bkt", "a/b", ()).url == "http://127.0.0.1:9000/bkt/a/b"
        v6 = ClientConfig(region="cn-hangzhou", endpoint="http://[::1]:9000")
        assert v6.build_target("bkt", "k", ()).url == "http://[::1]:9000/bkt/k"

    def test_key_encoding_keeps_slashes_and_encodes_everything_else(self) -> None:
        config = ClientConfig(region="cn-hangzhou", endpoint="http://127.0.0.1:1")
        url = config.build_target("bkt", "a b/c+d%e~f?g#h/中文", ()).url
        assert url == "http://127.0.0.1:1/bkt/a%20b/c%2Bd%25e~f%3Fg%23h/%E4%B8%AD%E6%96%87"

    def test_query_is_encoded_exactly_as_signed(self) -> None:
        query = [("prefix", "dir/a b+c"), ("uploads", ""), ("max-keys", "10"), ("x y", "~=&")]
        encoded = encode_query(query)
        assert encoded == "prefix=dir%2Fa%20b%2Bc&uploads&max-keys=10&x%20y=~%3D%26"
        assert sorted(encoded.split("&")) == sorted(v4_canonical_query(query).split("&"))

    def test_resolve_connects_to_the_ip_and_sends_the_name_as_host(self) -> None:
        config = ClientConfig(
            region="cn-hangzhou",
            endpoint="http://oss-local.test:8123",
            resolve={"test-bucket.oss-local.test": "127.0.0.1", "oss-local.test": "::1"},
        )
        target = config.build_target("test-bucket", "k 1", ())
        assert target.url == "http://127.0.0.1:8123/k%201"
        assert target.host_header == "test-bucket.oss-local.test:8123"
        service = config.build_target(None, None, ())
        assert (service.url, service.host_header) == ("http://[::1]:8123/", "oss-local.test:8123")
        other = config.build_target("other-bucket", "k", ())
        assert (other.url, other.host_header) == ("http://other-bucket.oss-local.test:8123/k", None)
        presigned = config.build_target("test-bucket", "k", (), apply_resolve=False)
        assert presigned.url == "http://test-bucket.oss-local.test:8123/k"

    def test_resolve_wildcard_matches_every_bucket(self) -> None:
        config = ClientConfig(
            region="cn-hangzhou", endpoint="oss-local.test", resolve={"*.oss-local.test": "10.1.2.3"}
        )
        target = config.build_target("any-bucket", "k", ())
        assert (target.url, target.host_header) == ("https://10.1.2.3/k", "any-bucket.oss-local.test")
        assert config.build_target(None, None, ()).host_header is None  # the bare domain is not a sub-domain


class TestValidation:
    @pytest.mark.parametrize("name", ["abc", "a-b-c", "0bucket9", "a" * 63, "my-bucket-2024"])
    def test_valid_bucket_names(self, name: str) -> None:
        validate_bucket_name(name)

    @pytest.mark.parametrize("name", ["ab", "a" * 64, "-abc", "abc-", "ABC", "a_b", "a.b", "", "bück"])
    def test_invalid_bucket_names(self, name: str) -> None:
        with pytest.raises(OssClientError, match=r"Invalid bucket name .*3-63 characters"):
            validate_bucket_name(name)

    @pytest.mark.parametrize(
        "key", ["a", "dir/file.txt", "中文/文件 1+2.txt", "a" * 1023, "é" * 511, "emoji-😀", "x\\y"]
    )
    def test_valid_keys(self, key: str) -> None:
        validate_object_key(key)

    @pytest.mark.parametrize(
        ("key", "message"),
        [
            ("", "non-empty"),
            ("a" * 1024, "1024 bytes of UTF-8; OSS allows at most 1023"),
            ("é" * 512, "1024 bytes of UTF-8"),
            ("/leading", "must not start with '/'"),
            ("\\leading", "must not start with '/'"),
            ("line\nbreak", "control character U\\+000A"),
            ("tab\there", "control character U\\+0009"),
            ("del\x7f", "control character U\\+007F"),
            ("bad\ud800", "cannot be encoded as UTF-8"),
        ],
    )
    def test_invalid_keys_name_the_rule(self, key: str, message: str) -> None:
        with pytest.raises(OssClientError, match=message):
            validate_object_key(key)
