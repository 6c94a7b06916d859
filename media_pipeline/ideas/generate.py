"""Ideas first, then every piece in parallel: the orchestration the job engine calls.

1. Ideas: from the cache, else one model call (plus at most one repair), else offline. `on_idea` is called
   for each as soon as the list is validated.
2. Pieces: one worker per idea on a ThreadPoolExecutor(max_workers=concurrency); `on_piece` is called as
   each finishes, ok or dropped with its reason.
Callbacks run on the calling thread, never on a worker, so they may use the caller's database connection.

Failure policy: a piece never fails the run. Invalid twice → dropped (result.partial). The provider failing
for one piece (ProviderError after its own retries) → that piece is made offline and says so. The provider
failing for the ideas → everything is made offline and `notes` says why. Only Cancelled stops the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from media_pipeline.errors import Cancelled, MediaError
from media_pipeline.transcript.types import Segment

from .llm import PROMPT_VERSION, IdeasUnavailable, llm_ideas_outcome, llm_piece
from .offline import OFFLINE_VERSION, offline_ideas, offline_piece
from .schema import Idea, validate_idea, validate_piece
from .styles import Style

if TYPE_CHECKING:
    from media_pipeline.llm.base import ChatModel
    from media_pipeline.process import CancelToken

log = logging.getLogger(__name__)

OFFLINE = "offline"
OFFLINE_MODEL = "extractive"
CANCEL_POLL = 0.1


class ResultCache(Protocol):
    """Same shape as media_pipeline.providers.cache.ResultCache (kept local so this package stands alone)."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...


@dataclass
class PieceResult:
    idea_index: int
    kind: str
    ok: bool
    piece: dict[str, Any] | None
    errors: list[str]  # validation errors (dropped), or why the piece was made offline (ok)
    attempts: int  # model calls spent on it: 0 from the cache or offline, 1, or 2 with a repair
    model: str
    seconds: float
    provider: str = ""
    cached: bool = False
    reason: str = ""  # one sentence for the user when the piece was dropped or made offline

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GenerationResult:
    ideas: list[Idea]
    pieces: list[PieceResult]  # one per idea, in idea order
    partial: bool  # some piece was dropped
    dropped: list[PieceResult]
    provider: str  # who made the ideas: "openai", "gemini" … or "offline"
    model: str
    notes: list[str] = field(default_factory=list)  # sentences for the user (fallbacks, fewer ideas)
    ideas_cached: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ideas": [i.as_dict() for i in self.ideas],
            "pieces": [p.as_dict() for p in self.pieces],
            "partial": self.partial,
            "dropped": [{"idea_index": p.idea_index, "kind": p.kind, "reason": p.reason} for p in self.dropped],
            "provider": self.provider,
            "model": self.model,
            "notes": list(self.notes),
            "ideas_cached": self.ideas_cached,
            "seconds": round(self.seconds, 3),
        }


# ---------------------------------------------------------------------------------------------------------
# Cache keys


