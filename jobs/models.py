"""The record of every job: tasks, the events a user sees, and measured operations."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models import Case, Count, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from media_pipeline.transcript.types import Segment, Word

from .layout import TaskFiles
from .options import JobOptions

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User


class TaskQuerySet(models.QuerySet["ProcessingTask"]):
    def for_user(self, user: User | AbstractBaseUser | AnonymousUser) -> TaskQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(owner_id=user.pk)

    def claimable(self) -> TaskQuerySet:
        """Queued tasks, and running ones whose worker stopped beating (it died): those may be taken over."""
        stale = timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER)
        return self.filter(
            Q(status=ProcessingTask.Status.QUEUED) | Q(status=ProcessingTask.Status.RUNNING, heartbeat_at__lt=stale)
        ).filter(attempts__lt=settings.JOB_MAX_ATTEMPTS, cancel_requested=False)

    def same_work(self, *, owner: User, content_key: str, params: dict[str, Any]) -> ProcessingTask | None:
        """The owner's newest task that did (or is doing) exactly this work — same content, same options —
        to offer instead of doing it again; not one whose media retention deleted (nothing is left to show).
        `force` is not an option of the work."""
        if not content_key:
            return None
        key = JobOptions.from_params(params).work_key()
        candidates = self.filter(
            owner=owner,
            content_key=content_key,
            status__in=(ProcessingTask.Status.QUEUED, ProcessingTask.Status.RUNNING, ProcessingTask.Status.SUCCEEDED),
        ).order_by("-created_at")
        return next((t for t in candidates if not t.result.get("media_deleted") and t.options.work_key() == key), None)

    def live_running(self) -> TaskQuerySet:
        """Running tasks whose worker is still beating."""
        fresh = timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER)
        return self.filter(status=ProcessingTask.Status.RUNNING, heartbeat_at__gte=fresh)

    def fair_queue(self) -> TaskQuerySet:
        """Claimable tasks in the order workers should take them: the owner with the fewest tasks running
        first (so a user's first job does not wait behind another's fifty), then the owner who started one
        least recently (round robin), the oldest first among equals;
        owners already at USER_MAX_RUNNING are left out. Computed when a worker is free, so it holds
        across any number of qcluster machines.

        The owners' standing is worked out once per owner, not once per waiting task: as correlated
        subqueries beside each of 900 queued tasks it made every claim read ~35,000 rows on PostgreSQL
        (1.2 million index scans in a 1,000-job run). Here it is three small queries over the owners that
        have work waiting, and the tasks are then ordered by each owner's rank (owners that tie share one,
        so their tasks interleave oldest first, as before)."""
        claimable = self.claimable()
        owners = set(claimable.order_by().values_list("owner_id", flat=True).distinct())
        if not owners:
            return claimable.none()
        running = dict(
            ProcessingTask.objects.live_running()
            .filter(owner_id__in=owners)
            .order_by()
            .values("owner_id")
            .annotate(n=Count("pk"))
            .values_list("owner_id", "n")
        )
        eligible = [owner for owner in owners if running.get(owner, 0) < settings.USER_MAX_RUNNING]
        if not eligible:
            return claimable.none()
        # Each owner's latest start: one probe of the (owner, started_at) index per owner.
        latest = (
            ProcessingTask.objects.filter(owner_id=OuterRef("pk"), started_at__isnull=False)
            .order_by("-started_at")
            .values("started_at")[:1]
        )
        last_start = dict(
            get_user_model().objects.filter(pk__in=eligible).annotate(last=Subquery(latest)).values_list("pk", "last")
        )

        def standing(owner: int) -> tuple[int, bool, datetime | None]:
            last = last_start.get(owner)
            # Never started sorts first among equals (False < True; two such owners tie).
            return (running.get(owner, 0), last is not None, last)

        ranks = {key: rank for rank, key in enumerate(sorted({standing(owner) for owner in eligible}))}
        owner_rank = Case(
            *(When(owner_id=owner, then=Value(ranks[standing(owner)])) for owner in eligible),
            output_field=models.IntegerField(),
        )
        return (
            claimable.filter(owner_id__in=eligible).annotate(owner_rank=owner_rank).order_by("owner_rank", "created_at")
        )

    def stale(self) -> TaskQuerySet:
        stale = timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER)
        return self.filter(status=ProcessingTask.Status.RUNNING, heartbeat_at__lt=stale)


class BatchQuerySet(models.QuerySet["Batch"]):
    def for_user(self, user: User | AbstractBaseUser | AnonymousUser) -> BatchQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(owner_id=user.pk)


class Batch(models.Model):
    """Many sources submitted at once with one set of options. It holds tasks of any kind (its items), so
    every kind of job can be batched; each item is one source and the task made for it, or why none was."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batches")
    title = models.CharField(max_length=255, blank=True)
    params = models.JSONField(default=dict, blank=True)  # the shared options, as submitted
    webhook_url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = BatchQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return self.title or f"Batch {self.id}"

    def summary(self) -> dict[str, Any]:
        """Counts by state, success rate (succeeded ÷ ended, refused sources included), and total time: from
        the batch's creation to its last task's end (or to now while work remains)."""
        counts = {"total": 0, "done": 0, "failed": 0, "cancelled": 0, "running": 0, "queued": 0, "refused": 0}
        last_end = None
        unfinished = False
        for item in self.items.select_related("task").only("error", "task__status", "task__finished_at"):
            counts["total"] += 1
            task = item.task
            if task is None:
                counts["refused" if item.error else "failed"] += 1
                continue
            state = {
                ProcessingTask.Status.SUCCEEDED: "done",
                ProcessingTask.Status.FAILED: "failed",
                ProcessingTask.Status.CANCELLED: "cancelled",
                ProcessingTask.Status.RUNNING: "running",
            }.get(ProcessingTask.Status(task.status), "queued")
            counts[state] += 1
            if task.is_finished:
                if task.finished_at and (last_end is None or task.finished_at > last_end):
                    last_end = task.finished_at
            else:
                unfinished = True
        ended = counts["done"] + counts["failed"] + counts["cancelled"] + counts["refused"]
        end = timezone.now() if unfinished or last_end is None else last_end
        return {
            **counts,
            "finished": not unfinished,
            "success_rate": round(counts["done"] / ended, 3) if ended else None,
            "total_seconds": round(max(0.0, (end - self.created_at).total_seconds()), 1),
        }


