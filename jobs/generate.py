"""The "make a video" task: script → scenes → speech per scene (in parallel) → timing from the audio → a title
card per scene → captions from word timings → scene clips, each announced as a chunk_ready the moment it and
every scene before it exist → the final MP4. The work itself is in media_pipeline/generate/.

A takeover after a dead worker reuses what the first attempt left: the script it wrote (in the task's
result), the speech WAVs and the scene clips (all written atomically), and does not announce a scene twice.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection

from media_pipeline.errors import MediaError
from media_pipeline.generate.clip import (
    LEAD,
    SceneClip,
    SceneTiming,
    plan_timing,
    render_card,
    render_scene_clip,
    write_thumbnail,
)
from media_pipeline.generate.recap import model_recap, write_recap
from media_pipeline.generate.request import GenerateRequest, batch_entry
from media_pipeline.generate.script import Scene, speech_span, split_scenes, word_timings
from media_pipeline.generate.writer import NO_MODEL, write_script
from media_pipeline.probe import clock
from media_pipeline.process import AnyOf, CancelToken, Signal
from media_pipeline.render.final import concat_segments
from media_pipeline.render.fonts import default_fonts
from media_pipeline.render.reel import Caption, captions_from_words
from media_pipeline.tts import speech_provider
from media_pipeline.tts.base import wav_duration
from media_pipeline.video_gen.base import GenerationProgress

from .layout import TaskFiles
from .models import ProcessingTask
from .pipeline import Outcome
from .providers import speech_engine, tts_slots, video_generator
from .reporter import emit, measured
from .run import JobRun, Progress, job_run, result_of

if TYPE_CHECKING:
    from .services import BatchSource

STAGES = [
    ("script", "Write the script", 4),
    ("speech", "Speak the scenes", 8),
    ("scenes", "Render the scenes", 80),
    ("finalize", "Join the final video", 8),
]
SCENE_SECONDS = 6.0  # speech per scene the script is grouped to
FIRST_SCENE_SECONDS = 3.0  # the first scene is short, so something plays soon after submit


def overall(stage: str, fraction: float) -> float:
    shares = {name: share for name, _, share in STAGES}
    starts = dict(zip(shares, accumulate(shares.values(), initial=0), strict=False))
    return round(starts[stage] + shares[stage] * max(0.0, min(1.0, fraction)), 2)


def _scenes(n: int) -> str:
    return f"{n} scene" if n == 1 else f"{n} scenes"


def run_generate(*, task: ProcessingTask, cancel: Signal) -> Outcome:
    with job_run(task, cancel) as job:
        request = GenerateRequest.from_params(task.params)
        title, script = _script(job, request)
        job.check()
        return _make_video(job, request, title=title, script=script)


def _result(task: ProcessingTask) -> dict:
    return dict(ProcessingTask.objects.values_list("result", flat=True).get(pk=task.pk) or {})


def _save_result(task: ProcessingTask, **values: object) -> None:
    result = _result(task)
    result.update(values)
    ProcessingTask.objects.filter(pk=task.pk).update(result=result)


def _script(job: JobRun, request: GenerateRequest) -> tuple[str, str]:
    """The script to narrate, and the video's title: the user's, one an earlier attempt wrote, or the model's."""
    task = job.task
    stored = _result(task)
    if stored.get("script"):
        return stored.get("title") or request.display_title(), stored["script"]
    if request.script:
        title, script = request.display_title(), request.script
    elif request.prompt:
        emit(task.pk, "stage", stage="script", progress=overall("script", 0), message="Writing the script")
        model = job.providers.chat
        if model is None:
            raise MediaError(NO_MODEL, detail="LLM_PROVIDER=offline")
        engine = job.providers.speech
        with measured(task.pk, "generate.script", provider=model.provider, model=model.model):
            written_title, script = write_script(
                model,
                request.prompt,
                seconds=request.length,
                words_per_second=engine.words_per_second(_voice(request)),
                cancel=job.token,
            )
        title = request.title or written_title or request.display_title()
    else:
        emit(task.pk, "stage", stage="script", progress=overall("script", 0), message="Writing the recap")
        of = _recap_source(task.owner_id, request.from_task)
        engine = job.providers.speech
        chunks = of.chunks()
        with measured(task.pk, "generate.recap", of=str(of.pk)) as extra:
            recap = write_recap(
                of.transcript(),
                of.analyses(),
                title=of.title,
                seconds=request.length,
                words_per_second=engine.words_per_second(_voice(request)),
                duration=max((c["end"] for c in chunks), default=None),
            )
            extra.update(moments=len(recap.moments), words=len(recap.script.split()))
        model = job.providers.chat
        if model is not None:  # the model narrates the same moments; its recap is checked, else offline
            try:
                with measured(task.pk, "generate.recap.model", provider=model.provider, model=model.model):
                    recap = model_recap(
                        model,
                        recap,
                        title=of.title,
                        seconds=request.length,
                        words_per_second=engine.words_per_second(_voice(request)),
                        cancel=job.token,
                    )
            except MediaError as exc:
                emit(task.pk, "stage", stage="script", message=exc.message, data={"recap_note": exc.detail})
        title, script = request.title or recap.title, recap.script
        source = _recap_video(of)
        _save_result(
            task,
            recap_of=str(of.pk),
            recap_source=str(source) if source else "",
            recap_source_seconds=max((c["end"] for c in chunks), default=None),
            **recap.as_result(),
        )
    _save_result(task, script=script, title=title, source=request.source)
    ProcessingTask.objects.filter(pk=task.pk).update(title=title[:255])
    emit(
        task.pk,
        "stage",
        stage="script",
        progress=overall("script", 1),
        message=f"Script ready: {len(script.split())} words",
        data={"script": script, "title": title},
    )
    return title, script


