"""A task's content as files to take away: JSON, Markdown, and one ZIP with the media.

Everything comes from the Idea rows and the events; text written by a model or taken from a transcript is
data, so Markdown escapes it (a transcript saying "<script>" or "# ignore previous instructions" stays text).
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

from media_pipeline.files import atomic_output
from media_pipeline.probe import clock
from media_pipeline.transcript.subtitles import to_srt

from .layout import TaskFiles
from .models import Idea, ProcessingTask

EXPORT_VERSION = 1


def export_data(task: ProcessingTask) -> dict:
    ideas = list(Idea.objects.filter(task=task).order_by("index"))
    return {
        "version": EXPORT_VERSION,
        "task": {
            "id": str(task.pk),
            "title": task.title,
            "status": task.status,
            "source": task.source,
            "created_at": task.created_at.isoformat(),
            "params": task.params,
        },
        "intervals": task.analyses(),
        "commentary": task.commentary(),
        "kit": task.kit(),
        "ideas": [idea.as_dict() for idea in ideas],
        "partial": any(i.status in (Idea.Status.DROPPED, Idea.Status.FAILED) for i in ideas),
    }


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def md(text: str) -> str:
    """Markdown-escape one line of untrusted text (and keep it on one line)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def export_markdown(task: ProcessingTask) -> str:
    data = export_data(task)
    out = [f"# {md(task.title or 'Video')}", ""]
    if data["partial"]:
        out += ["_Partial result: some pieces were dropped or failed; each one says why._", ""]
    for idea in data["ideas"]:
        piece = idea["piece"]
        out += [f"## {idea['index'] + 1}. {md(idea['title'])} ({idea['kind'].replace('_', ' ')})", ""]
        out += [f"- Source: {clock(idea['start'])}–{clock(idea['end'])}", f"- Status: {idea['status']}"]
        if idea["errors"]:
            out.append(f"- Why: {md('; '.join(idea['errors']))}")
        out.append("")
        if idea["kind"] == "reel" and piece:
            out += [f"**Hook:** {md(piece.get('hook', ''))}", "", f"**Caption:** {md(piece.get('caption', ''))}", ""]
            out += [f"**Script:** {md(piece.get('script', ''))}", ""]
            out += [f"- {md(v)}" for v in piece.get("visual_suggestions", [])]
        elif idea["kind"] == "image_carousel" and piece:
            out += [f"**Caption:** {md(piece.get('caption', ''))}", ""]
            for slide in piece.get("slides", []):
                out.append(
                    f"{slide.get('slide_number', '')}. **{md(slide.get('heading', ''))}** — {md(slide.get('text', ''))}"
                )
        elif idea["kind"] == "tweet" and piece:
            out += [f"> {md(piece.get('tweet', ''))}", ""]
            out += [f"> {md(t)}" for t in piece.get("thread", []) or []]
        if piece.get("hashtags"):
            out += ["", " ".join(md(h) for h in piece["hashtags"])]
        out.append("")
    out += _kit_markdown(data["kit"])
    if data["commentary"]:
        out += ["## Commentary", ""]
        out += [f"- {clock(c['start'])}: {md(c['text'])}" for c in data["commentary"]]
        out.append("")
    return "\n".join(out)


def _kit_markdown(kit: dict) -> list[str]:
    """The publishing kit: title suggestions, the description to paste, the chapters. The chapter list stays
    as YouTube reads it ("0:00 Intro"), so its titles are escaped but not its times."""
    out: list[str] = []
    titles = kit.get("titles") or {}
    if titles.get("titles"):
        out += ["## Title suggestions", ""]
        out += [f"{n}. {md(t)}" for n, t in enumerate(titles["titles"], 1)]
        out.append("")
    if titles.get("description"):
        # A fenced block: the description is pasted as it is, chapter lines and hashtags included.
        runs = [len(m) for m in re.findall(r"`+", titles["description"])]
        fence = "`" * max(3, max(runs, default=0) + 1)
        out += ["## Description", "", fence + "text", titles["description"].replace("\r", ""), fence, ""]
    chapters = (kit.get("chapters") or {}).get("chapters") or []
    if chapters:
        out += ["## Chapters", ""]
        out += [f"- {clock(c['start'])} {md(c['title'])}" for c in chapters]
        if (kit.get("chapters") or {}).get("note"):
            out += ["", f"_{md(kit['chapters']['note'])}_"]
        out.append("")
    return out


def _kit_files(kit: dict) -> list[str]:
    """The kit's files in the ZIP: the chapters as WebVTT, the chaptered MP4, every image."""
    names = [TaskFiles.CHAPTERS_VTT] if kit.get("chapters") else []
    if (kit.get("chapters") or {}).get("video_url"):
        names.append(TaskFiles.CHAPTERED)
    for thumb in kit.get("thumbnails") or []:
        names += [n for n in (thumb.get("files") or {}).values() if isinstance(n, str)]
    return names


def build_media_zip(task: ProcessingTask) -> Path:
    """exports/all-<seq>.zip: every rendered piece, the JSON and Markdown, the transcript. Built once per
    state of the task (keyed by its last event) and written atomically."""
    files = task.files
    target = files.export_zip(task.last_seq)
    if target.exists():
        return target
    with atomic_output(target) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("content.json", json.dumps(export_data(task), indent=2, ensure_ascii=False))
        zf.writestr("content.md", export_markdown(task))
        segments = task.transcript()
        if segments:
            zf.writestr("transcript.srt", to_srt(segments))
        for name in _kit_files(task.kit()):
            path = files.path(name)
            if path.is_file():
                kind = zipfile.ZIP_DEFLATED if name.endswith(".vtt") else zipfile.ZIP_STORED
                zf.write(path, arcname=name, compress_type=kind)
        for idea in Idea.objects.filter(task=task, status=Idea.Status.RENDERED).order_by("index"):
            names = [v for k, v in idea.files.items() if k in ("video", "zip", "poster") and isinstance(v, str)]
            videos = idea.files.get("videos")
            names += [v for v in (videos.values() if isinstance(videos, dict) else []) if v not in names]
            names += list(idea.files.get("slides", []))
            for name in names:
                path = files.path(name)
                if path.is_file() and not name.endswith(".zip"):
                    # Media are compressed already; storing them saves time for nothing lost.
                    zf.write(path, arcname=name, compress_type=zipfile.ZIP_STORED)
    if task.is_finished:
        # Older states of a finished task are not needed; while it runs, another request may still be sending one.
        for old in files.export_zips():
            if old != target:
                old.unlink(missing_ok=True)
    return target