class BatchItem(models.Model):
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    source = models.CharField(max_length=2000)  # what the user gave: a link, or an upload's id
    task = models.ForeignKey(
        "ProcessingTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="batch_items"
    )
    reused = models.BooleanField(default=False)  # the same work done before: that task is shown
    error = models.TextField(blank=True, help_text="Why no task was made for this source (shown to the user).")

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["batch", "position"], name="jobs_batchitem_position")]


class ProcessingTask(models.Model):
    class Status(models.TextChoices):
        UPLOADING = "uploading"  # the browser is still sending the file, part by part
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Kind(models.TextChoices):
        CHUNKS = "chunks", "Watchable chunks"
        GENERATE = "generate", "Video made from a script"

    class Source(models.TextChoices):
        UPLOAD = "upload"
        YOUTUBE = "youtube"
        SCRIPT = "script"  # "make a video": a pasted script
        PROMPT = "prompt"  # … a script the LLM writes from a prompt
        RECAP = "recap"  # … a recap of another task

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CHUNKS)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.UPLOAD)
    # What the user gave us: the original file name (display only; the stored name is always ours).
    title = models.CharField(max_length=255, blank=True)
    source_path = models.CharField(max_length=500, blank=True, help_text="Relative to MEDIA_ROOT.")
    source_size = models.BigIntegerField(default=0)
    params = models.JSONField(default=dict, blank=True)  # JobOptions.as_params(); read it as `options`
    # What the work is the same for: sha256 of an uploaded file, or "youtube:<id>"; with the options that
    # change the result it lets a second submission re-use the first one's result.
    content_key = models.CharField(max_length=100, blank=True, db_index=True)
    # Set when this task re-runs another one (reprocess).
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns")

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    stage = models.CharField(max_length=40, blank=True)
    progress = models.FloatField(default=0)
    eta_seconds = models.FloatField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=100, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    last_seq = models.PositiveIntegerField(default=0)
    # Where a signed summary is POSTed when the task ends (jobs/webhooks.py); checked when submitted.
    webhook_url = models.URLField(max_length=2000, blank=True)

    error = models.TextField(blank=True, help_text="Shown to the user.")
    error_detail = models.TextField(blank=True, help_text="For operators only.")
    result = models.JSONField(default=dict, blank=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            # The fair queue counts each owner's running tasks, and finds each owner's latest start.
            models.Index(fields=["owner", "status"], name="jobs_task_owner_status"),
            models.Index(fields=["owner", "-started_at"], name="jobs_task_owner_started"),
        ]

    def __str__(self) -> str:
        return f"{self.title or self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def media_deleted_at(self) -> datetime | None:
        """When retention deleted this task's media folder (ops.retention), or None while they are kept."""
        if not self.result.get("media_deleted"):
            return None
        when = self.result.get("media_deleted_at")
        return datetime.fromisoformat(when) if when else self.finished_at

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def files(self) -> TaskFiles:
        """The names and paths of this task's files (see jobs/layout.py)."""
        return TaskFiles(self.id)

    @property
    def options(self) -> JobOptions:
        """The task's options, with the defaults of jobs/options.py for any a stored row does not have."""
        return JobOptions.from_params(self.params)

    def workdir(self) -> Path:
        """Where this task's outputs live: MEDIA_ROOT/tasks/<uuid>/."""
        return self.files.root

    def media_url(self, name: str) -> str:
        """The owner-only URL of one of this task's files (`name` relative to its folder)."""
        return reverse("task-media", args=[self.pk, name])

    def source_file(self) -> Path:
        return Path(settings.MEDIA_ROOT) / self.source_path

    def upload_part_file(self) -> Path:
        """Where the parts of an upload in progress are appended; renamed to the source when complete."""
        return self.files.upload_part

    # --- what the events announced (the event log is the record; these are its only readers) -----------
    # A re-delivered job may announce the same piece of work twice; the first announcement is the one a
    # page already showed, so every reader keeps the first (see EventQuerySet.first_per).

    def chunks(self) -> list[dict]:
        """The chunk_ready data, one per chunk index, in index order."""
        return self.events.of(ProgressUpdate.Type.CHUNK_READY).first_per(lambda d: d["index"])

    def chunk_indexes(self) -> set[int]:
        """Indexes of the chunks announced so far."""
        return self.events.of(ProgressUpdate.Type.CHUNK_READY).indexes()

    def analyses(self) -> list[dict]:
        """The analysis_ready data (an interval's events and score), one per interval, in index order."""
        return self.events.of(ProgressUpdate.Type.ANALYSIS_READY).first_per(lambda d: d.get("index", 0))

    def analysed_indexes(self) -> set[int]:
        """Indexes of the intervals whose analysis was announced so far."""
        return self.events.of(ProgressUpdate.Type.ANALYSIS_READY).indexes()

    def transcript_pieces(self) -> list[dict]:
        """The transcript_ready data, one per piece, in time order. A piece is keyed by its start, not its
        index: the first interval may be transcribed in two pieces that share its index. The first words
        come from a first pass (tiny.en, or a quick pass of the main model) and are announced again
        `refined`: the first refined announcement replaces them (otherwise the first one is kept, as
        everywhere)."""
        kept: dict[float, dict] = {}
        for row in self.events.of(ProgressUpdate.Type.TRANSCRIPT_READY).order_by("seq").only("data"):
            key, old = round(row.data.get("start", -1), 3), kept.get(round(row.data.get("start", -1), 3))
            if old is None or (row.data.get("refined") and not old.get("refined")):
                kept[key] = row.data
        return [kept[k] for k in sorted(kept)]

    def transcribed_starts(self) -> set[float]:
        """Starts (rounded to the millisecond) of the transcript pieces announced so far."""
        return {round(d.get("start", -1), 3) for d in self.transcript_pieces()}

    def transcript(self) -> list[Segment]:
        """The transcript so far, with its words, in time order."""
        segments = [_segment(s) for piece in self.transcript_pieces() for s in piece.get("segments", [])]
        return sorted(segments, key=lambda s: s.start)

    def commentary(self) -> list[dict]:
        """What was said over each chunk that has commentary ({index, text, start, end, voice, …}), in order."""
        return [{"index": c["index"], **c["commentary"]} for c in self.chunks() if c.get("commentary")]

    def commentary_cues(self) -> list[Segment]:
        """The spoken commentary as cues, in time order."""
        cues = [Segment(start=c["start"], end=c["end"], text=c["text"]) for c in self.commentary()]
        return sorted(cues, key=lambda c: c.start)

    def announced_ideas(self) -> list[dict]:
        """Every idea_ready data, in the order written (a regeneration announces an idea again)."""
        return [row.data for row in self.events.of(ProgressUpdate.Type.IDEA_READY).only("data")]

    def announced_pieces(self) -> list[dict]:
        """Every piece_ready data, in the order written (a piece is announced at each change of its state)."""
        return [row.data for row in self.events.of(ProgressUpdate.Type.PIECE_READY).only("data")]

    def kit(self) -> dict:
        """The publishing kit as it stands: {"chapters": chapters_ready data, "titles": titles_ready data,
        "thumbnails": [thumbnail_ready data, one per slot]}; each part is absent until announced.

        Unlike the other readers these keep the *last* announcement: the kit's parts are re-announced when
        they change (the chaptered MP4 once the final video exists, a thumbnail regenerated)."""
        out: dict = {}
        for type, part in (
            (ProgressUpdate.Type.CHAPTERS_READY, "chapters"),
            (ProgressUpdate.Type.TITLES_READY, "titles"),
        ):
            row = self.events.of(type).only("data").last()
            if row is not None:
                out[part] = row.data
        thumbs: dict = {}
        for row in self.events.of(ProgressUpdate.Type.THUMBNAIL_READY).only("data"):
            thumbs[(row.data.get("kind", ""), row.data.get("slot", 0))] = row.data
        if thumbs:
            out["thumbnails"] = [thumbs[k] for k in sorted(thumbs)]
        return out

    def claim(self, *, worker: str, within_user_limit: bool = False) -> bool:
        """Take this task for one run. False when another worker has it or it is finished (a re-delivery),
        or, with `within_user_limit`, when its owner already has USER_MAX_RUNNING tasks running.

        The limit is counted and the claim made in one transaction that holds the owner's row (PostgreSQL:
        SELECT … FOR NO KEY UPDATE; SQLite: IMMEDIATE transactions hold the write lock from BEGIN), so two
        machines claiming for the same owner at once cannot both pass the count."""
        now = timezone.now()
        with transaction.atomic():
            if within_user_limit:
                # FOR NO KEY UPDATE: see quotas.lock_owner (FOR UPDATE deadlocked with foreign-key checks).
                owners = get_user_model().objects.select_for_update(no_key=True).filter(pk=self.owner_id)
                list(owners.values_list("pk", flat=True))
                others = ProcessingTask.objects.live_running().filter(owner_id=self.owner_id).exclude(pk=self.pk)
                if others.count() >= settings.USER_MAX_RUNNING:
                    return False
            claimed = (
                ProcessingTask.objects.claimable()
                .filter(pk=self.pk)
                .update(
                    status=self.Status.RUNNING,
                    attempts=F("attempts") + 1,
                    worker=worker,
                    heartbeat_at=now,
                    started_at=now,
                    finished_at=None,
                    error="",
                    error_detail="",
                )
            )
        if claimed != 1:
            return False  # another process got there first, or there is nothing to do
        self.refresh_from_db()
        return True