def cache_key(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8")
        digest.update(f"{len(data)}:".encode())  # length-prefixed so ("ab", "c") ≠ ("a", "bc")
        digest.update(data)
    return digest.hexdigest()


def transcript_hash(segments: list[Segment]) -> str:
    rows = [[round(s.start, 3), round(s.end, 3), s.text] for s in segments]
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()


def _analyses_hash(analyses: list[dict[str, Any]] | None) -> str:
    if not analyses:
        return ""
    return hashlib.sha256(json.dumps(analyses, sort_keys=True, default=str).encode()).hexdigest()


def _who(model: ChatModel | None) -> tuple[str, str, str]:
    """(provider, model, version) for cache keys: the configured model, not the one that happened to answer."""
    if model is None:
        return OFFLINE, OFFLINE_MODEL, OFFLINE_VERSION
    return str(getattr(model, "provider", type(model).__name__)), str(getattr(model, "model", "")), PROMPT_VERSION


def ideas_key(
    *,
    thash: str,
    style: Style,
    model: ChatModel | None,
    count: int,
    duration: float,
    analyses: list[dict[str, Any]] | None,
    prefix: str = "",
) -> str:
    provider, name, version = _who(model)
    return prefix + cache_key(
        "ideas", version, thash, style.key(), provider, name, str(count), f"{duration:.3f}", _analyses_hash(analyses)
    )


def piece_key(
    *, thash: str, style: Style, model: ChatModel | None, idea: Idea, duration: float, prefix: str = ""
) -> str:
    provider, name, version = _who(model)
    idea_json = json.dumps(idea.as_dict(), sort_keys=True, ensure_ascii=False)
    return prefix + cache_key("piece", version, thash, style.key(), provider, name, idea_json, f"{duration:.3f}")


def _cache_get(cache: ResultCache | None, key: str) -> dict[str, Any] | None:
    if cache is None:
        return None
    try:
        raw = cache.get(key)
        value = json.loads(raw) if raw else None
    except Exception as exc:  # noqa: BLE001 - a cache is an optimisation; a broken one is a miss
        log.warning("ideas cache read failed: %s", exc)
        return None
    return value if isinstance(value, dict) else None


def _cache_set(cache: ResultCache | None, key: str, value: dict[str, Any]) -> None:
    if cache is None:
        return
    try:
        cache.set(key, json.dumps(value, ensure_ascii=False))
    except Exception as exc:  # noqa: BLE001
        log.warning("ideas cache write failed: %s", exc)


# ---------------------------------------------------------------------------------------------------------


def _check(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("Generation was cancelled.")


def _is_english(language: str) -> bool:
    return language.strip().lower().split("-")[0] in ("en", "english", "")


def generate_ideas_and_pieces(
    *,
    segments: list[Segment],
    style: Style,
    count: int,
    duration: float,
    analyses: list[dict[str, Any]] | None = None,
    model: ChatModel | None,
    concurrency: int = 5,
    cache: ResultCache | None = None,
    cache_prefix: str = "",
    force: bool = False,
    on_idea: Callable[[Idea], None] | None = None,
    on_piece: Callable[[PieceResult], None] | None = None,
    cancel: CancelToken | None = None,
) -> GenerationResult:
    """Ideas, then their pieces in parallel. `model=None` works offline. Raises only Cancelled.

    `force=True` skips cache reads (results are still written). Dropped pieces are not cached, so the next
    run tries them again.
    """
    started = time.monotonic()
    _check(cancel)
    thash = transcript_hash(segments)
    notes: list[str] = []
    key = ideas_key(
        thash=thash, style=style, model=model, count=count, duration=duration, analyses=analyses, prefix=cache_prefix
    )
    provider, model_name, _ = _who(model)
    ideas: list[Idea] | None = None
    ideas_cached = False
    piece_model = model  # None once the provider has failed us: the pieces are then made offline too

    if not force:
        ideas, cached_model = _cached_ideas(cache, key, duration=duration)
        if ideas is not None:
            ideas_cached = True
            model_name = cached_model or model_name
    if ideas is None and model is not None:
        try:
            outcome = llm_ideas_outcome(
                model, segments, style=style, count=count, duration=duration, analyses=analyses, cancel=cancel
            )
        except IdeasUnavailable as exc:
            log.warning("LLM ideas unusable, using offline ideas: %s", exc.detail)
            notes.append(
                "The language model did not return usable ideas, so these ideas were picked from the transcript "
                "without it; the pieces are still written by the model."
            )
        except MediaError as exc:
            log.warning("LLM ideas failed, working offline: %s (%s)", exc.message, exc.detail)
            notes.append(f"{exc.message} The ideas and pieces were made from the transcript without it.")
            piece_model = None
        else:
            ideas, model_name = outcome.ideas, outcome.model or model_name
            _cache_set(cache, key, {"ideas": [i.as_dict() for i in ideas], "model": model_name})
            if len(ideas) < count:
                notes.append(f"The language model suggested {len(ideas)} usable ideas instead of {count}.")
    if ideas is None:
        ideas = offline_ideas(segments, style=style, count=count, duration=duration, analyses=analyses)
        if model is None:
            _cache_set(cache, key, {"ideas": [i.as_dict() for i in ideas], "model": OFFLINE_MODEL})
        else:
            provider, model_name = OFFLINE, OFFLINE_MODEL
        if len(ideas) < count:
            notes.append(f"The video is short, so there are {len(ideas)} ideas instead of {count}.")
    if (model is None or piece_model is None) and not _is_english(style.language):
        notes.append(
            "Pieces made without the language model quote the transcript as spoken; "
            "their few fixed phrases (lead-ins, visual suggestions) are in English."
        )
    ideas = [replace(idea, index=n) for n, idea in enumerate(ideas)]
    for idea in ideas:
        if on_idea is not None:
            on_idea(idea)
    _check(cancel)

    def make(index: int, idea: Idea) -> PieceResult:
        return _piece(
            index,
            idea,
            segments=segments,
            style=style,
            duration=duration,
            model=piece_model,
            cache=cache,
            cache_prefix=cache_prefix,
            force=force,
            thash=thash,
            cancel=cancel,
        )

    results: dict[int, PieceResult] = {}

    def deliver(result: PieceResult) -> None:
        results[result.idea_index] = result
        if on_piece is not None:
            on_piece(result)

    if piece_model is None:
        # Offline pieces take milliseconds; threads would only add overhead.
        for index, idea in enumerate(ideas):
            _check(cancel)
            deliver(make(index, idea))
    elif ideas:
        _run_parallel(ideas, make, deliver, concurrency=concurrency, cancel=cancel)

    pieces = [results[i] for i in sorted(results)]
    dropped = [p for p in pieces if not p.ok]
    offline_pieces = [p for p in pieces if p.ok and p.provider == OFFLINE and piece_model is not None]
    if offline_pieces:
        notes.append(
            f"{len(offline_pieces)} of the pieces were made from the transcript without the language model, "
            "because it did not answer for them."
        )
    if dropped:
        notes.append(
            f"{len(dropped)} of {len(pieces)} pieces were dropped because the model's answer broke the rules twice."
        )
    return GenerationResult(
        ideas=list(ideas),
        pieces=pieces,
        partial=bool(dropped),
        dropped=dropped,
        provider=provider,
        model=model_name,
        notes=notes,
        ideas_cached=ideas_cached,
        seconds=time.monotonic() - started,
    )


def _cached_ideas(cache: ResultCache | None, key: str, *, duration: float) -> tuple[list[Idea] | None, str]:
    value = _cache_get(cache, key)
    if value is None or not isinstance(value.get("ideas"), list):
        return None, ""
    ideas: list[Idea] = []
    for raw in value["ideas"]:
        idea, _ = validate_idea(raw, duration=duration)
        if idea is None:
            return None, ""  # written by an older schema: a miss, not an error
        ideas.append(replace(idea, index=len(ideas)))
    return ideas, str(value.get("model") or "")


def _run_parallel(
    ideas: list[Idea],
    make: Callable[[int, Idea], PieceResult],
    deliver: Callable[[PieceResult], None],
    *,
    concurrency: int,
    cancel: CancelToken | None,
) -> None:
    executor = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(ideas))), thread_name_prefix="pieces")
    futures: dict[Future[PieceResult], int] = {executor.submit(make, i, idea): i for i, idea in enumerate(ideas)}
    try:
        pending = set(futures)
        while pending:
            # Short waits so a cancel is noticed even while every worker is inside a slow model call.
            done, pending = wait(pending, timeout=CANCEL_POLL, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: futures[f]):
                index = futures[future]
                try:
                    result = future.result()
                except Cancelled:
                    raise
                except Exception as exc:  # noqa: BLE001 - a bug in one piece must not sink the others
                    log.exception("piece %s failed", index)
                    idea = ideas[index]
                    result = PieceResult(
                        idea_index=index,
                        kind=idea.kind,
                        ok=False,
                        piece=None,
                        errors=[f"internal error: {type(exc).__name__}"],
                        attempts=0,
                        model="",
                        seconds=0.0,
                        reason=f"The {_label(idea.kind)} could not be made because of an internal error.",
                    )
                deliver(result)
            _check(cancel)
    finally:
        # On cancel (or a callback raising) queued pieces never start; running ones see the same cancel token.
        executor.shutdown(wait=False, cancel_futures=True)


