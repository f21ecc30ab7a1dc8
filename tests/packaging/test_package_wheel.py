"""The wheel a user installs: typed marker, license, classifiers, URLs, SPDX license, runtime deps only."""

from __future__ import annotations

import zipfile
from email.parser import Parser

from packaging.requirements import Requirement

from tests.package_support import built_wheel


def test_wheel_carries_what_a_user_needs() -> None:
    with zipfile.ZipFile(built_wheel()) as wheel:
        names = wheel.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(wheel.read(metadata_name).decode())
        license_names = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert license_names, names
        assert "Apache License" in wheel.read(license_names[0]).decode()
    assert "airflow_provider_oss/py.typed" in names
    assert "airflow_provider_oss/testing/server.py" in names  # the local server ships with the package
    assert metadata["License-Expression"] == "Apache-2.0"
    classifiers = metadata.get_all("Classifier", [])
    assert "Framework :: Apache Airflow :: Provider" in classifiers
    assert "Typing :: Typed" in classifiers
    assert metadata.get_all("Project-URL", [])
    runtime = [Requirement(r) for r in metadata.get_all("Requires-Dist", []) if "extra ==" not in r]
    names_only = {r.name for r in runtime}
    assert names_only == {"apache-airflow", "requests", "urllib3", "fastcrc"}
    assert "pendulum" not in names_only  # nothing imports it
    airflow = next(r for r in runtime if r.name == "apache-airflow")
    assert str(airflow.specifier) == ">=3.0.6"  # the oldest Airflow test_airflow_versions.py runs
    fastcrc = next(r for r in runtime if r.name == "fastcrc")
    assert not fastcrc.specifier.contains("0.3.6")  # 0.3.x rejects memoryview: every multipart upload failed
    test_extra = [r for r in metadata.get_all("Requires-Dist", []) if 'extra == "test"' in r]
    assert not any(Requirement(r).name in {"ruff", "mypy"} for r in test_extra)
