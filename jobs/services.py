"""Writes that touch tasks: submit, cancel, reprocess. Keyword-only, each one transaction."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone
from django_q.tasks import async_task

from media_pipeline.errors import DiskFull, is_disk_full
from media_pipeline.files import content_digest, file_content_digest, hash_blocks
from media_pipeline.generate.request import GenerateRequest
from ops import disk
from ops.disk import DiskLow

from . import quotas, reporter, webhooks
from .layout import TaskFiles
from .models import Batch, BatchItem, Idea, ProcessingTask
from .options import JobOptions

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.core.files.uploadedfile import UploadedFile

# Extensions we keep on stored sources (the name itself is always ours). Anything else is stored as .bin;
# ffprobe decides what the file really is.
KNOWN_EXTENSIONS = {
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".flv",
    ".ts",
    ".mpg",
    ".mpeg",
    ".ogv",
    ".wmv",
    ".mxf",
    ".3gp",
}


def safe_extension(filename: str) -> str:
    ext = Path(filename or "").suffix.lower()
    return ext if ext in KNOWN_EXTENSIONS else ".bin"


def display_title(filename: str) -> str:
    """The user's file name, for display only: no folders, no control characters, not too long."""
    name = os.path.basename((filename or "").replace("\\", "/"))
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:200] or "Untitled video"


def enqueue(task: ProcessingTask) -> None:
    """Tell the workers there is a task to run. With the ORM broker this is a row in the same database,
    written in the caller's transaction: the task and its queue entry appear together or not at all.
    The entry is a wake-up, not an assignment: the worker that takes it runs the next task of the fair
    queue, which may be another user's (see engine.run_next)."""
    enqueue_wakeup(hint=str(task.pk))


def enqueue_wakeup(*, hint: str = "") -> None:
    """One queue entry that wakes one idle worker. Its result is not saved: most find their work already
    taken by a worker that finished a task and went on to the next."""
    name = f"task-{hint}" if hint else "wake-up"
    async_task("jobs.tasks.run_task", hint, task_name=name, group="jobs", save=False)


def _new_upload_task(
    *, owner: User, filename: str, size: int, params: dict[str, Any], status: str, subtitles: UploadedFile | None = None
) -> ProcessingTask:
    task_id = uuid.uuid4()
    if subtitles is not None:
        # Kept beside the source; the transcript stage prefers it to anything else.
        ext = ".vtt" if Path(subtitles.name or "").suffix.lower() == ".vtt" else ".srt"
        target = TaskFiles(task_id).sidecar_target(ext)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as fh:
            for block in subtitles.chunks():
                fh.write(block)
    return ProcessingTask.objects.create(
        id=task_id,
        owner=owner,
        kind=ProcessingTask.Kind.CHUNKS,
        source=ProcessingTask.Source.UPLOAD,
        status=status,
        title=display_title(filename),
        source_path=str(TaskFiles(task_id).relative_root / TaskFiles.source_name(safe_extension(filename))),
        source_size=size,
        params=params,
    )


@transaction.atomic
def submit_upload(
    *,
    owner: User,
    uploaded_path: Path,
    filename: str,
    size: int,
    params: dict[str, Any],
    subtitles: UploadedFile | None = None,
    webhook_url: str = "",
) -> ProcessingTask:
    """Create a task for a file that is already on disk (a classic form upload, streamed there by the
    upload handler). Raises quotas.LimitReached past the owner's limits (nothing is created)."""
    try:
        disk.refuse_if_low()
    except DiskLow:
        os.unlink(uploaded_path)  # refused: keep nothing of it
        raise
    content_key = file_content_digest(uploaded_path)
    if not JobOptions.from_params(params).force:
        earlier = ProcessingTask.objects.same_work(owner=owner, content_key=content_key, params=params)
        if earlier is not None:
            os.unlink(uploaded_path)
            return earlier
    quotas.lock_owner(owner)
    quotas.check_queue(owner)
    task = _new_upload_task(
        owner=owner,
        filename=filename,
        size=size,
        params=params,
        status=ProcessingTask.Status.QUEUED,
        subtitles=subtitles,
    )
    ProcessingTask.objects.filter(pk=task.pk).update(content_key=content_key, webhook_url=webhook_url)
    task.source_file().parent.mkdir(parents=True, exist_ok=True)
    # Same filesystem (FILE_UPLOAD_TEMP_DIR is under MEDIA_ROOT), so this is a rename, not a copy.
    shutil.move(str(uploaded_path), task.source_file())
    reporter.emit(task.pk, "stage", stage="queued", progress=0, message="Queued; waiting for a worker")
    enqueue(task)
    return task