def _segment(s: dict) -> Segment:
    """A transcript segment from its event form (Segment.as_dict)."""
    words = tuple(Word(float(w[0]), float(w[1]), str(w[2])) for w in s.get("words", []))
    return Segment(float(s["start"]), float(s["end"]), s["text"], words)


class EventQuerySet(models.QuerySet["ProgressUpdate"]):
    def of(self, type: str) -> EventQuerySet:
        """The events of one type, in the order they were written."""
        return self.filter(type=type).order_by("seq")

    def after(self, seq: int) -> EventQuerySet:
        """The events after `seq`, in order: what a reconnecting client has not seen."""
        return self.filter(seq__gt=seq).order_by("seq")

    def newer(self, *, after_id: int, since: datetime) -> EventQuerySet:
        """The events with an id above `after_id`, and those with a lower id written since `since`, in id order:
        what a reader that follows ids (one socket for many tasks) may not have seen.

        An id is handed out when a row is inserted, not when its transaction commits: on PostgreSQL a row can
        become visible after one with a higher id was read. Within a task this cannot happen (`emit` holds the
        task row until commit, so seq order is commit order), across tasks it can. So a reader re-reads the
        rows written since `since` (a grace of a few seconds) and drops those it sent, by (task, seq). The
        re-read starts at the newest row older than `since`, found by walking the primary key back from
        `after_id`: a few seconds of rows, whatever the size of the table."""
        floor = ProgressUpdate.objects.filter(id__lte=after_id, created_at__lt=since).order_by("-id").values("id")[:1]
        return (
            self.filter(id__gt=Coalesce(Subquery(floor), 0))
            .filter(Q(id__gt=after_id) | Q(created_at__gte=since))
            .order_by("id")
        )

    def counts(self) -> dict[str, int]:
        """How many events of each type."""
        return dict(self.order_by().values_list("type").annotate(n=models.Count("id")).values_list("type", "n"))

    def indexes(self) -> set[int]:
        """The `index`es these events announced; a piece of work announced twice counts once."""
        return set(self.values_list("data__index", flat=True))

    def first_per(self, key: Callable[[dict], Hashable]) -> list[dict]:
        """The data of the first event (lowest seq) for each `key(data)`, sorted by that key.

        A re-delivered job may announce the same piece of work again; the first announcement is the one
        the page already showed, so later ones are dropped."""
        first: dict = {}
        for row in self.order_by("seq").only("data"):
            first.setdefault(key(row.data), row.data)
        return [first[k] for k in sorted(first)]


