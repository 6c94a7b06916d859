"""A pytest plugin (`-p tests.own_dirs` in pyproject's addopts): this pytest process's own scratch folders.

Metrics: prometheus-client's multiprocess mode keeps each process's numbers in `*_<pid>.db` files under
PROMETHEUS_MULTIPROC_DIR, which settings.py defaults to var/metrics, and `manage.py serve` (`make run`)
wipes that folder when it starts. A server started in the same checkout while the suite runs would delete
the files the suite's metrics tests read. So each pytest process gets a fresh folder of its own.

It is set here, when pytest imports the plugin (before pytest-django loads the settings, which read the
variable), and in the environment, so the daphne and qcluster processes the tests start inherit it
(tests/live.py gives each stack a folder of its own on top). It is removed when the run ends.

Redis: each pytest-xdist worker (`make test` runs two) gets a Redis database of its own, the next one after
REDIS_URL's, for the same reason. The workers' test databases both number their users from 1, so a test
listening for `user.1`'s wake-ups would hear the other worker's, and cached provider results and rate-limit
buckets would be shared. xdist names the worker in the environment before pytest imports this plugin.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

METRICS_DIR = Path(tempfile.mkdtemp(prefix=f"repurposer-test-metrics-{os.getpid()}-"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if WORKER.startswith("gw") and os.environ.get("REDIS_URL"):
    _url = urlsplit(os.environ["REDIS_URL"])
    _db = (int(_url.path.strip("/") or 0) + int(WORKER[2:])) % 16  # Redis has databases 0-15 by default
    os.environ["REDIS_URL"] = urlunsplit(_url._replace(path=f"/{_db}"))


def pytest_unconfigure(config) -> None:
    shutil.rmtree(METRICS_DIR, ignore_errors=True)
