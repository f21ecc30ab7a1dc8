"""``python -m airflow_provider_oss.testing``: run the local OSS server (see :mod:`.cli`)."""

from __future__ import annotations

import sys

from airflow_provider_oss.testing.cli import main

sys.exit(main())