NO_RECAP_TASK = "There is no task of yours with that id to recap."


def _recap_source(owner_id: Any, task_id: str) -> ProcessingTask:
    """The owner's task a recap is made of; MediaError with a sentence when it cannot be."""
    try:
        of = ProcessingTask.objects.get(pk=uuid.UUID(str(task_id)), owner_id=owner_id)
    except (ValueError, ProcessingTask.DoesNotExist):
        raise MediaError(NO_RECAP_TASK, detail=f"from_task={task_id}") from None
    if of.kind != ProcessingTask.Kind.CHUNKS:
        raise MediaError("A recap is made of a video's task, not of a made video.", detail=f"kind={of.kind}")
    if not of.transcript_pieces():
        raise MediaError(
            "That task has no transcript, so there is nothing to recap (turn on subtitles or transcription "
            "and run it again).",
            detail=f"from_task={task_id}",
        )
    return of


def _recap_video(of: ProcessingTask) -> Path | None:
    """The recapped task's source when it is still there and has a picture to cut from (else title cards)."""
    src = of.source_file() if of.source_path else None
    if src is None or not src.is_file():
        return None
    from media_pipeline.probe import probe

    from .limits import limits_from_settings

    try:
        info = probe(src, limits=limits_from_settings(), ffprobe=settings.FFPROBE_BIN)
    except MediaError:
        return None
    return src if info.video_codec else None


def _voice(request: GenerateRequest) -> str:
    if request.voice:
        return request.voice
    voices = speech_provider(settings.TTS_PROVIDER).voices(settings)
    return voices[0][0] if voices else ""


def _split(script: str, words_per_second: float) -> list[Scene]:
    """Scenes of about SCENE_SECONDS; the first sentence stands alone when it is short, so it renders first."""
    scenes = split_scenes(script, words_per_second=words_per_second, scene_seconds=SCENE_SECONDS)
    first = split_scenes(scenes[0].text, words_per_second=words_per_second, scene_seconds=FIRST_SCENE_SECONDS)
    if len(first) > 1:
        rest = [first[0].text, " ".join(s.text for s in first[1:]), *(s.text for s in scenes[1:])]
        scenes = [Scene(index=i, text=text) for i, text in enumerate(rest)]
    return scenes


