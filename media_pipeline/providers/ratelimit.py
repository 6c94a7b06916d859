"""Rate limits and concurrency caps that hold across threads, processes and machines.

The state lives in a `BucketStore`, never in process memory: `FileBucketStore` (a JSON file per limiter
under an flock; every worker on one machine) or `RedisBucketStore` (one Lua script per decision, atomic on
the Redis server and timed by the Redis clock; every worker on every machine).

`RateLimiter` keeps two token buckets per name: requests per minute and (optionally) tokens per minute.

- Requests: capacity `burst` (default max(1, rpm // 6), i.e. about 10 s worth) refilled at
  (rpm - burst + 1) / 60 per second. With that refill no 60 s window [t, t + 60) ever holds more than
  `rpm` requests, burst included: a burst is paid for by a slightly slower refill rather than by going
  over the provider's per-minute limit. Sustained throughput is rpm - burst + 1 per minute.
- Tokens: capacity `token_burst` (default tpm / 6) refilled at tpm / 60 per second. A call larger than the
  capacity waits for a full bucket and then takes it into debt, so big prompts still go through.

`Slots` caps how many holders run at once ("at most 5 TTS requests in flight"). Each holder has a lease,
so a killed process frees its slot after `lease` seconds at the latest; keep `lease` above the longest
single attempt you hold a slot for.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import random
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import Cancelled
from ..process import CancelToken
from .http import ProviderError, sleep_or_cancel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bucket:
    field: str  # "requests" or "tokens"
    capacity: float
    rate: float  # refill per second, > 0
    amount: float  # to take now


class BucketStore(Protocol):
    def take(self, name: str, buckets: Sequence[Bucket]) -> float:
        """Atomically refill every bucket of `name` and, when each holds min(amount, capacity), take all the
        amounts and return 0.0; otherwise take nothing and return the seconds until all would hold it."""
        ...

    def claim_slot(self, name: str, holder: str, *, limit: int, lease: float) -> float:
        """Atomically drop expired leases, then add `holder` (lease seconds) if fewer than `limit` hold one
        and return 0.0; otherwise return the seconds until the earliest lease runs out."""
        ...

    def release_slot(self, name: str, holder: str) -> None: ...


def _refill(state: dict[str, Any], bucket: Bucket, now: float) -> float:
    level = state.get("level")
    stamp = state.get("ts")
    if not isinstance(level, (int, float)) or not isinstance(stamp, (int, float)):
        return bucket.capacity  # a new (or unreadable) bucket starts full
    return min(bucket.capacity, level + max(0.0, now - stamp) * bucket.rate)


def take_from(state: dict[str, Any], buckets: Sequence[Bucket], now: float) -> float:
    """The decision `take` makes, on a plain dict {field: {"level", "ts"}} (mutated when it takes)."""
    levels = [_refill(state.get(b.field) or {}, b, now) for b in buckets]
    wait = 0.0
    for bucket, level in zip(buckets, levels, strict=True):
        need = min(bucket.amount, bucket.capacity)
        if level + 1e-9 < need:
            wait = max(wait, (need - level) / bucket.rate)
    if wait > 0:
        return wait
    for bucket, level in zip(buckets, levels, strict=True):
        state[bucket.field] = {"level": level - bucket.amount, "ts": now}
    return 0.0


def _file_slug(name: str) -> str:
    """A safe file name for any limiter name, unique even when two names clean up to the same text."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60]
    return f"{clean}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"


class FileBucketStore:
    """Bucket state in JSON files under `directory`, each read-modify-written under an exclusive flock.
    Every process on one machine (one filesystem with working flock; not NFS) shares the limits."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[dict[str, Any]]:
        """Yield the file's state under the lock; what the caller leaves in the dict is written back."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            try:
                state = json.loads(b"".join(chunks) or b"{}")
            except ValueError:
                state = {}  # torn by a crash mid-write: start again with full buckets
            if not isinstance(state, dict):
                state = {}
            before = json.dumps(state, sort_keys=True)
            yield state
            after = json.dumps(state, sort_keys=True)
            if after != before:
                os.lseek(fd, 0, os.SEEK_SET)
                os.ftruncate(fd, 0)
                os.write(fd, after.encode())
        finally:
            os.close(fd)  # also drops the flock

    def take(self, name: str, buckets: Sequence[Bucket]) -> float:
        with self._locked(self.directory / f"{_file_slug(name)}.bucket") as state:
            return take_from(state, buckets, time.time())

    def claim_slot(self, name: str, holder: str, *, limit: int, lease: float) -> float:
        with self._locked(self.directory / f"{_file_slug(name)}.slots") as state:
            now = time.time()
            holders = {h: e for h, e in state.get("holders", {}).items() if isinstance(e, (int, float)) and e > now}
            if len(holders) < limit or holder in holders:
                holders[holder] = now + lease
                state["holders"] = holders
                return 0.0
            state["holders"] = holders
            return max(0.0, min(holders.values()) - now)

    def release_slot(self, name: str, holder: str) -> None:
        with self._locked(self.directory / f"{_file_slug(name)}.slots") as state:
            holders = state.get("holders", {})
            holders.pop(holder, None)
            state["holders"] = holders


