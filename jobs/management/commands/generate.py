"""Make videos from prompts or scripts from the command line, one or a batch, with live progress bars and a
summary table. Each video is a task of its own (the watch page shows it too)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from tqdm import tqdm

from jobs import services
from jobs.engine import run_task
from jobs.generate import request_errors
from jobs.models import ProcessingTask
from media_pipeline.generate.request import GenerateRequest, InvalidRequest, parse_batch_text


@dataclass
class Item:
    label: str
    request: GenerateRequest | None = None
    error: str = ""
    task: ProcessingTask | None = None
    started: float = 0.0
    finished: float = 0.0
    bar: Any = None
    visual_bar: Any = None  # the provider's generation and the download of the current scene's clip
    slot: int = 0
    out: Any = None  # where the bars are drawn (the command's stderr)
    seen: int = 0  # the last event read
    scenes: int = 0
    ready: int = 0

    def follow(self) -> None:
        """Read the task's new events into its bars: the scenes made so far, and each scene's generation
        (state, polls) and download (bytes, speed, ETA) with generated visuals."""
        assert self.task is not None and self.bar is not None
        for event in self.task.events.filter(seq__gt=self.seen).order_by("seq").only("seq", "type", "data"):
            self.seen = event.seq
            data = event.data or {}
            if event.type == "stage" and data.get("chunks"):
                self.scenes = int(data["chunks"])
            elif event.type == "chunk_ready":
                self.ready += 1
            elif event.type == "progress" and data.get("visual"):
                self._visual(data)
        self.task.refresh_from_db()
        self.bar.n = self.task.progress
        scenes = f" · scene {self.ready}/{self.scenes}" if self.scenes else ""
        self.bar.set_postfix_str((self.task.stage or self.task.status) + scenes, refresh=True)

    def _visual(self, data: dict[str, Any]) -> None:
        if self.visual_bar is None:
            self.visual_bar = tqdm(total=0, desc="  visuals", position=self.slot * 2 + 2, leave=False, file=self.out,
                                   unit="B", unit_scale=True, unit_divisor=1024)  # fmt: skip
        bar = self.visual_bar
        scene = int(data.get("index", 0)) + 1
        if data["visual"] == "downloading":
            bar.total = data.get("total") or data.get("bytes") or 0
            bar.n = data.get("bytes") or 0
            speed = f"{(data.get('speed') or 0) / 2**20:.1f} MB/s"
            eta = f", ETA {data['eta']:.0f} s" if data.get("eta") is not None else ""
            bar.set_postfix_str(f"scene {scene}: downloading, {speed}{eta}", refresh=True)
        else:
            bar.set_postfix_str(
                f"scene {scene}: {data['visual']} {data.get('elapsed', 0):.0f} s, {data.get('polls', 0)} polls",
                refresh=True,
            )

    def close(self) -> None:
        for bar in (self.bar, self.visual_bar):
            if bar is not None:
                bar.close()


def read_batch(path: Path) -> list[dict[str, str]]:
    """Entries of a batch file, separated by blank lines: "prompt: …" is a prompt, "task: <id>" a recap,
    anything else a script."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"The batch file {path} could not be read ({exc}).") from None
    entries = parse_batch_text(text)
    if not entries:
        raise CommandError(f"The batch file {path} has no entries (scripts, or lines starting with “prompt:”).")
    return entries