def _make_video(job: JobRun, request: GenerateRequest, *, title: str, script: str) -> Outcome:
    task, files = job.task, job.task.files
    engine = job.providers.speech
    voice = _voice(request)
    scenes = _split(script, engine.words_per_second(voice))
    if not scenes:
        raise MediaError("The script has no sentences to speak.", detail=f"script={script[:200]!r}")
    fonts = default_fonts()
    emit(
        task.pk,
        "stage",
        stage="speech",
        progress=overall("speech", 0),
        message=f"Speaking {_scenes(len(scenes))}",
        data={"chunks": len(scenes), "scenes": [s.text for s in scenes]},
    )
    # The playlist's target duration must not change while it grows: a scene holds at most two scenes' worth
    # of words (script.split_scenes), so this bounds every scene's length.
    _save_result(task, scenes=len(scenes), aspect=request.aspect, target_duration=math.ceil(3 * SCENE_SECONDS) + 2)
    cards_dir = files.path("cards")
    slots = tts_slots()
    token = job.token

    def speak(scene: Scene) -> float:
        out = files.speech(scene.index)
        try:
            if out.exists():
                return wav_duration(out)  # an earlier attempt spoke it
            with slots.hold(token), measured(task.pk, "generate.speech", index=scene.index) as extra:
                speech = engine.synthesize(scene.text, voice=voice, out=out, cancel=token)
                extra.update(provider=speech.provider, seconds=round(speech.duration, 3))
            return speech.duration
        finally:
            connection.close()

    def draw_card(scene: Scene) -> Path:
        try:
            card = render_card(
                scene.headline(),
                index=scene.index,
                total=len(scenes),
                title=title,
                aspect=request.aspect,
                out_dir=cards_dir,
                fonts=fonts,
            )
            write_thumbnail(card, files.thumb(scene.index))
            return card
        finally:
            connection.close()

    def render(
        scene: Scene,
        timing: SceneTiming,
        captions: list[Caption],
        generated: Future[Path | None] | None,
        cut: tuple[Path, float] | None,
    ) -> SceneClip:
        out = files.chunk(scene.index)
        try:
            background = result_of(generated, render_token) if generated is not None else None
            background_start = None
            if cut is not None:
                background, background_start = cut
            card = result_of(first_card, render_token) if scene.index == 0 else draw_card(scene)
            if out.exists():  # an earlier attempt rendered it
                return SceneClip(scene.index, out, timing.start, timing.duration, 0.0, out.stat().st_size)
            with measured(task.pk, "generate.scene", index=scene.index) as extra:
                clip = render_scene_clip(
                    card=card,
                    speech=files.speech(scene.index),
                    timing=timing,
                    captions=captions,
                    aspect=request.aspect,
                    out=out,
                    fonts=fonts,
                    ffmpeg_bin=settings.FFMPEG_BIN,
                    cancel=render_token,
                    background=background,
                    background_start=background_start,
                )
                extra.update(media_seconds=clip.duration, ffmpeg_seconds=round(clip.seconds, 3), bytes=clip.size)
            return clip
        finally:
            connection.close()

    moments = RecapCuts.of(_result(task), scenes) if request.source == "recap" else None
    if request.source == "recap" and moments is None:
        emit(
            task.pk,
            "stage",
            stage="speech",
            message="The recapped video's source is gone or has no picture: title cards instead",
        )
    cut_from: dict[int, float] = moments.scene_starts if moments is not None else {}
    stop = Signal()  # the first failure stops the other renders
    render_token = AnyOf(token, stop)
    job.progress = Progress(total=len(scenes), position=lambda f: overall("scenes", f))
    announced = task.chunk_indexes()
    clips: list[SceneClip] = []
    captions: list[list[Caption]] = []  # per scene, in clip seconds
    with (
        ThreadPoolExecutor(max_workers=settings.TTS_CONCURRENCY, thread_name_prefix="speak") as speakers,
        ThreadPoolExecutor(max_workers=settings.CHUNK_CONCURRENCY, thread_name_prefix="scene") as renderers,
        ThreadPoolExecutor(max_workers=settings.VIDEO_GEN_CONCURRENCY, thread_name_prefix="visual") as generators,
    ):
        # The first scene goes alone: its speech and its card side by side, then its clip, and only then the
        # other scenes' speech and cards, so nothing competes with it for the CPU and it plays soonest. With
        # generated visuals the others start once it is spoken (its clip waits on the service, not the CPU).
        spoken = [speakers.submit(speak, scenes[0])]
        first_card = renderers.submit(draw_card, scenes[0])
        backgrounds = (
            _start_generations(job, request, scenes, title=title, pool=generators, cancel=render_token)
            if request.visuals == "generated"
            else {}
        )
        rendering: list[Future[SceneClip]] = []
        try:
            durations: list[float] = []
            for scene in scenes:
                durations.append(result_of(spoken[scene.index], token))
                timing = plan_timing(durations)[-1]
                if scene.index == 0:
                    emit(
                        task.pk, "stage", stage="scenes", progress=overall("scenes", 0), message="Rendering the scenes"
                    )
                captions.append(_captions(scene, timing, files.speech(scene.index)) if request.captions else [])
                cut = moments.cut(scene, timing.duration) if moments is not None else None
                rendering.append(
                    renderers.submit(render, scene, timing, captions[-1], backgrounds.get(scene.index), cut)
                )
                rendering[-1].add_done_callback(_stop_on_failure(stop))
                if scene.index == 0 and not backgrounds:
                    result_of(rendering[0], token)
                _announce_done(job, scenes, rendering, clips, captions, announced, cut_from)
                if scene.index == 0:
                    spoken.extend(speakers.submit(speak, s) for s in scenes[1:])
            while len(clips) < len(scenes):
                result_of(rendering[len(clips)], token)
                _announce_done(job, scenes, rendering, clips, captions, announced, cut_from)
        finally:
            if len(clips) < len(scenes):
                stop.set()  # a failure or a cancel: the renders still running stop too
            for waiting in spoken:
                waiting.cancel()
            for queued in rendering:
                queued.cancel()
    job.check()
    return _finalize(job, request, clips, title=title, scenes=scenes)


