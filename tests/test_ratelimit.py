"""Rate limits and concurrency caps shared across threads and processes (a lock file, or Redis)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from media_pipeline.errors import Cancelled
from media_pipeline.providers.http import ProviderClient, ProviderError
from media_pipeline.providers.ratelimit import FileBucketStore, RateLimiter, RedisBucketStore, Slots

from .fake_providers import FakeProviders

REDIS_URL = "redis://127.0.0.1:6379/15"
ROOT = Path(__file__).resolve().parent.parent
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def redis_store() -> RedisBucketStore:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    return RedisBucketStore(REDIS_URL, prefix=f"rp:test:{uuid.uuid4().hex}:")


@pytest.fixture(params=["file", "redis"])
def store(request, tmp_path):
    if request.param == "file":
        yield FileBucketStore(tmp_path / "limits")
        return
    store = redis_store()
    yield store
    import redis

    raw = redis.Redis.from_url(REDIS_URL)
    for key in raw.scan_iter(store.prefix + "*"):
        raw.delete(key)
    store.close()


def assert_paced(starts: list[float], *, rpm: float, burst: int, slack: float = 0.05) -> None:
    """The token-bucket promise, checked on every run of consecutive requests: k requests within s seconds
    need k <= burst + rate * s (rate = (rpm - burst + 1) / 60). `slack` allows for the time a request spends
    between leaving the limiter and reaching the server."""
    rate = (rpm - burst + 1) / 60
    starts = sorted(starts)
    for i in range(len(starts)):
        for j in range(i, len(starts)):
            count, span = j - i + 1, starts[j] - starts[i]
            assert count <= burst + rate * (span + slack), f"{count} requests in {span:.3f} s"


def test_default_burst_and_bad_settings():
    store = FileBucketStore(Path("/tmp") / f"rp-test-{uuid.uuid4().hex}")
    assert RateLimiter("a", rpm=60, store=store).burst == 10
    assert RateLimiter("b", rpm=3, store=store).burst == 1
    assert RateLimiter("c", rpm=0.5, store=store).burst == 1
    with pytest.raises(ValueError):
        RateLimiter("d", rpm=10, burst=11, store=store)
    with pytest.raises(ValueError):
        RateLimiter("e", rpm=0, store=store)
    assert RateLimiter("f", store=store).acquire(1000) == 0.0  # no limits set: never waits


def test_a_burst_goes_at_once_then_requests_are_paced(store):
    limiter = RateLimiter(f"burst-{uuid.uuid4().hex}", rpm=600, burst=3, store=store)  # ~10 a second
    started = time.monotonic()
    waits = [limiter.acquire() for _ in range(6)]
    times = time.monotonic() - started
    assert all(w < 0.05 for w in waits[:3])
    assert times == pytest.approx(3 / ((600 - 3 + 1) / 60), abs=0.08)
    assert sum(waits) > 0.2


def test_it_refuses_at_once_a_wait_longer_than_max_wait(store):
    limiter = RateLimiter(f"slow-{uuid.uuid4().hex}", rpm=1, store=store, label="The language model service")
    limiter.acquire()
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        limiter.acquire(max_wait=5)
    assert time.monotonic() - started < 0.5
    assert caught.value.kind == "busy"
    assert caught.value.message.startswith("Too many requests to The language model service are waiting")


def test_tokens_per_minute_pace_big_prompts_and_one_bigger_than_the_bucket_takes_it_into_debt(store):
    limiter = RateLimiter(f"tpm-{uuid.uuid4().hex}", tpm=6000, token_burst=50, store=store)  # 100 tokens a second
    started = time.monotonic()
    assert limiter.acquire(40) < 0.05
    waited = limiter.acquire(40)  # 10 left: 30 more take 0.3 s from the first
    # Never early (the 80 tokens cannot be through before 0.3 s of refill); a busy machine may wake it late, so
    # the upper bound only catches a wrong pace.
    assert time.monotonic() - started >= 0.29 and 0 < waited < 2.0
    time.sleep(0.5)  # full again
    assert limiter.acquire(200) < 0.05  # bigger than the bucket: allowed once it is full, leaving a debt of 150
    with pytest.raises(ProviderError):
        limiter.acquire(1, max_wait=1.0)  # 151 tokens to refill take 1.5 s


def test_cancel_stops_a_wait(store):
    limiter = RateLimiter(f"cancel-{uuid.uuid4().hex}", rpm=1, store=store)
    limiter.acquire()
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        limiter.acquire(cancel=cancel)
    assert time.monotonic() - started < 0.6


WORKER = """
import sys
from pathlib import Path
from media_pipeline.providers.http import ProviderClient
from media_pipeline.providers.ratelimit import FileBucketStore, RateLimiter, RedisBucketStore

