"""Prometheus metrics: the few call sites' API and the /metrics text.

Every process (daphne, each qcluster worker) records into files under PROMETHEUS_MULTIPROC_DIR (settings
puts it in the environment before this module is imported); a scrape of any daphne on the machine adds the
files up. Numbers that live in the database (tasks by status, queue depth, alerts) and the disk's free space
are read at scrape time instead, so they are true however many processes there are.

Call sites stay one line each: `observe_stage("chunk", seconds)`, `count_event("chunk_ready")`,
`websocket_opened()` / `websocket_closed()`, `observe_provider_call(...)`, `observe_queue_wait(seconds)`.
This module imports nothing of Django, so `jobs/` and `streaming/` may call it from anywhere; a failure to
record never breaks the work it measures.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

log = logging.getLogger(__name__)

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # pragma: no cover - settings always sets it
    log.warning("PROMETHEUS_MULTIPROC_DIR is not set: metrics of other processes will be missing")

# Seconds: a probe takes tenths, a chunk seconds, a whole download or transcript minutes.
STAGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)
WAIT_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600)

STAGE_SECONDS = Histogram(
    "repurposer_stage_seconds",
    "Time of one pipeline step (ffprobe, plan, chunk, finalize, ...)",
    ["stage"],
    buckets=STAGE_BUCKETS,
)
CHUNK_RENDER_SECONDS = Histogram("repurposer_chunk_render_seconds", "Time to render one chunk", buckets=STAGE_BUCKETS)
QUEUE_WAIT_SECONDS = Histogram(
    "repurposer_queue_wait_seconds", "From queued to claimed by a worker", buckets=WAIT_BUCKETS
)
PROVIDER_REQUESTS = Counter(
    "repurposer_provider_requests", "Calls to outside providers (LLM, speech)", ["provider", "operation", "status"]
)
PROVIDER_SECONDS = Histogram(
    "repurposer_provider_seconds",
    "Wall time of a provider call, retries included",
    ["provider", "operation"],
    buckets=STAGE_BUCKETS,
)
RATELIMIT_WAIT_SECONDS = Histogram(
    "repurposer_ratelimit_wait_seconds",
    "Time a provider call waited for the rate limit and slots",
    ["provider"],
    buckets=(0, 0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
EVENTS = Counter("repurposer_events", "Events written to the task event log", ["type"])
# livesum: a daphne that died stops counting (its file is dropped at the next scrape, see _forget_dead).
WEBSOCKETS = Gauge("repurposer_websockets", "Open task WebSockets", multiprocess_mode="livesum")


# bench.ops only: record nothing, to measure what recording costs a request.
OFF = os.environ.get("REPURPOSER_METRICS_OFF") == "1"


def _safe(fn: Callable[[], object]) -> None:
    if OFF:
        return
    try:
        fn()
    except Exception:  # noqa: BLE001 - metrics must never break the work they measure
        log.warning("could not record a metric", exc_info=True)


def observe_stage(stage: str, seconds: float) -> None:
    """One pipeline step took `seconds` (also the chunk histogram for "chunk")."""

    def record() -> None:
        STAGE_SECONDS.labels(stage=stage).observe(seconds)
        if stage == "chunk":
            CHUNK_RENDER_SECONDS.observe(seconds)

    _safe(record)


def observe_queue_wait(seconds: float) -> None:
    _safe(lambda: QUEUE_WAIT_SECONDS.observe(max(0.0, seconds)))


def observe_provider_call(*, provider: str, operation: str, status: str, seconds: float, waited: float) -> None:
    """One provider call ended: `status` is the HTTP status, or "error"/"cancelled" when there was none."""

    def record() -> None:
        PROVIDER_REQUESTS.labels(provider=provider, operation=operation, status=status).inc()
        PROVIDER_SECONDS.labels(provider=provider, operation=operation).observe(seconds)
        RATELIMIT_WAIT_SECONDS.labels(provider=provider).observe(waited)

    _safe(record)


def count_event(type: str) -> None:
    _safe(lambda: EVENTS.labels(type=type).inc())


def websocket_opened() -> None:
    _safe(WEBSOCKETS.inc)


def websocket_closed() -> None:
    _safe(WEBSOCKETS.dec)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forget_dead(directory: Path) -> None:
    """Live gauges of processes that are gone (a daphne killed with its sockets open) must not count."""
    for path in directory.glob("gauge_live*_*.db"):
        try:
            pid = int(path.stem.rsplit("_", 1)[1])
        except (IndexError, ValueError):
            continue
        if not _pid_alive(pid):
            multiprocess.mark_process_dead(pid, str(directory))


def exposition(extra: Iterable[Metric] = ()) -> bytes:
    """The Prometheus text of every process on this machine, plus `extra` families read at scrape time."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    _forget_dead(directory)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))
    families = list(extra)

    class Scraped:
        def collect(self) -> Iterable[Metric]:
            return families

    registry.register(Scraped())
    return generate_latest(registry)


def current(name: str) -> float:
    """The machine-wide value of one of this module's metrics right now (the sum over its samples)."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    _forget_dead(Path(directory))
    registry = CollectorRegistry()
    collector = multiprocess.MultiProcessCollector(registry, path=directory)
    return sum(s.value for family in collector.collect() if family.name == name for s in family.samples)


def gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


def wipe(directory: Path) -> None:
    """Start a machine's metrics from zero (`manage.py serve` does it before starting its children)."""
    for path in directory.glob("*.db"):
        path.unlink(missing_ok=True)
