"""Results of outside calls cached by input hash, so a reprocess or a retried job does not pay twice.

A cache is an optimisation: when its storage fails it logs and behaves as a miss, never failing the job.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class ResultCache(Protocol):
    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...


class FileResultCache:
    """One file per entry under `directory` (written to a temp name, then renamed). Entries older than `ttl`
    seconds are ignored and removed; past `max_bytes` in total the oldest written go first."""

    def __init__(self, directory: Path, *, ttl: float, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        # Hash again: any key becomes a safe, fixed-length file name.
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()}.entry"

    def get(self, key: str) -> str | None:
        path = self._path(key)
        try:
            if time.time() - path.stat().st_mtime > self.ttl:
                path.unlink(missing_ok=True)
                return None
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("result cache read failed: %s", exc)
            return None

    def set(self, key: str, value: str) -> None:
        path = self._path(key)
        tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            tmp.write_text(value, encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("result cache write failed: %s", exc)
            tmp.unlink(missing_ok=True)
            return
        self._evict()

    def _evict(self) -> None:
        """Drop expired entries, then the oldest until the total fits. Races with other processes doing the
        same are harmless: a file already gone is skipped."""
        now = time.time()
        entries: list[tuple[float, int, str]] = []
        try:
            with os.scandir(self.directory) as it:
                for entry in it:
                    if not entry.name.endswith(".entry"):
                        continue
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        continue
                    if now - st.st_mtime > self.ttl:
                        Path(entry.path).unlink(missing_ok=True)
                    else:
                        entries.append((st.st_mtime, st.st_size, entry.path))
        except OSError as exc:
            log.warning("result cache scan failed: %s", exc)
            return
        total = sum(size for _, size, _ in entries)
        for _, size, name in sorted(entries):
            if total <= self.max_bytes:
                break
            Path(name).unlink(missing_ok=True)
            total -= size


# KEYS[1]: the entry, KEYS[2]: the index (entry key -> time written). ARGV: value, ttl, max entries.
_SET_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
redis.call('ZADD', KEYS[2], string.format('%.17g', now), KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.17g', now - ttl))
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if over > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #oldest, 2 do
    redis.call('DEL', oldest[i])
  end
end
redis.call('EXPIRE', KEYS[2], ttl + 60)
return over
"""


class RedisResultCache:
    """Entries as Redis strings with a TTL, plus an index sorted by write time that keeps at most
    `max_entries` (the oldest are deleted first)."""

    def __init__(self, url: str, *, ttl: float, max_entries: int, prefix: str = "rp:cache:") -> None:
        import redis

        self._redis_error = redis.RedisError
        self._client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3)
        self._set = self._client.register_script(_SET_LUA)
        self.ttl = max(1, int(ttl))
        self.max_entries = max_entries
        self.prefix = prefix

    def get(self, key: str) -> str | None:
        try:
            value = self._client.get(self.prefix + key)
        except self._redis_error as exc:
            log.warning("result cache read failed: %s", exc)
            return None
        # The client is made without decode_responses, so a value comes back as bytes.
        return value.decode("utf-8") if isinstance(value, bytes) else value

    def set(self, key: str, value: str) -> None:
        try:
            self._set(keys=[self.prefix + key, self.prefix + "index"], args=[value, self.ttl, self.max_entries])
        except self._redis_error as exc:
            log.warning("result cache write failed: %s", exc)

    def close(self) -> None:
        self._client.close()