class Command(BaseCommand):
    help = (
        'Make a narrated, captioned video: generate "a prompt" | --script FILE | --from-task ID, or many with '
        "--batch FILE (entries separated by blank lines; “prompt: …” for a prompt). Options: --aspect 9:16|16:9|1:1, "
        "--voice, --length, --no-captions, --concurrency N, --wait (follow to the end), --inline (no workers)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prompt", nargs="?", default="", help="what the video is about (needs an LLM)")
        parser.add_argument("--script", type=Path, help="a text file with the narration")
        parser.add_argument("--from-task", default="", help="recap an existing task")
        parser.add_argument("--batch", type=Path, help="a file of scripts/prompts separated by blank lines")
        parser.add_argument("--aspect", default="9:16")
        parser.add_argument("--voice", default="")
        parser.add_argument("--title", default="")
        parser.add_argument("--length", type=int, default=45, help="target seconds for a prompt")
        parser.add_argument("--no-captions", action="store_true")
        parser.add_argument("--visuals", default="cards", help="cards (title cards) or generated (VIDEO_PROVIDER)")
        parser.add_argument("--concurrency", type=int, default=settings.VIDEO_GEN_CONCURRENCY)
        parser.add_argument("--user", default="", help="owner of the tasks (default: the first superuser)")
        parser.add_argument("--wait", action="store_true", help="follow the videos to the end")
        parser.add_argument("--inline", action="store_true", help="render here, without the workers (implies --wait)")

    def handle(self, *args: Any, **opts: Any) -> None:
        owner = self._owner(opts["user"])
        common = {
            "aspect": opts["aspect"],
            "voice": opts["voice"],
            "length": opts["length"],
            "captions": not opts["no_captions"],
            "visuals": opts["visuals"],
        }
        if opts["batch"]:
            entries = read_batch(opts["batch"])
        elif opts["script"]:
            try:
                entries = [{"script": opts["script"].read_text(encoding="utf-8"), "title": opts["title"]}]
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"The script {opts['script']} could not be read ({exc}).") from None
        elif opts["from_task"] or opts["prompt"]:
            entries = [{"from_task": opts["from_task"], "prompt": opts["prompt"], "title": opts["title"]}]
        else:
            raise CommandError("Give a prompt, --script FILE, --from-task ID or --batch FILE.")
        if opts["concurrency"] < 1:
            raise CommandError("--concurrency must be at least 1.")
        items = [self._check(i, {**common, **entry}, owner) for i, entry in enumerate(entries, start=1)]
        for item in items:
            if item.error:
                self.stderr.write(f"{item.label}: {item.error}")
        runnable = [item for item in items if item.request is not None]
        if opts["inline"] or opts["wait"]:
            self._follow(runnable, owner, concurrency=opts["concurrency"], inline=opts["inline"])
        else:
            for item in runnable:
                assert item.request is not None
                item.task = services.submit_generate(owner=owner, request=item.request, limited=False)
                self.stdout.write(f"{item.label}: queued as task {item.task.pk}")
        self._summary(items, waited=opts["inline"] or opts["wait"])
        if any(item.error or (item.task and item.task.status != "succeeded") for item in items) and (
            opts["inline"] or opts["wait"]
        ):
            raise CommandError("Some videos could not be made; the table says why.")

    def _owner(self, username: str) -> Any:
        users = get_user_model().objects
        user = users.filter(username=username).first() if username else users.filter(is_superuser=True).first()
        if user is None:
            raise CommandError(
                f"No user “{username}”." if username else "Name the owner with --user (there is no superuser yet)."
            )
        return user

    def _check(self, index: int, data: dict[str, Any], owner: Any) -> Item:
        label = f"#{index}"
        try:
            request = GenerateRequest.from_data({k: v for k, v in data.items() if v != ""})
        except InvalidRequest as exc:
            return Item(label=label, error=str(exc))
        refused = request_errors(owner, request)
        if refused:
            return Item(label=label, error=" ".join(m for ms in refused.values() for m in ms))
        return Item(label=f"{label} {request.display_title()[:40]}", request=request)

    def _follow(self, items: list[Item], owner: Any, *, concurrency: int, inline: bool) -> None:
        """Keep at most `concurrency` of the batch's videos in flight; a bar per video and one overall."""
        out = getattr(self.stderr, "_out", None)  # the stream itself: tqdm draws with \r, not lines
        overall = tqdm(total=len(items), desc="videos", position=0, unit="video", leave=True, file=out)
        pending = list(items)
        active: list[Item] = []
        pool = ThreadPoolExecutor(max_workers=concurrency) if inline else None

        def run_here(task_id: str) -> None:
            try:
                run_task(task_id)
            finally:
                connection.close()

        try:
            while pending or active:
                while pending and len(active) < concurrency:
                    item = pending.pop(0)
                    assert item.request is not None
                    item.task = services.submit_generate(owner=owner, request=item.request, limited=False)
                    item.started = time.monotonic()
                    item.slot = min(set(range(concurrency)) - {a.slot for a in active})
                    item.out = out
                    item.bar = tqdm(total=100, desc=item.label[:40], position=item.slot * 2 + 1, leave=False, file=out,
                                    bar_format="{desc:40} {bar} {n:.0f}% {postfix}")  # fmt: skip
                    active.append(item)
                    if pool is not None:
                        pool.submit(run_here, str(item.task.pk))
                time.sleep(0.5)
                for item in list(active):
                    assert item.task is not None
                    item.follow()
                    if item.task.is_finished:
                        item.finished = time.monotonic()
                        item.close()
                        active.remove(item)
                        overall.update(1)
        finally:
            overall.close()
            if pool is not None:
                pool.shutdown(wait=True)

    def _summary(self, items: list[Item], *, waited: bool) -> None:
        rows = [("video", "file", "size", "time", "status")]
        for item in items:
            if item.task is None:
                rows.append((item.label, "-", "-", "-", f"refused: {item.error}"))
                continue
            final = item.task.files.final
            size = f"{final.stat().st_size / 2**20:.1f} MB" if final.exists() else "-"
            took = f"{item.finished - item.started:.1f} s" if item.finished else "-"
            status = item.task.status + (f": {item.task.error}" if item.task.error else "")
            rows.append((item.label, str(final) if final.exists() else "-", size, took, status))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