class ProgressUpdate(models.Model):
    """One event a user can see. The WebSocket only ever sends what is a row here first."""

    class Type(models.TextChoices):
        STAGE = "stage"
        PROGRESS = "progress"
        CHUNK_READY = "chunk_ready"
        TRANSCRIPT_READY = "transcript_ready"
        ANALYSIS_READY = "analysis_ready"
        IDEA_READY = "idea_ready"
        PIECE_READY = "piece_ready"
        CHAPTERS_READY = "chapters_ready"  # the publishing kit (jobs/kit.py)
        TITLES_READY = "titles_ready"
        THUMBNAIL_READY = "thumbnail_ready"
        COMPLETE = "complete"
        ERROR = "error"
        CANCELLED = "cancelled"

    task = models.ForeignKey(ProcessingTask, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=20, choices=Type.choices)
    stage = models.CharField(max_length=40, blank=True)
    progress = models.FloatField(default=0)
    eta_seconds = models.FloatField(null=True, blank=True)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["task", "seq"]
        constraints = [models.UniqueConstraint(fields=["task", "seq"], name="progressupdate_task_seq_unique")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type} {self.stage}"

    def as_event(self) -> dict:
        """The JSON the WebSocket and the event log speak (see DESIGN.md, Events)."""
        return {
            "seq": self.seq,
            "task": str(self.task_id),
            "type": self.type,
            "stage": self.stage,
            "progress": round(self.progress, 2),
            "eta_s": None if self.eta_seconds is None else round(self.eta_seconds),
            "message": self.message,
            "data": self.data,
            "ts": self.created_at.isoformat(),
        }