class RecapCuts:
    """Where each scene of a recap cuts its picture from: the moment its first word narrates, from that
    moment's start on (two scenes over one moment show consecutive footage)."""

    def __init__(
        self,
        source: Path,
        spans: dict[int, tuple[float, float]],
        moment_of_word: list[int],
        scenes: list[Scene],
        *,
        seconds: float | None,
    ):
        self.source = source
        self.spans = spans
        self.seconds = seconds  # of the source, when known
        self.used: dict[int, float] = {}
        self.scene_starts: dict[int, float] = {}  # scene index → the second of the source it shows from
        self.first_word: dict[int, int] = {}
        at = 0
        for scene in scenes:
            self.first_word[scene.index] = at
            at += len(scene.words)
        self.moment_of_word = moment_of_word

    @classmethod
    def of(cls, result: dict, scenes: list[Scene]) -> RecapCuts | None:
        source = Path(result.get("recap_source") or "")
        if not result.get("recap_source") or not source.is_file():
            return None  # the source video is gone: title cards
        spans = {int(m["index"]): (float(m["start"]), float(m["end"])) for m in result.get("moments", [])}
        words = [int(p["moment"]) for p in result.get("parts", []) for _ in str(p["text"]).split()]
        seconds = result.get("recap_source_seconds")
        if not words or not spans:
            return None
        return cls(source, spans, words, scenes, seconds=float(seconds) if seconds else None)

    def cut(self, scene: Scene, seconds: float) -> tuple[Path, float] | None:
        """The second of the source scene `scene` (lasting `seconds`) shows from: on from where the scene
        before it over the same moment ended, back at the moment's start once past its end, and never so
        late that the source ends first."""
        word = self.first_word.get(scene.index, 0)
        moment = self.moment_of_word[min(word, len(self.moment_of_word) - 1)]
        if moment not in self.spans:
            return None
        first, last = self.spans[moment]
        used = self.used.get(moment, 0.0)
        if used and first + used + seconds > max(last, first + seconds):
            used = 0.0
        start = first + used
        if self.seconds is not None:
            start = max(0.0, min(start, self.seconds - seconds))
        self.used[moment] = used + seconds
        self.scene_starts[scene.index] = round(start, 3)
        return self.source, round(start, 3)


