"""The wheel a user installs (typed marker, license, classifiers, URLs, SPDX license, runtime deps only)
and the sdist (everything that builds, tests and documents the package)."""

from __future__ import annotations

import tarfile
import zipfile
from email.message import Message
from email.parser import Parser

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tests.package_support import REPO, built_sdist, built_wheel


def _wheel_metadata() -> Message:
    with zipfile.ZipFile(built_wheel()) as wheel:
        (metadata_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(wheel.read(metadata_name).decode())


def test_wheel_carries_what_a_user_needs() -> None:
    with zipfile.ZipFile(built_wheel()) as wheel:
        names = wheel.namelist()
        license_names = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert license_names, names
        assert "Apache License" in wheel.read(license_names[0]).decode()
    metadata = _wheel_metadata()
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


def test_python_classifiers_are_the_versions_requires_python_allows() -> None:
    metadata = _wheel_metadata()
    allowed = SpecifierSet(metadata["Requires-Python"])
    prefix = "Programming Language :: Python :: 3."
    minors = sorted(
        int(c.removeprefix(prefix)) for c in metadata.get_all("Classifier", []) if c.startswith(prefix)
    )
    assert minors, "no Python version classifier"
    assert all(f"3.{minor}" in allowed for minor in minors), (allowed, minors)
    assert f"3.{minors[0] - 1}" not in allowed, (
        f"requires-python {allowed} allows a version below 3.{minors[0]}"
    )
    assert minors == list(range(minors[0], minors[-1] + 1)), f"a gap in the listed versions: {minors}"


def test_project_urls_name_only_places_that_exist() -> None:
    # No public home yet: the package is not on PyPI (its project page would be a 404 or someone
    # else's) and has no public repository or hosted documentation. Add them when they exist.
    urls = _wheel_metadata().get_all("Project-URL", [])
    assert urls == ["Alibaba Cloud OSS, https://www.alibabacloud.com/product/object-storage-service"]


def test_sdist_carries_the_docs_the_makefile_and_the_tests() -> None:
    with tarfile.open(built_sdist()) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    expected = {
        "Makefile",
        "constraints.txt",
        "conftest.py",
        "README.md",
        "LICENSE",
        "pyproject.toml",
        ".ci/run",
    }
    for folder, pattern in (("docs", "*"), ("tests", "*.py"), ("dags", "*.py"), ("scripts", "*")):
        expected |= {
            path.relative_to(REPO).as_posix()
            for path in (REPO / folder).rglob(pattern)
            if path.is_file() and not {"__pycache__", "_build", "_api"} & set(path.parts)
        }
    assert {"docs/conf.py", "docs/index.md", "tests/docs/test_docs_site.py"} <= expected
    assert expected - names == set()
    built = {
        name
        for name in names
        if "__pycache__" in name or name.startswith(("docs/_build", "docs/_api", ".venv"))
    }
    assert built == set()