class IdeaQuerySet(models.QuerySet["Idea"]):
    def for_user(self, user: AbstractBaseUser | AnonymousUser) -> IdeaQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(task__owner_id=user.pk)


class Idea(models.Model):
    """One content idea of a task and the piece made from it (a reel, a carousel or a tweet thread).

    The events announce ideas and pieces as they happen; this row is what the page, the exports and a
    regeneration read and write afterwards.
    """

    class Kind(models.TextChoices):
        REEL = "reel", "Reel"
        CAROUSEL = "image_carousel", "Image carousel"
        TWEET = "tweet", "Tweet / thread"

    class Status(models.TextChoices):
        PENDING = "pending"  # the idea exists; its piece is being written
        READY = "ready"  # the piece is written and valid; rendering (if any) follows
        RENDERED = "rendered"  # the piece's files exist
        DROPPED = "dropped"  # the model could not give a valid piece; `errors` says why
        FAILED = "failed"  # rendering failed; `errors` says why

    task = models.ForeignKey(ProcessingTask, on_delete=models.CASCADE, related_name="ideas")
    index = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=200)
    snippet = models.TextField(blank=True)
    start = models.FloatField(default=0)
    end = models.FloatField(default=0)
    reason = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    piece = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    # Rendered files, relative to the task's folder: {"video": "pieces/01/reel.mp4", "zip": ..., "slides": [...]}
    files = models.JSONField(default=dict, blank=True)
    provider = models.CharField(max_length=40, blank=True)
    model = models.CharField(max_length=100, blank=True)
    version = models.PositiveIntegerField(default=1, help_text="Goes up each time the piece is regenerated.")
    updated_at = models.DateTimeField(auto_now=True)

    objects = IdeaQuerySet.as_manager()

    class Meta:
        ordering = ["task", "index"]
        constraints = [models.UniqueConstraint(fields=["task", "index"], name="idea_task_index_unique")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.index + 1}: {self.title}"

    def as_dict(self) -> dict:
        return {
            "index": self.index,
            "kind": self.kind,
            "title": self.title,
            "snippet": self.snippet,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "reason": self.reason,
            "status": self.status,
            "piece": self.piece,
            "errors": self.errors,
            "files": self.files,
            "provider": self.provider,
            "model": self.model,
            "version": self.version,
        }