def _start_generations(
    job: JobRun,
    request: GenerateRequest,
    scenes: list[Scene],
    *,
    title: str,
    pool: ThreadPoolExecutor,
    cancel: CancelToken,
) -> dict[int, Future[Path | None]]:
    """One generated clip per scene, VIDEO_GEN_CONCURRENCY at a time across all workers, started beside the
    speech. A scene whose generation fails keeps its title card and says why (the video is still made)."""
    task, files = job.task, job.task.files
    generator = video_generator(task.pk)
    aspect = "9:16" if request.aspect == "9:16" else "16:9"

    def generate(scene: Scene) -> Path | None:
        out = files.path(f"generated/{scene.index:05d}.mp4")
        try:
            if out.exists():
                return out  # an earlier attempt fetched it (written atomically, probed before the rename)
            with measured(task.pk, "generate.visual", index=scene.index) as extra:
                clip = generator.generate(
                    f"{title}. {scene.text}" if title else scene.text,
                    out=out,
                    aspect=aspect,
                    seconds=8,
                    negative_prompt="text, captions, watermark",
                    on_progress=_visual_progress(task.pk, scene.index),
                    cancel=cancel,
                )
                extra.update(bytes=clip.size, seconds=round(clip.seconds, 3), operation=clip.operation)
            emit(
                task.pk,
                "progress",
                stage="scenes",
                message=f"Visual for scene {scene.index + 1} generated ({clip.size / 2**20:.1f} MB)",
                data={"index": scene.index, "bytes": clip.size},
            )
            return out
        except MediaError as exc:
            emit(
                task.pk,
                "stage",
                stage="scenes",
                message=f"Scene {scene.index + 1} keeps its title card: {exc.message}",
                data={"index": scene.index, "visual_error": exc.message},
            )
            return None
        finally:
            connection.close()

    return {scene.index: pool.submit(generate, scene) for scene in scenes}


VISUAL_EVERY = 1.0  # seconds between two progress events of one scene's generation


def _visual_progress(task_id: Any, index: int) -> Callable[[GenerationProgress], None]:
    """A scene's generation as `progress` events (its state, polls, and the download's bytes, speed and
    ETA), at most one every VISUAL_EVERY seconds but always its first and its download's last: what
    `manage.py generate` draws its bars from."""
    last_at, last_stage = -VISUAL_EVERY, ""

    def report(p: GenerationProgress) -> None:
        nonlocal last_at, last_stage
        now = time.monotonic()
        finished = p.download is not None and p.download.total is not None and p.download.bytes >= p.download.total
        if p.stage == last_stage and now - last_at < VISUAL_EVERY and not finished:
            return
        last_at, last_stage = now, p.stage
        data: dict[str, Any] = {"index": index, "visual": p.stage, "elapsed": round(p.elapsed, 1), "polls": p.polls}
        if p.download is not None:
            d = p.download
            data.update(
                bytes=d.bytes, total=d.total, speed=round(d.speed), eta=None if d.eta is None else round(d.eta, 1)
            )
        try:
            emit(task_id, "progress", stage="scenes", message=f"Visual for scene {index + 1}: {p.stage}", data=data)
        finally:
            connection.close()

    return report


def _stop_on_failure(stop: Signal) -> Callable[[Future], None]:
    def check(future: Future) -> None:
        if not future.cancelled() and future.exception() is not None:
            stop.set()  # a later scene failing stops the others now, not when the loop reaches it

    return check


def _captions(scene: Scene, timing: SceneTiming, speech: Path) -> list[Caption]:
    """Captions in clip seconds: the scene's words spread over where the voice is in its WAV, shifted by LEAD."""
    first, last = speech_span(speech)
    words = word_timings(scene.text, start=LEAD + first, end=LEAD + last)
    return captions_from_words(words, start=0.0, end=timing.duration)