kind, where, name, url, count, rpm, burst = sys.argv[1:8]
store = FileBucketStore(Path(where)) if kind == "file" else RedisBucketStore(where, prefix=sys.argv[8])
limiter = RateLimiter(name, rpm=float(rpm), burst=int(burst), store=store)
client = ProviderClient(name="openai", base_url=url, limiter=limiter)
print("ready", flush=True)
sys.stdin.readline()
for _ in range(int(count)):
    client.request("POST", "chat/completions", operation="test", json={"model": "m", "messages": []})
client.close()
"""


def test_the_rate_limit_holds_across_processes(store, tmp_path):
    """Two worker processes, each sending 6 requests as fast as their shared limiter lets them."""
    rpm, burst, each = 240, 2, 6
    name = f"shared-{uuid.uuid4().hex}"
    if isinstance(store, FileBucketStore):
        kind, where, extra = "file", str(store.directory), []
    else:
        kind, where, extra = "redis", REDIS_URL, [store.prefix]
    with FakeProviders() as fake:
        argv = [sys.executable, "-c", WORKER, kind, where, name]
        argv += [fake.openai_url, str(each), str(rpm), str(burst), *extra]
        workers = [
            subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(2)
        ]
        try:
            for worker in workers:
                assert worker.stdout.readline().strip() == "ready"
            for worker in workers:
                worker.stdin.write("go\n")
                worker.stdin.flush()
            for worker in workers:
                assert worker.wait(timeout=30) == 0
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
        starts = [r.start for r in fake.requests_to("chat")]
    assert len(starts) == 2 * each
    assert_paced(starts, rpm=rpm, burst=burst)
    # And not slower than the limit needs: the 10 after the burst at ~4 a second.
    rate = (rpm - burst + 1) / 60
    assert max(starts) - min(starts) == pytest.approx((2 * each - burst) / rate, abs=0.4)


def test_at_most_limit_requests_are_in_flight(store):
    slots = Slots(f"tts-{uuid.uuid4().hex}", 5, store=store)
    with FakeProviders(latency=0.25) as fake:
        client = ProviderClient(name="openai", base_url=fake.openai_url, slots=slots, max_connections=20)
        errors: list[BaseException] = []

        def send() -> None:
            try:
                client.request("POST", "chat/completions", operation="test", json=BODY)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=send) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        client.close()
    assert not errors
    assert len(fake.requests_to("chat")) == 12
    assert fake.max_in_flight == 5


def test_a_slot_whose_holder_died_frees_itself_when_its_lease_runs_out(store):
    name = f"lease-{uuid.uuid4().hex}"
    assert store.claim_slot(name, "killed-process", limit=1, lease=0.3) == 0.0  # never released
    wait = store.claim_slot(name, "next", limit=1, lease=0.3)
    assert 0 < wait <= 0.3
    time.sleep(wait + 0.02)
    assert store.claim_slot(name, "next", limit=1, lease=0.3) == 0.0


def test_slots_hold_and_release(store):
    slots = Slots(f"hold-{uuid.uuid4().hex}", 1, store=store)
    with slots.hold():
        cancel = threading.Event()
        threading.Timer(0.15, cancel.set).start()
        with pytest.raises(Cancelled), slots.hold(cancel=cancel):
            pass  # pragma: no cover - never entered: the only slot is taken
    with slots.hold():  # released on the way out of both
        pass