class PerformanceMetrics(models.Model):
    """One measured operation: a stage, an ffmpeg run, a provider call."""

    task = models.ForeignKey(ProcessingTask, on_delete=models.CASCADE, null=True, blank=True, related_name="metrics")
    operation = models.CharField(max_length=80, db_index=True)
    duration_ms = models.FloatField()
    success = models.BooleanField(default=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "performance metrics"

    def __str__(self) -> str:
        return f"{self.operation} {self.duration_ms:.0f} ms"


# --- webhooks (jobs/webhooks.py sends them) -------------------------------------------------------------


class WebhookSecret(models.Model):
    """The key a user's webhooks are signed with (HMAC-SHA256). HMAC needs the key itself, so it is stored
    as it is; it is shown once, to the API call that made it, and never again: not in the admin, not in logs."""

    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_secret")
    secret = models.CharField(max_length=100, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"webhook secret of {self.owner} (made {self.created_at:%Y-%m-%d %H:%M})"


class WebhookDelivery(models.Model):
    """One summary to deliver: a task or a batch ended. Sent until the receiver takes it (2xx) or
    WEBHOOK_MAX_ATTEMPTS are used; each try is a WebhookAttempt. The body is fixed when the row is made,
    so every attempt sends the same bytes (only the timestamp and signature headers change)."""

    class Event(models.TextChoices):
        TASK_ENDED = "task.ended"
        BATCH_ENDED = "batch.ended"

    class Status(models.TextChoices):
        PENDING = "pending"  # an attempt is queued, under way or waiting for its time
        DELIVERED = "delivered"
        FAILED = "failed"  # every attempt failed

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_deliveries")
    event = models.CharField(max_length=20, choices=Event.choices)
    task = models.ForeignKey(
        ProcessingTask, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    batch = models.ForeignKey(Batch, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_deliveries")
    url = models.URLField(max_length=2000)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    # When the sweep may queue the next attempt: after the backoff, or once a queued attempt's lease is over
    # (its worker died). None once delivered or failed.
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            # A task or a batch ends once: two processes noticing the same end make one delivery.
            models.UniqueConstraint(fields=["event", "task"], name="jobs_webhook_one_per_task"),
            models.UniqueConstraint(fields=["event", "batch"], name="jobs_webhook_one_per_batch"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.task_id or self.batch_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One POST of a delivery: when, how long, the receiver's status code or the sentence saying what went
    wrong, and the start of its answer (capped; the rest is never read)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.FloatField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response_excerpt = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status_code or self.error[:40]}"