def _announce_done(
    job: JobRun,
    scenes: list[Scene],
    rendering: list[Future[SceneClip]],
    clips: list[SceneClip],
    captions: list[list[Caption]],
    announced: set[int],
    cut_from: dict[int, float],
) -> None:
    """Announce, in order, every rendered scene whose predecessors are announced (the playlist only grows)."""
    task = job.task
    assert job.progress is not None
    while len(clips) < len(rendering) and rendering[len(clips)].done():
        clip = rendering[len(clips)].result()
        clips.append(clip)
        if clip.index in announced:
            continue
        scene = scenes[clip.index]
        with job.progress.unit() as (position, eta):
            emit(
                task.pk,
                "chunk_ready",
                stage="scenes",
                progress=position,
                eta_seconds=eta,
                message=f"Scene {clip.index + 1} of {len(scenes)} ready",
                data={
                    "index": clip.index,
                    "start": round(clip.start, 3),
                    "end": round(clip.start + clip.duration, 3),
                    "duration": round(clip.duration, 3),
                    "url": task.media_url(TaskFiles.chunk_name(clip.index)),
                    "thumbnail": task.media_url(TaskFiles.thumb_name(clip.index)),
                    "text": scene.text,
                    # What is burned in, in the video's seconds (the page and the tests read them).
                    "captions": [
                        [round(clip.start + c.start, 3), round(clip.start + c.end, 3), c.text]
                        for c in captions[clip.index]
                    ],
                    "count": len(scenes),
                    **({"source_start": cut_from[clip.index]} if clip.index in cut_from else {}),
                    "has_commentary": False,
                    "copied": False,
                },
            )


def _finalize(
    job: JobRun, request: GenerateRequest, clips: list[SceneClip], *, title: str, scenes: list[Scene]
) -> Outcome:
    task = job.task
    emit(task.pk, "stage", stage="finalize", progress=overall("finalize", 0), message="Joining the final video")
    with measured(task.pk, "finalize", chunks=len(clips)):
        concat_segments(
            [c.path for c in clips], out=task.files.final, ffmpeg_bin=settings.FFMPEG_BIN, cancel=job.cancel
        )
    duration = round(sum(c.duration for c in clips), 3)
    result = _result(task)
    result.update({"final": TaskFiles.FINAL, "chunks": len(clips), "duration": duration, "title": title})
    return Outcome(
        result=result,
        message=f"Done: {_scenes(len(clips))}, {clock(duration)} long; the final video is ready.",
        data={"final_url": task.media_url(TaskFiles.FINAL), "chunks": len(clips), "duration": duration},
    )


def warm() -> None:
    """What a worker's first "make a video" job would otherwise pay for before its first scene: this module's
    imports (Pillow, the carousel renderer), the fonts read, one card drawn and one word spoken (the speech
    engine's program and voice data read from disk). Run in a new worker (jobs.apps); failures only log."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="generate-warm-") as tmp:
        work = Path(tmp)
        render_card("Ready", index=0, total=1, title="Ready", aspect="9:16", out_dir=work, fonts=default_fonts())
        if settings.TTS_PROVIDER == "espeak":  # local and free; a paid voice is not called to warm up
            speech_engine(None).synthesize("Ready.", voice=_voice(GenerateRequest()), out=work / "ready.wav")


def request_errors(owner: object, request: GenerateRequest) -> dict[str, list[str]]:
    """What the server's configuration says against a well-formed request, as sentences per field: a prompt
    needs a language model, a voice must be one the speech provider has, a recap needs a task of the owner's."""
    errors: dict[str, list[str]] = {}
    if request.prompt and settings.LLM_PROVIDER == "offline":
        errors["prompt"] = [NO_MODEL]
    voices = [value for value, _ in speech_provider(settings.TTS_PROVIDER).voices(settings)]
    if request.voice and voices and request.voice not in voices:
        errors["voice"] = [f"The voice “{request.voice}” is not available; choose one of {', '.join(voices)}."]
    if request.visuals == "generated" and settings.VIDEO_PROVIDER == "off":
        errors["visuals"] = [
            "Generated visuals need a video-generation service, and none is configured on this server "
            "(VIDEO_PROVIDER is off). Choose title cards instead."
        ]
    if request.from_task:
        try:
            _recap_source(getattr(owner, "pk", None), request.from_task)
        except MediaError as exc:
            errors["from_task"] = [exc.message]
    return errors


def batch_source(owner: Any, item: object, shared: dict[str, Any]) -> BatchSource:
    """One entry of a batch of made videos, checked as a single request would be."""
    from .services import BatchSource

    label, made, why = batch_entry(item, shared)
    if made is not None:
        refused = request_errors(owner, made)
        why = " ".join(m for ms in refused.values() for m in ms)
    if why or made is None:
        return BatchSource(source=label, error=why or "This entry could not be read.")
    return BatchSource(source=label, generate=made)