# KEYS[1]: the limiter's hash. ARGV: n, then n times (field, capacity, rate, amount). The Redis clock
# decides, so machines with skewed clocks still share one limit.
_TAKE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local n = tonumber(ARGV[1])
local levels = {}
local wait = 0
local keep = 60
for i = 0, n - 1 do
  local field = ARGV[2 + i * 4]
  local cap = tonumber(ARGV[3 + i * 4])
  local rate = tonumber(ARGV[4 + i * 4])
  local amount = tonumber(ARGV[5 + i * 4])
  local level = tonumber(redis.call('HGET', KEYS[1], field .. ':level'))
  local ts = tonumber(redis.call('HGET', KEYS[1], field .. ':ts'))
  if level == nil or ts == nil then
    level = cap
  else
    local elapsed = now - ts
    if elapsed < 0 then elapsed = 0 end
    level = math.min(cap, level + elapsed * rate)
  end
  levels[i + 1] = level
  local need = math.min(amount, cap)
  if level + 1e-9 < need then
    wait = math.max(wait, (need - level) / rate)
  end
  keep = math.max(keep, math.ceil((cap + amount) / rate) + 60)
end
if wait > 0 then
  return tostring(wait)
end
for i = 0, n - 1 do
  local field = ARGV[2 + i * 4]
  local amount = tonumber(ARGV[5 + i * 4])
  redis.call('HSET', KEYS[1], field .. ':level', string.format('%.17g', levels[i + 1] - amount),
             field .. ':ts', string.format('%.17g', now))
end
redis.call('EXPIRE', KEYS[1], keep)
return '0'
"""

# KEYS[1]: a sorted set holder -> lease expiry. ARGV: holder, limit, lease seconds.
_CLAIM_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.17g', now))
if redis.call('ZCARD', KEYS[1]) < limit or redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], string.format('%.17g', now + lease), ARGV[1])
  redis.call('EXPIRE', KEYS[1], math.ceil(lease) + 60)
  return '0'
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(math.max(0, tonumber(first[2]) - now))
"""


