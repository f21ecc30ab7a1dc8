# Two commands on a fresh machine: `make demo` (the main job, on the embedded local OSS server)
# and `make test` (lint, types, the whole test suite). Each creates .venv and installs what it needs
# (`make test` also the Debian packages that tests drive, through scripts/ensure_debian_packages.sh).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install demo test lint docs soak bench clean constraints conformance docker-test

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -e '.[test,lint,docs]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The suite mostly waits (on Airflow daemons, subprocesses, sockets), so it runs on more pytest-xdist
# workers than cores, with lint and mypy beside it (their output follows pytest's); then the tests
# marked exclusive (the benchmarks: they compare speeds) run alone. Any failure fails the target.
# `make test TEST_WORKERS=0` runs the first part in one process.
TEST_WORKERS ?= 4
test: $(STAMP)
	scripts/ensure_debian_packages.sh
	@$(MAKE) --no-print-directory lint > $(VENV)/lint.log 2>&1 & lint=$$!; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup -m "not exclusive" $(PYTEST_ARGS); tests=$$?; \
	wait $$lint; linted=$$?; cat $(VENV)/lint.log; test $$linted -eq 0 || echo "lint failed (exit $$linted)"; \
	$(BIN)/python -m pytest -m exclusive $(PYTEST_ARGS); alone=$$?; \
	test $$tests -eq 0 -a $$linted -eq 0 -a $$alone -eq 0

# The documentation site (Sphinx): the guides in docs/ and README, the API reference from the
# docstrings. Every warning fails the build (-W), every reference must resolve (-n);
# tests/docs/test_docs_site.py runs this target in `make test`.
DOCS_OUT ?= docs/_build/html
docs: $(STAMP)
	$(BIN)/python -m sphinx -c docs -n -W --keep-going -q -b html . $(DOCS_OUT)
	@echo "Documentation: $(DOCS_OUT)/index.html"

# docker/ for real (docker/README.md, "make docker-test"): the provider image on stand-in base images
# built without an image registry, both compose stacks started, the container running an upload
# killed, the retry checked through the local OSS server's request log. Needs root or sudo; installs
# Debian's docker.io and starts dockerd when no engine answers (scripts/ensure_docker.sh).
# DOCKER_TEST_ARGS: e.g. --variant celery.
docker-test: $(STAMP)
	scripts/ensure_docker.sh
	$(BIN)/python scripts/docker_test.py $(DOCKER_TEST_ARGS)

# The upload table (BENCH_ARGS, e.g. --size-mb 256), then resume, scale, CRC-64 library, distributed upload,
# folder and download figures.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.resume
	$(BIN)/python -m benchmarks.scale
	$(BIN)/python -m benchmarks.crc_libraries
	$(BIN)/python -m benchmarks.distributed
	$(BIN)/python -m benchmarks.folder
	$(BIN)/python -m benchmarks.download
	$(BIN)/python -m benchmarks.copy

# An official SDK integration suite against a fresh local server (not part of `make test`: the
# suites are not in this repository). SDK_TESTS is a checkout of alibabacloud-oss-python-sdk-v2 or
# aliyun-oss-python-sdk; SIGNATURE v4|v1, ADDRESSING path|virtual. Each run is kept in
# .conformance/SUITE-SIGNATURE-ADDRESSING and CONFORMANCE.md's results are rewritten from all of them.
SIGNATURE  ?= v4
ADDRESSING ?= path
conformance: $(STAMP)
	@test -n "$(SDK_TESTS)" || (echo "Give the suite checkout: make conformance SDK_TESTS=/path/to/sdk" && exit 2)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -r scripts/conformance-requirements.txt
	$(BIN)/python scripts/conformance.py --suite "$(SDK_TESTS)" --signature $(SIGNATURE) --addressing $(ADDRESSING) --report CONFORMANCE.md $(CONFORMANCE_ARGS)

soak: $(STAMP)
	$(BIN)/python -m tests.soak_harness --runs 50 --seed 1 $(SOAK_ARGS)
	$(BIN)/python -m tests.soak_harness --kind download --runs 50 --seed 1 $(SOAK_ARGS)
	$(BIN)/python -m tests.soak_harness --kind folder --runs 50 --seed 1 $(SOAK_ARGS)

clean:
	rm -rf $(VENV) docs/_build docs/_api .pytest_cache .mypy_cache .ruff_cache .demo .bench .bench-cache

constraints: $(STAMP)
	(echo "# Pinned versions that CI and 'make' install with (regenerate: make constraints)."; \
	 $(BIN)/uv pip freeze --python $(BIN)/python | grep -v -i "^airflow-provider-oss\|^-e \|^uv==") > constraints.txt