@transaction.atomic
def submit_youtube(*, owner: User, params: dict[str, Any], webhook_url: str = "") -> tuple[ProcessingTask, bool]:
    """A task for a YouTube video (params carry its id); the worker fetches captions and, if asked, the video.
    Returns (task, reused): the same video with the same options, submitted before and not failed, is
    offered instead unless the options say force."""
    disk.refuse_if_low()
    options = JobOptions.from_params(params)
    content_key = f"youtube:{options.video_id}"
    if not options.force:
        earlier = ProcessingTask.objects.same_work(owner=owner, content_key=content_key, params=params)
        if earlier is not None:
            return earlier, True
    quotas.lock_owner(owner)
    quotas.check_queue(owner)
    task = ProcessingTask.objects.create(
        owner=owner,
        kind=ProcessingTask.Kind.CHUNKS,
        source=ProcessingTask.Source.YOUTUBE,
        title=f"YouTube video {options.video_id}",
        params=params,
        content_key=content_key,
        webhook_url=webhook_url,
    )
    reporter.emit(task.pk, "stage", stage="queued", progress=0, message="Queued; waiting for a worker")
    enqueue(task)
    return task, False


class UploadConflict(Exception):
    """A part does not continue the file where it stands; `offset` is where the next part must start."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message


def start_upload(
    *,
    owner: User,
    filename: str,
    size: int,
    params: dict[str, Any],
    subtitles: UploadedFile | None = None,
    webhook_url: str = "",
) -> ProcessingTask:
    """Open a part-by-part upload: a task in status `uploading` that is queued when its last byte lands.

    Browsers send big files this way (raw bodies of a few MB each): the web server then never holds more
    than one part in memory, and a dropped connection resumes where it stopped instead of starting over.
    Raises quotas.LimitReached past the owner's limits on unfinished uploads and waiting work, and DiskLow while
    the disk is short (the parts of an upload already open still come in).
    """
    disk.refuse_if_low()
    with transaction.atomic():
        quotas.lock_owner(owner)
        quotas.check_upload(owner, size=size)
        task = _start_upload(owner=owner, filename=filename, size=size, params=params, subtitles=subtitles)
        if webhook_url:
            ProcessingTask.objects.filter(pk=task.pk).update(webhook_url=webhook_url)
            task.webhook_url = webhook_url
        return task


def _start_upload(
    *, owner: User, filename: str, size: int, params: dict[str, Any], subtitles: UploadedFile | None
) -> ProcessingTask:
    task = _new_upload_task(
        owner=owner,
        filename=filename,
        size=size,
        params=params,
        status=ProcessingTask.Status.UPLOADING,
        subtitles=subtitles,
    )
    task.upload_part_file().parent.mkdir(parents=True, exist_ok=True)
    task.upload_part_file().touch()
    return task


def upload_offset(task: ProcessingTask) -> int:
    """How many bytes of an upload have arrived (the whole file once it is complete)."""
    if task.status != ProcessingTask.Status.UPLOADING:
        return task.source_size
    part = task.upload_part_file()
    return part.stat().st_size if part.exists() else 0


def _append_part(part: Path, offset: int, total: int, chunks: Iterable[bytes]) -> int:
    """Append the part's bytes and hash the blocks they complete; returns the new end of the file.

    The content key grows with the parts, so the last one only hashes its own bytes (a 1 GB upload's last
    part used to hash the whole file while the client waited)."""
    with open(part, "ab") as fh:
        for block in chunks:
            if fh.tell() + len(block) > total:
                fh.truncate(offset)
                raise UploadConflict(offset, "The part runs past the end of the file.")
            fh.write(block)
        end = fh.tell()
    hash_blocks(part, part.with_name(part.name + ".blocks"), upto=end, final=end >= total)
    return end


def receive_upload_part(
    *, task: ProcessingTask, start: int, total: int, chunks: Iterable[bytes]
) -> tuple[int, ProcessingTask | None]:
    """Append one part that begins at byte `start`; queue the task when the file is complete.

    The task row is locked while the part is written, so two copies of the same part (a client retrying
    after a lost answer) cannot both be appended. Returns the new offset and, when the completed file
    was processed before with the same options (and "force" is off), that earlier task to show instead.
    Raises DiskFull when the disk fills up during the part, after cutting the file back to where the part
    began: nothing half-written stays, and the client may send the part again later.
    """
    with transaction.atomic():
        locked = ProcessingTask.objects.select_for_update().get(pk=task.pk)
        if locked.status != ProcessingTask.Status.UPLOADING:
            raise UploadConflict(upload_offset(locked), "This upload is already complete or was cancelled.")
        if total != locked.source_size:
            raise UploadConflict(upload_offset(locked), f"The upload was started for {locked.source_size} bytes.")
        part = locked.upload_part_file()
        offset = part.stat().st_size
        if start != offset:
            raise UploadConflict(offset, f"The next part must start at byte {offset}.")
        try:
            offset = _append_part(part, offset, total, chunks)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            os.truncate(part, offset)
            raise DiskFull(detail=f"upload {locked.pk}: part at byte {offset} of {total}: {exc}") from exc
        digests = part.with_name(part.name + ".blocks")
        if offset < total:
            return offset, None
        os.replace(part, locked.source_file())
        content_key = content_digest(digests)
        digests.unlink(missing_ok=True)
        earlier = None
        if not locked.options.force:
            earlier = ProcessingTask.objects.same_work(
                owner=locked.owner, content_key=content_key, params=locked.params
            )
        if earlier is not None:
            # The same file with the same options was done before: offer that result, keep nothing twice.
            ProcessingTask.objects.filter(pk=locked.pk).update(
                status=ProcessingTask.Status.CANCELLED,
                content_key=content_key,
                finished_at=timezone.now(),
                result={"same_as": str(earlier.pk)},
            )
            reporter.emit(
                locked.pk,
                "cancelled",
                message="This file was processed before; showing that result.",
                data={"same_as": str(earlier.pk)},
            )
            locked.source_file().unlink(missing_ok=True)
            return offset, earlier
        ProcessingTask.objects.filter(pk=locked.pk).update(status=ProcessingTask.Status.QUEUED, content_key=content_key)
        reporter.emit(locked.pk, "stage", stage="queued", progress=0, message="Uploaded; waiting for a worker")
        enqueue(locked)
    return offset, None


def expire_stale_uploads() -> int:
    """Uploads that received nothing for UPLOAD_EXPIRE_HOURS are cancelled and their parts deleted."""
    cutoff = timezone.now() - timedelta(hours=settings.UPLOAD_EXPIRE_HOURS)
    expired = 0
    for task in ProcessingTask.objects.filter(status=ProcessingTask.Status.UPLOADING, created_at__lt=cutoff):
        part = task.upload_part_file()
        if part.exists() and part.stat().st_mtime > cutoff.timestamp():
            continue  # still arriving, slowly
        message = "The upload did not finish; please upload the file again."
        with transaction.atomic():
            changed = ProcessingTask.objects.filter(pk=task.pk, status=ProcessingTask.Status.UPLOADING).update(
                status=ProcessingTask.Status.CANCELLED, finished_at=timezone.now(), error=message
            )
            if changed:
                reporter.emit(task.pk, "cancelled", message=message)
        if changed:
            part.unlink(missing_ok=True)
            expired += 1
    return expired


def request_cancel(*, task: ProcessingTask) -> bool:
    """Ask a task to stop. A queued task stops at once; a running one within a cancel-poll interval.
    Returns False when the task had already finished."""
    with transaction.atomic():
        not_started = (ProcessingTask.Status.QUEUED, ProcessingTask.Status.UPLOADING)
        stopped_queued = ProcessingTask.objects.filter(pk=task.pk, status__in=not_started).update(
            status=ProcessingTask.Status.CANCELLED, cancel_requested=True, finished_at=timezone.now()
        )
        if stopped_queued:
            reporter.emit(task.pk, "cancelled", message="Cancelled before it started.")
    if stopped_queued:
        task.upload_part_file().unlink(missing_ok=True)  # the bytes of an unfinished upload
        return True
    return bool(
        ProcessingTask.objects.filter(pk=task.pk, status=ProcessingTask.Status.RUNNING).update(cancel_requested=True)
    )


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@transaction.atomic
def reprocess(*, task: ProcessingTask, params: dict[str, Any] | None = None) -> ProcessingTask:
    """Run a task again from its stored source, as a new task (the old one and its events stay as they were)."""
    disk.refuse_if_low()
    if task.kind == ProcessingTask.Kind.GENERATE:
        return _regenerate(task=task, params=params)
    src = task.source_file()
    if not src.is_file():
        raise FileNotFoundError(f"the source of task {task.pk} is gone ({task.source_path})")
    new_id = uuid.uuid4()
    files = TaskFiles(new_id)
    relative = files.relative_root / src.name
    _link_or_copy(src, files.path(src.name))
    new = ProcessingTask.objects.create(
        id=new_id,
        owner=task.owner,
        kind=task.kind,
        source=task.source,
        title=task.title,
        source_path=str(relative),
        source_size=task.source_size,
        params={**task.params, **(params or {})},
        parent=task,
    )
    reporter.emit(new.pk, "stage", stage="queued", progress=0, message=f"Queued again (re-run of {task.pk})")
    enqueue(new)
    return new


def _regenerate(*, task: ProcessingTask, params: dict[str, Any] | None) -> ProcessingTask:
    """A made video has no source file: its request is the source, and the new task writes its script anew."""
    new = ProcessingTask.objects.create(
        owner=task.owner,
        kind=task.kind,
        source=task.source,
        title=task.title,
        params={**task.params, **(params or {})},
        parent=task,
    )
    reporter.emit(new.pk, "stage", stage="queued", progress=0, message=f"Queued again (re-run of {task.pk})")
    enqueue(new)
    return new


def requeue_stale() -> dict[str, int]:
    """Recover from dead workers. A running task whose heartbeat stopped is, by one conditional UPDATE each:
    cancelled if the user asked for that meanwhile; failed once out of attempts; otherwise put back to
    `queued` and enqueued, to resume in the next free worker. Harmless to run twice (or on two machines):
    only the run whose UPDATE changed the row emits and enqueues."""
    counts = {"requeued": 0, "failed": 0, "cancelled": 0, "resent": 0}
    for task in ProcessingTask.objects.stale():
        same = ProcessingTask.objects.filter(
            pk=task.pk, status=ProcessingTask.Status.RUNNING, heartbeat_at=task.heartbeat_at
        )
        with transaction.atomic():
            if task.cancel_requested:
                if same.update(status=ProcessingTask.Status.CANCELLED, finished_at=timezone.now()):
                    reporter.emit(task.pk, "cancelled", message="Cancelled.")
                    counts["cancelled"] += 1
            elif task.attempts >= settings.JOB_MAX_ATTEMPTS:
                message = (
                    f"The worker processing this video stopped unexpectedly {task.attempts} times, so we gave up. "
                    "Operators can see the details in the admin; you can try again."
                )
                if same.update(
                    status=ProcessingTask.Status.FAILED,
                    finished_at=timezone.now(),
                    error=message,
                    error_detail=f"heartbeat lost after attempt {task.attempts} on {task.worker}",
                ):
                    reporter.emit(task.pk, "error", message=message)
                    counts["failed"] += 1
            elif same.update(status=ProcessingTask.Status.QUEUED):
                reporter.emit(task.pk, "stage", message="The worker stopped unexpectedly; starting again.")
                enqueue(task)
                counts["requeued"] += 1
    counts["resent"] = wake_workers()
    return counts


# At most this many wake-ups are written per minute; more would only be taken and find nothing.
MAX_WAKEUPS = 200


def wake_workers() -> int:
    """Write queue entries until every task that could start now has one a free worker can take.

    A task waits without an entry when its entry was taken while its owner was at USER_MAX_RUNNING, failed
    before the engine ran (a database error), or is held by a cluster that died or is busy (the ORM broker
    locks a fetched entry until Q_RETRY). Entries no cluster holds (`lock` in the past) are counted
    against the tasks that could start: owners under the limit, as many as their free slots. Runs every
    minute (requeue_stale), so no task waits more than a minute for an idle worker anywhere."""
    from django_q.models import OrmQ

    startable = 0
    running = dict(
        ProcessingTask.objects.live_running()
        .order_by()
        .values("owner_id")
        .annotate(n=Count("pk"))
        .values_list("owner_id", "n")
    )
    waiting = ProcessingTask.objects.claimable().order_by().values("owner_id").annotate(n=Count("pk"))
    for row in waiting.values_list("owner_id", "n"):
        owner_id, n = row
        startable += max(0, min(n, settings.USER_MAX_RUNNING - running.get(owner_id, 0)))
    free_entries = OrmQ.objects.filter(lock__lte=timezone.now()).count()
    missing = min(max(0, startable - free_entries), MAX_WAKEUPS)
    for _ in range(missing):
        enqueue_wakeup()
    return missing


def request_regenerate(*, idea: Idea) -> bool:
    """Write this idea's piece again (a queued job). False when its task is still running (the piece is
    still being made) or a regeneration is already under way: one claim, one conditional UPDATE."""
    finished = ProcessingTask.FINISHED
    # A regeneration whose job was lost (a worker died) leaves the row pending; after a while it may be retried.
    lost = timezone.now() - timedelta(seconds=settings.REGENERATE_STALE_AFTER)
    with transaction.atomic():
        claimed = (
            Idea.objects.filter(pk=idea.pk, task__status__in=finished)
            .exclude(status=Idea.Status.PENDING, updated_at__gt=lost)
            .update(status=Idea.Status.PENDING, errors=[], version=F("version") + 1, updated_at=timezone.now())
        )
        if claimed != 1:
            return False
        reporter.emit(
            idea.task_id,
            "piece_ready",
            message=f"Piece {idea.index + 1} is being written again",
            data={**Idea.objects.get(pk=idea.pk).as_dict(), "urls": {}},
        )
        transaction.on_commit(lambda: async_task("jobs.tasks.regenerate_piece", idea.pk, task_name=f"piece-{idea.pk}"))
    return True


KIT_IMAGE_CHANGES = ("frame", "title")


def request_kit_image(*, task: ProcessingTask, kind: str, slot: int, change: str) -> str | None:
    """Queue one kit image again with another frame or title; None when accepted, else a sentence saying why
    not. The work is a queued job (jobs.kit.regenerate_image): image work never runs in a web request."""
    if change not in KIT_IMAGE_CHANGES:
        return "Say what to change: `frame` or `title`."
    if not task.is_finished:
        return "The publishing kit is still being made; try again when the task has finished."
    if not any(d.get("kind") == kind and d.get("slot") == slot for d in task.kit().get("thumbnails", [])):
        return "This task has no such image to make again."
    async_task(
        "jobs.tasks.regenerate_kit_image", str(task.pk), kind, slot, change, task_name=f"kit-{task.pk}-{kind}-{slot}"
    )
    return None


@transaction.atomic
def submit_generate(
    *, owner: User, request: GenerateRequest, limited: bool = True, webhook_url: str = ""
) -> ProcessingTask:
    """A "make a video" task for a checked request; the worker writes (or takes) the script and renders it.
    Raises quotas.LimitReached past the owner's limits, unless an operator's command asks (`limited=False`)."""
    source = {
        "script": ProcessingTask.Source.SCRIPT,
        "prompt": ProcessingTask.Source.PROMPT,
        "recap": ProcessingTask.Source.RECAP,
    }[request.source]
    if limited:  # a made video waits in the same fair queue, under the same limits
        quotas.lock_owner(owner)
        quotas.check_queue(owner)
    task = ProcessingTask.objects.create(
        owner=owner,
        kind=ProcessingTask.Kind.GENERATE,
        source=source,
        title=request.display_title()[:255],
        params=request.as_params(),
        webhook_url=webhook_url,
    )
    reporter.emit(task.pk, "stage", stage="queued", progress=0, message="Queued; waiting for a worker")
    enqueue(task)
    return task


class SourceRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class BatchSource:
    """One source of a batch, as the caller checked it: a YouTube video's job params, an upload of the
    owner's (made with the part protocol) to run with `params`, a video to make (`generate`), or the
    sentence saying why it cannot run."""

    source: str
    params: dict[str, Any] = field(default_factory=dict)
    upload: ProcessingTask | None = None
    error: str = ""
    generate: GenerateRequest | None = None  # a video to make from a script, a prompt or a recap


@transaction.atomic
def submit_batch(
    *, owner: User, sources: list[BatchSource], params: dict[str, Any], title: str = "", webhook_url: str = ""
) -> Batch:
    """A batch and one task per good source, in one transaction. Each source fails alone: a bad link or a
    limit reached part-way (quotas.LimitReached) becomes that item's sentence, the others are queued.
    A batch whose every task had already ended (all re-used) sends its webhook at once.

    The owner's row is locked first, as a worker's claim does (ProcessingTask.claim: the owner, then the
    task). Otherwise, on PostgreSQL, this transaction holds an upload's row (its params updated below) and
    wants the owner's row at COMMIT (Django's foreign keys are checked then), while a worker claiming that
    upload holds the owner's row and waits for the upload's: a deadlock, which the page showed as a 500."""
    quotas.lock_owner(owner)
    batch = Batch.objects.create(owner=owner, title=title[:255], params=params, webhook_url=webhook_url)
    for position, src in enumerate(sources):
        task, reused, error = None, False, src.error
        if not error:
            try:
                with transaction.atomic():  # a savepoint: a refused source leaves nothing behind
                    task, reused = _batch_task(owner=owner, src=src)
            except (quotas.LimitReached, SourceRefused) as exc:
                error = exc.message
        BatchItem.objects.create(
            batch=batch, position=position, source=src.source[:2000], task=task, reused=reused, error=error
        )
    if webhook_url:
        transaction.on_commit(lambda: webhooks.batch_ended(batch), robust=True)
    return batch


def _batch_task(*, owner: User, src: BatchSource) -> tuple[ProcessingTask, bool]:
    if src.generate is not None:
        return submit_generate(owner=owner, request=src.generate), False
    upload = src.upload
    if upload is None:
        return submit_youtube(owner=owner, params=src.params)
    same_as = upload.result.get("same_as") if upload.status == ProcessingTask.Status.CANCELLED else None
    earlier = ProcessingTask.objects.filter(owner=owner, pk=same_as).first() if same_as else None
    if earlier is not None:  # the file had been processed before: its upload was dropped for that task
        upload = earlier
    if upload.status == ProcessingTask.Status.UPLOADING:
        raise SourceRefused("This upload has not finished; send its last part, then add it to a batch.")
    if not upload.batch_items.exists():
        if upload.status == ProcessingTask.Status.QUEUED:
            # Not started and in no batch yet: it runs once, with the batch's options.
            ProcessingTask.objects.filter(pk=upload.pk).update(params={**upload.params, **src.params})
            upload.refresh_from_db()
            return upload, False
        doing = (ProcessingTask.Status.RUNNING, ProcessingTask.Status.SUCCEEDED)
        same = upload.options.work_key() == JobOptions.from_params(src.params).work_key()
        if upload.status in doing and same and not upload.result.get("media_deleted"):
            # Started (a worker took it the moment its last part landed, as the upload page's files are) with
            # the batch's options: it is the batch's as it is, not run twice (its file need not be kept).
            return upload, False
    if upload.kind == ProcessingTask.Kind.CHUNKS and not upload.source_file().is_file():
        raise SourceRefused("The file of this upload is no longer kept; upload it again.")
    quotas.lock_owner(owner)
    quotas.check_queue(owner)
    return reprocess(task=upload, params=src.params), False


# --- what the owner does from "My videos": cancel, run again, delete ---------------------------------------


class ActionRefused(Exception):
    """The owner asked for something this task cannot do now; `message` says why, as a sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _owned(owner: User, task_id: Any) -> ProcessingTask:
    """The owner's task; ProcessingTask.DoesNotExist for anyone else's (the views answer 404, as for none)."""
    return ProcessingTask.objects.for_user(owner).get(pk=task_id)