def _label(kind: str) -> str:
    return {"image_carousel": "carousel"}.get(kind, kind)


def _piece(
    index: int,
    idea: Idea,
    *,
    segments: list[Segment],
    style: Style,
    duration: float,
    model: ChatModel | None,
    cache: ResultCache | None,
    cache_prefix: str,
    force: bool,
    thash: str,
    cancel: CancelToken | None,
) -> PieceResult:
    started = time.monotonic()
    _check(cancel)
    key = piece_key(thash=thash, style=style, model=model, idea=idea, duration=duration, prefix=cache_prefix)
    provider, model_name, _ = _who(model)

    def result(**kw: Any) -> PieceResult:
        base: dict[str, Any] = {
            "idea_index": index,
            "kind": idea.kind,
            "errors": [],
            "attempts": 0,
            "model": model_name,
            "provider": provider,
            "seconds": time.monotonic() - started,
        }
        base.update(kw)
        return PieceResult(**base)

    if not force:
        value = _cache_get(cache, key)
        if value is not None:
            piece, _ = validate_piece(idea.kind, value.get("piece"), idea=idea, duration=duration)
            if piece is not None:
                return result(ok=True, piece=piece, cached=True, model=str(value.get("model") or model_name))
    if model is None:
        piece = offline_piece(idea, segments, style=style, duration=duration)
        _cache_set(cache, key, {"piece": piece, "model": OFFLINE_MODEL})
        return result(ok=True, piece=piece)
    try:
        outcome = llm_piece(model, idea, segments, style=style, duration=duration, cancel=cancel)
    except MediaError as exc:
        # The provider failed after its own retries: the user still gets a piece, made offline, and is told.
        log.warning("piece %s: provider failed, made offline: %s (%s)", index, exc.message, exc.detail)
        piece = offline_piece(idea, segments, style=style, duration=duration)
        return result(
            ok=True,
            piece=piece,
            provider=OFFLINE,
            model=OFFLINE_MODEL,
            errors=[exc.message],
            reason=f"{exc.message} This {_label(idea.kind)} was made from the transcript without it.",
        )
    if outcome.piece is None and outcome.reads_badly:
        # Within the rules but badly written twice (a copied title, fragments, made-up steps): the user gets
        # the offline piece, which passes the same checks, and is told why.
        log.warning("piece %s reads badly after repair, made offline: %s", index, "; ".join(outcome.errors[:3]))
        piece = offline_piece(idea, segments, style=style, duration=duration)
        return result(
            ok=True,
            piece=piece,
            provider=OFFLINE,
            model=OFFLINE_MODEL,
            errors=outcome.errors,
            attempts=outcome.attempts,
            reason=(
                f"The model's {_label(idea.kind)} read badly twice ({'; '.join(outcome.errors[:2])}); "
                "this one was made from the transcript without it."
            ),
        )
    if outcome.piece is None:
        return result(
            ok=False,
            piece=None,
            errors=outcome.errors,
            attempts=outcome.attempts,
            model=outcome.model or model_name,
            reason=(
                f"The {_label(idea.kind)} was dropped: the model's answer broke the rules twice "
                f"({'; '.join(outcome.errors[:3])})."
            ),
        )
    _cache_set(cache, key, {"piece": outcome.piece, "model": outcome.model or model_name})
    return result(ok=True, piece=outcome.piece, attempts=outcome.attempts, model=outcome.model or model_name)


def regenerate_piece(
    *,
    idea: Idea,
    segments: list[Segment],
    style: Style,
    duration: float,
    model: ChatModel | None,
    cache: ResultCache | None = None,
    force: bool = True,
    cancel: CancelToken | None = None,
    idea_index: int = 0,
    cache_prefix: str = "",
) -> PieceResult:
    """The page's per-piece "regenerate": a fresh answer (cache read skipped by default), written to the cache
    so the next full run with the same inputs reuses it."""
    return _piece(
        idea_index,
        idea,
        segments=segments,
        style=style,
        duration=duration,
        model=model,
        cache=cache,
        cache_prefix=cache_prefix,
        force=force,
        thash=transcript_hash(segments),
        cancel=cancel,
    )
