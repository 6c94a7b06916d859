"""Video generation through the Gemini API's Veo models (long-running operations).

1. POST {base}/models/{model}:predictLongRunning with x-goog-api-key and
   {"instances": [{"prompt"}], "parameters": {"aspectRatio", "durationSeconds", "negativePrompt"}} → {"name"}.
2. GET {base}/{name} with growing intervals until "done"; then "error" (a sentence) or
   response.generateVideoResponse.generatedSamples[0].video.uri. A generation that does not finish within
   `timeout` seconds ends with a sentence.
3. GET the uri streamed to a temp file beside `out`, with progress (bytes, speed, ETA) at most every
   PROGRESS_EVERY s, a size limit and cancel; a body cut off before its Content-Length is fetched again
   (the retry policy's count); then probed, and renamed to `out` only if it is a video we can use.
Every call is a metrics record (submit and polls through `ProviderClient.fetch`; the download here, one
record per attempt), with the key scrubbed from every detail.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from ..errors import Cancelled, MediaError
from ..files import atomic_output
from ..probe import Limits, MediaInfo, probe
from ..process import CancelToken
from ..providers.http import CallRecord, ProviderClient, ProviderError, UnreadableAnswer, sleep_or_cancel
from ..providers.registry import Calls, Conf, ProviderSpec, Service
from .base import DownloadProgress, GeneratedClip, GenerationProgress

SERVICE = Service(
    scope="video",
    name="veo",
    label="The video generation service (Veo)",
    key_setting="GEMINI_API_KEY",
    key_header="x-goog-api-key",
)
ASPECTS = ("16:9", "9:16")  # what Veo makes; a square video is cut from a 16:9 one
PROGRESS_EVERY = 0.5
CHUNK = 64 * 1024


class VeoGenerator:
    name = "veo"

    def __init__(
        self,
        client: ProviderClient,
        *,
        model: str,
        timeout: float = 600,
        poll_first: float = 2.0,
        poll_growth: float = 1.5,
        poll_max: float = 10.0,
        max_bytes: int = 300 * 2**20,
        download_timeout: float = 300,
        ffprobe: str = "ffprobe",
    ) -> None:
        self.client = client
        self.model = model
        self.timeout = timeout
        self.poll_first, self.poll_growth, self.poll_max = poll_first, poll_growth, poll_max
        self.max_bytes = max_bytes
        self.download_timeout = download_timeout
        self.ffprobe = ffprobe

    def generate(
        self,
        prompt: str,
        *,
        out: Path,
        aspect: str = "16:9",
        seconds: int = 8,
        negative_prompt: str = "",
        on_progress: Callable[[GenerationProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> GeneratedClip:
        started = time.monotonic()
        report = on_progress or (lambda p: None)
        name = self.submit(prompt, aspect=aspect, seconds=seconds, negative_prompt=negative_prompt, cancel=cancel)
        report(GenerationProgress("submitted", time.monotonic() - started))
        uri = self.wait(name, started=started, report=report, cancel=cancel)
        with atomic_output(out) as tmp:
            self.download(
                uri,
                tmp,
                report=lambda d: report(GenerationProgress("downloading", time.monotonic() - started, download=d)),
                cancel=cancel,
            )
            info = self._check(tmp, cancel)
        return GeneratedClip(
            path=out,
            size=out.stat().st_size,
            duration=info.duration,
            width=info.width,
            height=info.height,
            operation=name,
            seconds=time.monotonic() - started,
        )

    # --- 1. submit ---------------------------------------------------------------------------------------

    def submit(
        self, prompt: str, *, aspect: str, seconds: int, negative_prompt: str = "", cancel: CancelToken | None = None
    ) -> str:
        if not prompt.strip():
            raise MediaError("There is no prompt to make a video from.", detail="empty prompt")
        parameters: dict[str, Any] = {"aspectRatio": aspect if aspect in ASPECTS else "16:9"}
        parameters["durationSeconds"] = max(4, min(8, int(seconds)))
        if negative_prompt:
            parameters["negativePrompt"] = negative_prompt

        def read(response: httpx.Response) -> str:
            name = response.json().get("name")
            if not isinstance(name, str) or not name or ".." in name:
                raise UnreadableAnswer(f"no operation name in {response.text[:200]!r}")
            return name

        return self.client.fetch(
            "POST",
            f"models/{quote(self.model, safe='')}:predictLongRunning",
            operation="video.submit",
            read=read,
            json={"instances": [{"prompt": prompt}], "parameters": parameters},
            cancel=cancel,
        )

    # --- 2. poll -----------------------------------------------------------------------------------------

    def wait(
        self,
        name: str,
        *,
        started: float,
        report: Callable[[GenerationProgress], None],
        cancel: CancelToken | None = None,
    ) -> str:
        """Poll the operation until it is done; the video's URI, or ProviderError with the service's reason."""
        interval = self.poll_first
        polls = 0
        while True:
            elapsed = time.monotonic() - started
            if elapsed >= self.timeout:
                raise ProviderError(
                    f"{self.client.label} did not finish the video within {self.timeout / 60:g} minutes; "
                    "try again later or with a simpler prompt.",
                    detail=f"veo operation {name}: not done after {elapsed:.0f} s and {polls} polls",
                    provider=self.name,
                    kind="timeout",
                )
            sleep_or_cancel(min(interval, max(0.0, self.timeout - elapsed)), cancel)
            interval = min(self.poll_max, interval * self.poll_growth)
            operation = self.client.fetch("GET", name, operation="video.poll", read=lambda r: r.json(), cancel=cancel)
            polls += 1
            report(GenerationProgress("generating", time.monotonic() - started, polls=polls))
            if not isinstance(operation, dict) or not operation.get("done"):
                continue
            if operation.get("error"):
                error = operation["error"] if isinstance(operation["error"], dict) else {}
                reason = str(error.get("message") or "no reason given")[:300]
                raise ProviderError(
                    f"{self.client.label} could not make this video: {reason}",
                    detail=self.client.scrub(f"veo operation {name} failed: {operation['error']!r}"[:800]),
                    provider=self.name,
                    kind="rejected",
                )
            try:
                samples = operation["response"]["generateVideoResponse"]["generatedSamples"]
                uri = samples[0]["video"]["uri"]
                if not isinstance(uri, str) or not uri:
                    raise TypeError("empty uri")
                return uri
            except (KeyError, IndexError, TypeError) as exc:
                raise ProviderError(
                    f"{self.client.label} finished without a video; it may have filtered the prompt.",
                    detail=self.client.scrub(f"veo operation {name}: {exc!r} in {str(operation)[:500]}"),
                    provider=self.name,
                    kind="unreadable",
                ) from None

    # --- 3. download -------------------------------------------------------------------------------------

    def download(
        self, uri: str, dest: Path, *, report: Callable[[DownloadProgress], None], cancel: CancelToken | None = None
    ) -> int:
        """Stream `uri` into `dest`; the bytes written. A body shorter than its Content-Length, a dropped
        connection or a retryable status is fetched again from the start, up to the retry policy's count."""
        retries = 0
        while True:
            started = time.monotonic()
            status: int | None = None
            try:
                written, status = self._download_once(uri, dest, report=report, cancel=cancel)
                self._record(started, status, retries, True, "")
                return written
            except Cancelled:
                self._record(started, status, retries, False, "cancelled")
                raise
            except ProviderError as exc:
                self._record(started, exc.status, retries, False, exc.kind)
                if not exc.retryable or retries >= self.client.retry.max_retries:
                    raise
            sleep_or_cancel(self.client.retry.backoff(retries), cancel)
            retries += 1

    def _download_once(
        self, uri: str, dest: Path, *, report: Callable[[DownloadProgress], None], cancel: CancelToken | None
    ) -> tuple[int, int]:
        label = self.client.label
        started = last = time.monotonic()
        written = 0
        try:
            with self.client.stream("GET", uri, timeout=self.download_timeout) as response:
                if not response.is_success:
                    response.read()
                    code = response.status_code
                    raise ProviderError(
                        f"{label} would not hand over the video (HTTP {code}).",
                        detail=self.client.scrub(f"veo download: HTTP {code}: {response.text[:300]}"),
                        status=code,
                        retryable=code in (408, 429) or code >= 500,
                        provider=self.name,
                        kind="server" if code >= 500 else "rejected",
                    )
                total = _int(response.headers.get("content-length"))
                if total is not None and total > self.max_bytes:
                    raise self._too_large(total)
                with open(dest, "wb") as fh:
                    for block in response.iter_bytes(CHUNK):
                        if cancel is not None and cancel.is_set():
                            raise Cancelled()
                        written += len(block)
                        if written > self.max_bytes:
                            raise self._too_large(written)
                        fh.write(block)
                        now = time.monotonic()
                        if now - last >= PROGRESS_EVERY:
                            last = now
                            report(_progress(written, total, now - started))
                if total is not None and written < total:
                    raise ProviderError(
                        f"{label} cut the video off after {written:,} of {total:,} bytes.",
                        detail=f"veo download: short body {written}/{total}",
                        retryable=True,
                        provider=self.name,
                        kind="connection",
                    )
                report(_progress(written, total or written, time.monotonic() - started))
                return written, response.status_code
        except httpx.RequestError as exc:  # dropped mid-body, timeouts, refused
            raise ProviderError(
                f"{label} cut the video off after {written:,} bytes.",
                detail=self.client.scrub(f"veo download: {type(exc).__name__}: {exc}"),
                retryable=True,
                provider=self.name,
                kind="connection",
            ) from None

    def _too_large(self, size: int) -> ProviderError:
        return ProviderError(
            f"The generated video is larger than the limit of {self.max_bytes / 2**20:.0f} MB; it was not kept.",
            detail=f"veo download: {size} bytes > {self.max_bytes}",
            provider=self.name,
            kind="rejected",
        )

    def _check(self, path: Path, cancel: CancelToken | None) -> MediaInfo:
        """Probe the clip before anyone uses it: a video stream, a sane size and length."""
        try:
            info = probe(path, limits=Limits(), ffprobe=self.ffprobe, timeout=30, cancel=cancel)
        except MediaError as exc:
            raise ProviderError(
                f"{self.client.label} sent a file that is not a video we can use.",
                detail=f"veo clip probe: {exc.message} {exc.detail}",
                provider=self.name,
                kind="unreadable",
            ) from None
        if info.duration <= 0.2:
            raise ProviderError(
                f"{self.client.label} sent an empty video.",
                detail=f"veo clip: duration {info.duration}",
                provider=self.name,
                kind="unreadable",
            )
        return info

    def _record(self, started: float, status: int | None, retries: int, ok: bool, error: str) -> None:
        if self.client.on_call is None:
            return
        self.client.on_call(
            CallRecord(
                provider=self.name,
                operation="video.download",
                method="GET",
                path="(generated video)",  # the URI may carry a signature; it is not kept
                status=status,
                duration_ms=(time.monotonic() - started) * 1000,
                retries=retries,
                ok=ok,
                error=error,
            )
        )


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _progress(written: int, total: int | None, elapsed: float) -> DownloadProgress:
    speed = written / elapsed if elapsed > 0 else 0.0
    eta = (total - written) / speed if total and speed > 0 else None
    return DownloadProgress(bytes=written, total=total, speed=speed, eta=eta)


def _build(conf: Conf, calls: Calls) -> VeoGenerator:
    client = calls.client(
        SERVICE, base_url=conf["VEO_BASE_URL"], api_key=conf["GEMINI_API_KEY"], timeout=conf["PROVIDER_TIMEOUT"]
    )
    return VeoGenerator(
        client,
        model=conf["VEO_MODEL"],
        timeout=conf["VIDEO_GEN_TIMEOUT"],
        max_bytes=conf["VIDEO_GEN_MAX_BYTES"],
        ffprobe=conf["FFPROBE_BIN"],
    )


PROVIDER = ProviderSpec(
    name="veo",
    label="Google Veo (Gemini API)",
    settings={
        "VEO_BASE_URL": "https://generativelanguage.googleapis.com/v1beta",
        "GEMINI_API_KEY": "",
        "VEO_MODEL": "veo-3.0-generate-001",
        "VIDEO_GEN_TIMEOUT": 600.0,
        "VIDEO_GEN_MAX_BYTES": 300 * 2**20,
        "PROVIDER_TIMEOUT": 60.0,
        "FFPROBE_BIN": "ffprobe",
    },
    make=_build,
)