class RedisBucketStore:
    """Bucket state in Redis, decided by Lua scripts (atomic, Redis clock): every worker on every machine."""

    def __init__(self, url: str, *, prefix: str = "rp:") -> None:
        import redis

        self._redis_error = redis.RedisError
        self._client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3, health_check_interval=30)
        self._take = self._client.register_script(_TAKE_LUA)
        self._claim = self._client.register_script(_CLAIM_LUA)
        self.prefix = prefix

    def _unreachable(self, exc: Exception) -> ProviderError:
        return ProviderError(
            "The shared rate limiter (Redis) could not be reached; check REDIS_URL.",
            detail=f"{type(exc).__name__}: {exc}",
            retryable=True,
            provider="redis",
            kind="connection",
        )

    def take(self, name: str, buckets: Sequence[Bucket]) -> float:
        args: list[Any] = [len(buckets)]
        for b in buckets:
            args += [b.field, repr(float(b.capacity)), repr(float(b.rate)), repr(float(b.amount))]
        try:
            return float(self._take(keys=[f"{self.prefix}rl:{name}"], args=args))
        except self._redis_error as exc:
            raise self._unreachable(exc) from None

    def claim_slot(self, name: str, holder: str, *, limit: int, lease: float) -> float:
        try:
            return float(self._claim(keys=[f"{self.prefix}slots:{name}"], args=[holder, limit, repr(float(lease))]))
        except self._redis_error as exc:
            raise self._unreachable(exc) from None

    def release_slot(self, name: str, holder: str) -> None:
        try:
            self._client.zrem(f"{self.prefix}slots:{name}", holder)
        except self._redis_error:
            # The lease runs out on its own; losing a release only delays the next holder.
            log.warning("could not release slot %s; its lease will expire", name)

    def close(self) -> None:
        self._client.close()


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits shared through `store`. See the module docstring."""

    def __init__(
        self,
        name: str,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        burst: int | None = None,
        store: BucketStore,
        token_burst: float | None = None,
        label: str | None = None,
        max_wait: float = 300,
    ) -> None:
        self.name = name
        self.max_wait = max_wait
        self.store = store
        self.label = label or name
        self.rpm = rpm
        self.tpm = tpm
        self.burst: int | None = None
        self._requests: Bucket | None = None
        self._tokens_cap = 0.0
        self._tokens_rate = 0.0
        if rpm is not None:
            if rpm <= 0:
                raise ValueError("rpm must be positive")
            self.burst = max(1, int(rpm // 6)) if burst is None else burst
            if not 1 <= self.burst <= max(1.0, rpm):
                raise ValueError(f"burst must be between 1 and rpm ({rpm:g})")
            self._requests = Bucket("requests", float(self.burst), (rpm - self.burst + 1) / 60.0, 1.0)
        if tpm is not None:
            if tpm <= 0:
                raise ValueError("tpm must be positive")
            self._tokens_cap = float(token_burst) if token_burst else max(1.0, tpm / 6)
            self._tokens_rate = tpm / 60.0

    def buckets(self, tokens: int) -> list[Bucket]:
        found = [self._requests] if self._requests else []
        if self.tpm is not None and tokens > 0:
            found.append(Bucket("tokens", self._tokens_cap, self._tokens_rate, float(tokens)))
        return found

    def acquire(self, tokens: int = 0, *, cancel: CancelToken | None = None, max_wait: float | None = None) -> float:
        """Block (sleeping) until one request of `tokens` tokens may go; return the seconds waited.
        Raises ProviderError (kind "busy") as soon as it knows the wait would pass `max_wait` (default: the
        limiter's own, 300 s unless set)."""
        max_wait = self.max_wait if max_wait is None else max_wait
        buckets = self.buckets(tokens)
        if not buckets:
            return 0.0
        started = time.monotonic()
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            wait = self.store.take(self.name, buckets)
            elapsed = time.monotonic() - started
            if wait <= 0:
                return elapsed
            if elapsed + wait > max_wait:
                raise ProviderError(
                    f"Too many requests to {self.label} are waiting: the next one could not start within "
                    f"{max_wait:g} s. Please try again later.",
                    detail=f"limiter {self.name}: rpm={self.rpm} tpm={self.tpm} tokens={tokens} wait={wait:.1f}s",
                    retryable=True,
                    provider=self.name,
                    kind="busy",
                )
            # A little jitter so waiters in several processes do not all wake on the same instant.
            sleep_or_cancel(wait + random.uniform(0, min(0.02, wait / 10)), cancel)


class Slots:
    """At most `limit` holders at once across every process sharing `store`. `with slots.hold(): ...`"""

    def __init__(self, name: str, limit: int, *, store: BucketStore, lease: float = 120, poll: float = 0.05) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.name = name
        self.limit = limit
        self.store = store
        self.lease = lease
        self.poll = poll

    @contextlib.contextmanager
    def hold(self, cancel: CancelToken | None = None, *, max_wait: float = 600) -> Iterator[None]:
        """Wait (polling every ~`poll` s, with jitter) for a free slot, hold it for the block, release it."""
        holder = uuid.uuid4().hex
        started = time.monotonic()
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            wait = self.store.claim_slot(self.name, holder, limit=self.limit, lease=self.lease)
            if wait <= 0:
                break
            if time.monotonic() - started > max_wait:
                raise ProviderError(
                    f"Too many requests to {self.name} are waiting: none could start within {max_wait:g} s. "
                    "Please try again later.",
                    detail=f"slots {self.name}: limit={self.limit}",
                    retryable=True,
                    provider=self.name,
                    kind="busy",
                )
            # Releases are not announced, so poll; never longer than until the oldest lease runs out.
            sleep_or_cancel(min(wait, self.poll * random.uniform(1.0, 1.5)), cancel)
        try:
            yield
        finally:
            self.store.release_slot(self.name, holder)
