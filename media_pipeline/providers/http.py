"""The one door to outside APIs (LLMs, speech): pooled httpx connections, explicit timeouts, retries with
backoff and jitter that honour Retry-After, a shared rate limiter and concurrency cap, and one `CallRecord`
per call for metrics.

Secrets travel only in headers. Nothing here ever puts a header into a record, an error or a log line, and
error bodies are scrubbed of the secret header values in case a provider echoes the key back.
"""

from __future__ import annotations

import contextlib
import copy
import email.utils
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from ..errors import Cancelled, MediaError
from ..process import CancelToken, wait_any

if TYPE_CHECKING:
    from .ratelimit import RateLimiter, Slots

log = logging.getLogger(__name__)

T = TypeVar("T")

# Statuses worth another try: the provider is busy or briefly broken. 408 is the server timing out on us.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504}) | frozenset(range(520, 530))
# Header names whose values are secrets (compared lower-case).
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "xi-api-key", "x-goog-api-key", "cookie"})
# Gemini answers a bad key with HTTP 400 (INVALID_ARGUMENT) rather than 401; these words tell it apart.
BAD_KEY_HINTS = ("API_KEY_INVALID", "API key not valid")
DETAIL_BODY_KEEP = 500


@dataclass(frozen=True)
class CallRecord:
    """One `request()` as metrics see it. `path` has no query string; no headers, no keys."""

    provider: str
    operation: str
    method: str
    path: str
    status: int | None
    duration_ms: float  # wall time of the whole request(): attempts, backoff and waits
    retries: int
    ok: bool
    error: str = ""
    waited_ms: float = 0.0  # of which waiting on the rate limiter and concurrency slots
    tokens: int = 0


class ProviderError(MediaError):
    """An outside service failed us. `message` is a sentence for the user, `detail` is for operators.

    `kind` says what went wrong, for callers that react differently: "auth", "rate_limited", "server",
    "timeout", "connection", "rejected", "not_found", "unreadable", "blocked", "busy" (our own limiter).
    """

    def __init__(
        self,
        message: str,
        *,
        detail: str = "",
        status: int | None = None,
        retryable: bool = False,
        provider: str = "",
        kind: str = "",
    ) -> None:
        super().__init__(message, detail=detail)
        self.status = status
        self.retryable = retryable
        self.provider = provider
        self.kind = kind


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    base: float = 0.5  # first backoff ceiling in seconds; doubles per retry
    cap: float = 20.0  # largest backoff ceiling
    max_retry_after: float = 60.0  # a longer Retry-After is cut to this

    def backoff(self, retry: int) -> float:
        """Full jitter: anywhere between 0 and the exponential ceiling, so many clients spread out."""
        return random.uniform(0, min(self.cap, self.base * 2**retry))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def sleep_or_cancel(seconds: float, cancel: CancelToken | None) -> None:
    """Sleep `seconds`, or raise Cancelled as soon as `cancel` is set."""
    if cancel is None:
        time.sleep(max(0.0, seconds))
    elif wait_any(cancel, timeout=max(0.0, seconds)):
        raise Cancelled()


class UnreadableAnswer(ValueError):
    """Raised by a `read` callback of `ProviderClient.fetch` when the body is not what the API promises."""