def cancel_for_owner(*, owner: User, task_id: Any) -> bool:
    """Stop one of the owner's tasks (see request_cancel); False when it had already ended."""
    return request_cancel(task=_owned(owner, task_id))


def reprocess_for_owner(*, owner: User, task_id: Any) -> ProcessingTask:
    """Run one of the owner's ended tasks again as a new task, under the owner's limits. A YouTube video whose
    file was never downloaded (captions only) is fetched again; ActionRefused when nothing is left to run."""
    task = _owned(owner, task_id)
    if not task.is_finished:
        raise ActionRefused("This video is still being processed; it can be run again once it has ended.")
    with transaction.atomic():
        quotas.lock_owner(owner)
        quotas.check_queue(owner)
        if task.kind == ProcessingTask.Kind.CHUNKS and not task.source_file().is_file():
            if task.source != ProcessingTask.Source.YOUTUBE or not task.options.video_id:
                raise ActionRefused("The file of this video is no longer kept; upload it again to process it.")
            new, _ = submit_youtube(owner=owner, params={**task.params, "force": True})
            ProcessingTask.objects.filter(pk=new.pk).update(parent=task)
            return new
        return reprocess(task=task)


def _regenerating(task: ProcessingTask) -> bool:
    """A piece of this ended task is being written or rendered again (its Regenerate claim, not yet lost)."""
    lost = timezone.now() - timedelta(seconds=settings.REGENERATE_STALE_AFTER)
    return Idea.objects.filter(task=task, status=Idea.Status.PENDING, updated_at__gt=lost).exists()


def delete_task(*, owner: User, task_id: Any) -> None:
    """Delete one of the owner's tasks with its events and every file in its folder. A task that has not
    started is cancelled first; a running one is refused (cancel it, then delete it), and so is one with a
    piece being made again. A batch that held it
    keeps the item, saying the video was deleted. The folder goes once the rows are gone (after commit)."""
    task = _owned(owner, task_id)
    if task.status in (ProcessingTask.Status.QUEUED, ProcessingTask.Status.UPLOADING):
        request_cancel(task=task)
    with transaction.atomic():
        locked = ProcessingTask.objects.select_for_update().filter(pk=task.pk).first()
        if locked is None:
            return  # deleted meanwhile (another tab)
        if not locked.is_finished:
            raise ActionRefused("This video is being processed; cancel it first, then delete it.")
        if _regenerating(locked):  # its job writes into the folder: the delete waits for it
            raise ActionRefused("A piece of this video is being made again; delete it once that has finished.")
        BatchItem.objects.filter(task=locked).update(error="This video was deleted.")
        folder = locked.workdir()
        locked.delete()
        transaction.on_commit(lambda: shutil.rmtree(folder, ignore_errors=True))
