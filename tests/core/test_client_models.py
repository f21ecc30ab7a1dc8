"""Unit tests of the request options, result parsing and XML helpers (no server needed)."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest
from requests.structures import CaseInsensitiveDict

from airflow_provider_oss.core import ObjectInfo, ObjectOptions
from airflow_provider_oss.core.errors import OssClientError
from airflow_provider_oss.core.xmlutil import (
    OssXmlError,
    complete_multipart_body,
    element_to_dict,
    parse_error,
    parse_iso_time,
    parse_xml,
)


class TestObjectOptions:
    def test_to_headers(self) -> None:
        options = ObjectOptions(
            content_type="text/csv",
            metadata={"Owner": "alice", "run_id": " 42 "},
            storage_class="IA",
            acl="private",
            server_side_encryption="KMS",
            sse_kms_key_id="key-1",
            cache_control="max-age=60",
            content_disposition="attachment",
            content_encoding="gzip",
            traffic_limit=819200,
        )
        assert options.to_headers() == {
            "Content-Type": "text/csv",
            "Cache-Control": "max-age=60",
            "Content-Disposition": "attachment",
            "Content-Encoding": "gzip",
            "x-oss-storage-class": "IA",
            "x-oss-object-acl": "private",
            "x-oss-server-side-encryption": "KMS",
            "x-oss-server-side-encryption-key-id": "key-1",
            "x-oss-traffic-limit": "819200",
            "x-oss-meta-owner": "alice",
            "x-oss-meta-run_id": "42",
        }
        assert ObjectOptions().to_headers() == {}

    def test_metadata_is_copied(self) -> None:
        meta = {"a": "1"}
        options = ObjectOptions(metadata=meta)
        meta["b"] = "2"
        assert options.to_headers() == {"x-oss-meta-a": "1"}

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"storage_class": "Glacier"}, "Invalid storage_class 'Glacier'"),
            ({"acl": "public"}, "Invalid acl 'public'"),
            ({"server_side_encryption": "DES"}, "Invalid server_side_encryption"),
            ({"sse_kms_key_id": "k"}, "needs server_side_encryption='KMS'"),
            ({"traffic_limit": 819199}, "traffic_limit must be .* 819200"),
            ({"traffic_limit": 838860801}, "838860800"),
            ({"metadata": {"bad name": "x"}}, "Invalid metadata name 'bad name'"),
            ({"metadata": {"k": "line\nbreak"}}, "control characters"),
            ({"metadata": {"k": "中文"}}, "cannot carry"),
            ({"content_type": "a\r\nb"}, "content_type must not contain control characters"),
        ],
    )
    def test_invalid_options(self, kwargs: dict[str, object], message: str) -> None:
        with pytest.raises(OssClientError, match=message):
            ObjectOptions(**kwargs)  # type: ignore[arg-type]


class TestParsing:
    def test_object_info_from_headers(self) -> None:
        headers = CaseInsensitiveDict(
            {
                "Content-Length": "11",
                "ETag": '"5EB63BBBE01EEED093CB22BB8F5ACDC3"',
                "x-oss-hash-crc64ecma": "5981764153023615706",
                "Last-Modified": "Sat, 01 Jun 2024 08:30:00 GMT",
                "Content-Type": "text/plain",
                "x-oss-meta-Author": "alice",
            }
        )
        info = ObjectInfo.from_headers("k", headers)
        assert info == ObjectInfo(
            key="k",
            size=11,
            etag="5EB63BBBE01EEED093CB22BB8F5ACDC3",
            crc64=5981764153023615706,
            last_modified=datetime(2024, 6, 1, 8, 30, tzinfo=timezone.utc),
            content_type="text/plain",
            storage_class="Standard",
            metadata={"author": "alice"},
        )

    def test_error_document(self) -> None:
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>RequestTimeTooSkewed</Code>'
            b"<Message>The difference is too large.</Message><RequestId>RID</RequestId><HostId>h</HostId>"
            b"<ServerTime>2024-06-01T08:30:00.000Z</ServerTime><EC>0002-00000504</EC></Error>"
        )
        assert parse_error(body) == {
            "Code": "RequestTimeTooSkewed",
            "Message": "The difference is too large.",
            "RequestId": "RID",
            "HostId": "h",
            "ServerTime": "2024-06-01T08:30:00.000Z",
            "EC": "0002-00000504",
        }
        assert parse_error(b"") == {}
        assert parse_error(b"<html>bad gateway</html>") == {}
        assert parse_error(base64.b64decode(base64.b64encode(body)))["Code"] == "RequestTimeTooSkewed"

    def test_doctype_and_entities_are_refused(self) -> None:
        evil = (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Error>&e;</Error>'
        )
        with pytest.raises(OssXmlError, match="DOCTYPE or ENTITY"):
            parse_xml(evil)
        assert parse_error(evil) == {}

    def test_wrong_root_and_malformed(self) -> None:
        with pytest.raises(OssXmlError, match="Expected an XML document <A>"):
            parse_xml(b"<B/>", "A")
        with pytest.raises(OssXmlError, match="not well-formed"):
            parse_xml(b"<A>")

    def test_element_to_dict(self) -> None:
        root = parse_xml(b"<R><A>1</A><B><C>2</C></B><D>x</D><D>y</D><E/></R>")
        assert element_to_dict(root) == {"A": "1", "B": {"C": "2"}, "D": ["x", "y"], "E": ""}

    def test_iso_time(self) -> None:
        assert parse_iso_time("2024-06-01T08:30:00.000Z") == datetime(2024, 6, 1, 8, 30, tzinfo=timezone.utc)

    def test_complete_body(self) -> None:
        body = complete_multipart_body([(1, "AB"), (2, '"CD"')])
        root = parse_xml(body, "CompleteMultipartUpload")
        assert [(p.findtext("PartNumber"), p.findtext("ETag")) for p in root.findall("Part")] == [
            ("1", '"AB"'),
            ("2", '"CD"'),
        ]