class ProviderClient:
    """A pooled, thread-safe client for one outside service. See the module docstring.

    `label` names the service in user sentences ("The speech service (ElevenLabs)"); `key_setting` is the
    setting a user should check when the key is refused ("ELEVENLABS_API_KEY"). `slots` caps requests in
    flight across processes; it is held for each attempt only, never across a backoff sleep, so its lease
    must outlast one attempt (keep it above `timeout`).

    Keys belong in `headers` here: those values are scrubbed from every error and log line. Per-request
    `headers` are not treated as secrets.
    """

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        retry: RetryPolicy = RetryPolicy(),
        limiter: RateLimiter | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 10,
        label: str | None = None,
        key_setting: str | None = None,
        slots: Slots | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retry = retry
        self.limiter = limiter
        self.slots = slots
        self.on_call = on_call
        self.label = label or f"The {name} service"
        self.key_setting = key_setting
        headers = dict(headers or {})
        self._secrets = _secret_values(headers)
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
            follow_redirects=False,
        )
        self._owns_http = True

    def bind(
        self,
        *,
        on_call: Callable[[CallRecord], None] | None = None,
        limiter: RateLimiter | None = None,
        slots: Slots | None = None,
        retry: RetryPolicy | None = None,
    ) -> ProviderClient:
        """A view of this client with per-job callbacks and limits, sharing its connection pool.
        Closing the view leaves the pool open (its owner closes it)."""
        view = copy.copy(self)
        view._owns_http = False
        view.on_call = on_call
        view.limiter = limiter
        view.slots = slots
        if retry is not None:
            view.retry = retry
        return view

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> ProviderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the call --------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        tokens: int = 0,
        cancel: CancelToken | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send one request with retries; return the 2xx response or raise ProviderError / Cancelled."""
        return self.fetch(
            method,
            path,
            operation=operation,
            read=lambda response: response,
            json=json,
            params=params,
            headers=headers,
            tokens=tokens,
            cancel=cancel,
            timeout=timeout,
        )

    def fetch(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        read: Callable[[httpx.Response], T],
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        tokens: int = 0,
        cancel: CancelToken | None = None,
        timeout: float | None = None,
    ) -> T:
        """Like `request`, then `read(response)` inside the same record: when `read` raises
        UnreadableAnswer (or KeyError/IndexError/TypeError/ValueError) the call is recorded as failed and a
        ProviderError "sent an answer we could not read" is raised. A ProviderError from `read` passes through.

        Steps per attempt: 1. stop if cancelled; 2. take the rate limiter (requests + tokens), then a slot;
        3. send (the slot is released once the body is in); 4. on 2xx read and return, on a final status
        raise at once, on a retryable failure sleep (Retry-After or full-jitter backoff) and go again while
        retries remain.
        """
        started = time.monotonic()
        clean_path = path.split("?", 1)[0]
        seconds = timeout or self.timeout
        request_timeout = httpx.Timeout(seconds, connect=self.connect_timeout)
        retries = 0
        waited = 0.0
        status: int | None = None
        error = ""
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                if self.limiter is not None:
                    waited += self.limiter.acquire(tokens, cancel=cancel)
                slot_began = time.monotonic()
                response: httpx.Response | None = None
                failure: httpx.RequestError | None = None
                with self._slot(cancel):
                    waited += time.monotonic() - slot_began
                    try:
                        response = self._http.request(
                            method, path, json=json, params=params, headers=headers, timeout=request_timeout
                        )
                    except httpx.RequestError as exc:  # timeouts, refused and dropped connections, bad encodings
                        failure = exc
                status = response.status_code if response is not None else None
                if response is not None and response.is_success:
                    answered_ms = _ms(started)
                    try:
                        result = read(response)
                    except ProviderError as exc:
                        error = exc.kind or "unreadable"
                        raise
                    except (UnreadableAnswer, KeyError, IndexError, TypeError, ValueError) as exc:
                        error = "unreadable"
                        raise self.unreadable(operation, response, str(exc)) from None
                    self._record(operation, method, clean_path, status, answered_ms, retries, True, "", waited, tokens)
                    return result
                if response is not None:
                    problem = self._status_error(response, operation, retries)
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                elif isinstance(failure, httpx.TimeoutException):
                    problem, retry_after = self._timeout_error(failure, seconds, retries), None
                elif isinstance(failure, httpx.DecodingError):
                    error = "unreadable"
                    raise self.unreadable(operation, None, f"{type(failure).__name__}: {failure}")
                else:
                    assert failure is not None
                    problem, retry_after = self._connection_error(failure, retries), None
                error = problem.kind
                if not problem.retryable or retries >= self.retry.max_retries:
                    log.warning(
                        "%s %s %s failed after %d retries: %s", self.name, method, clean_path, retries, problem.detail
                    )
                    raise problem
                if retry_after is not None:
                    delay = min(retry_after, self.retry.max_retry_after)
                else:
                    delay = self.retry.backoff(retries)
                log.info(
                    "%s %s %s: %s (HTTP %s), retry %d of %d in %.2f s",
                    self.name,
                    method,
                    clean_path,
                    problem.kind,
                    status,
                    retries + 1,
                    self.retry.max_retries,
                    delay,
                )
                sleep_or_cancel(delay, cancel)
                retries += 1
        except Cancelled:
            self._record(
                operation, method, clean_path, status, _ms(started), retries, False, "cancelled", waited, tokens
            )
            raise
        except ProviderError as exc:
            self._record(
                operation, method, clean_path, status, _ms(started), retries, False, error or exc.kind, waited, tokens
            )
            raise
        except BaseException as exc:
            # A bug or an interrupt: still one record, so metrics never lose a call.
            self._record(
                operation, method, clean_path, status, _ms(started), retries, False, type(exc).__name__, waited, tokens
            )
            raise

    @contextlib.contextmanager
    def stream(self, method: str, url: str, *, timeout: float | None = None) -> Iterator[httpx.Response]:
        """One streamed request on the pooled connections, with this client's headers (its key included), for
        a body too large to hold (a generated video). No retries or records here: the caller owns both, since
        only it knows whether a half-read body can be resumed. `url` must be on this client's host."""
        target = httpx.URL(self.base_url).join(url)
        if target.host != httpx.URL(self.base_url).host:
            raise ProviderError(
                f"{self.label} pointed us at another host; the file was not fetched.",
                detail=f"{self.name}: refused to send our key to {target.host}",
                provider=self.name,
                kind="rejected",
            )
        seconds = timeout or self.timeout
        with self._http.stream(
            method, target, timeout=httpx.Timeout(seconds, connect=self.connect_timeout)
        ) as response:
            yield response

    # --- helpers ---------------------------------------------------------------------------------------

    def _slot(self, cancel: CancelToken | None) -> contextlib.AbstractContextManager[object]:
        return self.slots.hold(cancel=cancel) if self.slots is not None else contextlib.nullcontext()

    def _record(
        self,
        operation: str,
        method: str,
        path: str,
        status: int | None,
        duration_ms: float,
        retries: int,
        ok: bool,
        error: str,
        waited: float,
        tokens: int,
    ) -> None:
        if self.on_call is None:
            return
        record = CallRecord(
            provider=self.name,
            operation=operation,
            method=method,
            path=path,
            status=status,
            duration_ms=round(duration_ms, 3),
            retries=retries,
            ok=ok,
            error=error,
            waited_ms=round(waited * 1000, 3),
            tokens=tokens,
        )
        try:
            self.on_call(record)
        except Exception:  # noqa: BLE001 - metrics must never break the call they measure
            log.exception("on_call failed for %s %s", self.name, operation)

    def scrub(self, text: str) -> str:
        """`text` with every secret header value replaced, for details and logs."""
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def _body_excerpt(self, response: httpx.Response) -> str:
        try:
            body = response.text
        except Exception:  # noqa: BLE001 - an undecodable body is still worth a mention
            body = repr(response.content[:DETAIL_BODY_KEEP])
        body = " ".join(body.split())
        if len(body) > DETAIL_BODY_KEEP:
            body = body[:DETAIL_BODY_KEEP] + "…"
        return self.scrub(body)

    def _where(self, response: httpx.Response) -> str:
        return f"{response.request.method} {response.request.url.path}"

    def _status_error(self, response: httpx.Response, operation: str, retries: int) -> ProviderError:
        code = response.status_code
        detail = (
            f"{self.name} {operation}: HTTP {code} from {self._where(response)}; body: {self._body_excerpt(response)}"
        )
        after = _after(retries)
        if code in (401, 403) or (code == 400 and any(hint in response.text for hint in BAD_KEY_HINTS)):
            check = f"check {self.key_setting}" if self.key_setting else "check its API key setting"
            message, kind = f"{self.label} refused our key (HTTP {code}); {check}.", "auth"
        elif code == 429:
            message, kind = f"{self.label} is out of quota or rate-limited (HTTP 429){after}.", "rate_limited"
        elif code >= 500 or code == 408:
            message, kind = f"{self.label} had a server error (HTTP {code}){after}.", "server"
        elif code == 404:
            message, kind = (
                f"{self.label} does not know what we asked for (HTTP 404); check its address and model settings.",
                "not_found",
            )
        else:
            message, kind = f"{self.label} rejected our request (HTTP {code}).", "rejected"
        return ProviderError(
            message, detail=detail, status=code, retryable=code in RETRY_STATUSES, provider=self.name, kind=kind
        )

    def _timeout_error(self, exc: httpx.TimeoutException, seconds: float, retries: int) -> ProviderError:
        tries = f" (tried {retries + 1} times)" if retries else ""
        return ProviderError(
            f"{self.label} did not answer within {seconds:g} s{tries}.",
            detail=self.scrub(f"{self.name}: {type(exc).__name__}: {exc}"),
            retryable=True,
            provider=self.name,
            kind="timeout",
        )

    def _connection_error(self, exc: httpx.RequestError, retries: int) -> ProviderError:
        host = httpx.URL(self.base_url).host
        return ProviderError(
            f"{self.label} could not be reached at {host}{_after(retries)}.",
            detail=self.scrub(f"{self.name}: {type(exc).__name__}: {exc}"),
            retryable=True,
            provider=self.name,
            kind="connection",
        )

    def unreadable(self, operation: str, response: httpx.Response | None, why: str) -> ProviderError:
        """The error for a 2xx answer we cannot use (not JSON, missing fields, not audio)."""
        where = f" from {self._where(response)}; body: {self._body_excerpt(response)}" if response is not None else ""
        return ProviderError(
            f"{self.label} sent an answer we could not read.",
            detail=self.scrub(f"{self.name} {operation}: {why}{where}"),
            status=response.status_code if response is not None else None,
            provider=self.name,
            kind="unreadable",
        )


def _after(retries: int) -> str:
    if retries == 0:
        return ""
    return f" and did not recover after {retries} {'retry' if retries == 1 else 'retries'}"


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


def _secret_values(headers: dict[str, str]) -> list[str]:
    """The secret parts of the headers: whole values and, for "Bearer x", x alone. Longest first."""
    found: set[str] = set()
    for name, value in headers.items():
        if name.lower() in SECRET_HEADERS and value:
            found.add(value)
            _, _, token = value.partition(" ")
            if len(token) >= 6:
                found.add(token)
    return sorted((v for v in found if len(v) >= 6), key=len, reverse=True)


_clients: dict[Hashable, ProviderClient] = {}
_clients_lock = threading.Lock()


def client_for(key: Hashable, factory: Callable[[], ProviderClient]) -> ProviderClient:
    """One ProviderClient per `key` per process, so jobs in a worker share pooled connections.
    Per-job callbacks go on a `bind()` view of it. Thread-safe; `factory` runs at most once per key."""
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = factory()
        return client


def pooled_client(
    *,
    scope: str,
    name: str,
    base_url: str,
    api_key: str,
    headers: dict[str, str],
    timeout: float,
    transport: httpx.BaseTransport | None,
    max_connections: int,
    label: str,
    key_setting: str,
) -> ProviderClient:
    """The process's shared ProviderClient for this service, URL and key (see client_for). The key enters
    the pool's identity only as a hash, so it never sits in a long-lived dict as text."""
    key = (scope, name, base_url, hashlib.sha256(api_key.encode()).hexdigest(), timeout, id(transport))
    return client_for(
        key,
        lambda: ProviderClient(
            name=name,
            base_url=base_url,
            headers=headers,
            timeout=timeout,
            transport=transport,
            max_connections=max_connections,
            label=label,
            key_setting=key_setting,
        ),
    )
