"""The layout of a task's folder, MEDIA_ROOT/tasks/<uuid>/: every file name in it is made here.

A *name* (str) is relative to the task's folder: it is what a media URL and `Idea.files` carry. A *path* is
where the file is on disk. Nothing else builds these names, so the pages, the jobs and the exports agree.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.conf import settings


class TaskFiles:
    FINAL = "final.mp4"
    PIECES = "pieces/"
    SIDECARS = ("sidecar.srt", "sidecar.vtt")

    # The only names a media URL may ask for, with their content types; everything else is 404 (no path is
    # ever taken from the user).
    SERVED = {
        re.compile(r"^chunks/\d{5}\.ts$"): "video/mp2t",
        re.compile(r"^thumbs/\d{5}\.jpg$"): "image/jpeg",
        re.compile(r"^final\.mp4$"): "video/mp4",
        re.compile(r"^pieces/\d{2}/reel-v\d+(-\d{1,2}x\d{1,2})?\.mp4$"): "video/mp4",
        re.compile(r"^pieces/\d{2}/reel-v\d+\.jpg$"): "image/jpeg",
        re.compile(r"^pieces/\d{2}/carousel-v\d+/[A-Za-z0-9_-]{1,60}\.png$"): "image/png",
        re.compile(r"^pieces/\d{2}/carousel-v\d+/[A-Za-z0-9_-]{1,60}\.zip$"): "application/zip",
        re.compile(r"^kit/chapters\.vtt$"): "text/vtt",
        re.compile(r"^kit/final-chapters\.mp4$"): "video/mp4",
        re.compile(r"^kit/(?:thumb|square|vertical)-\d{2}-[0-9a-f]{12}\.jpg$"): "image/jpeg",
    }
    KIT = "kit/"
    CHAPTERS_VTT = "kit/chapters.vtt"
    CHAPTERED = "kit/final-chapters.mp4"
    KIT_FRAMES = "kit/frames"  # frames grabbed for thumbnails, named by their time (media_pipeline/kit/frames.py)
    # The image pool's cache of images published under a fixed name (slides, posters): named by the hash of
    # their inputs, hard-linked to the names above; never served itself.
    IMAGE_CACHE = "images"

    def __init__(self, task_id: Any) -> None:
        self.task_id = task_id

    # --- names, relative to the task's folder ----------------------------------------------------------

    @staticmethod
    def chunk_name(index: int) -> str:
        return f"chunks/{index:05d}.ts"

    @staticmethod
    def thumb_name(index: int) -> str:
        return f"thumbs/{index:05d}.jpg"

    @staticmethod
    def piece_dir(index: int) -> str:
        """The folder of idea `index`'s files (numbered from 1, as the page shows them)."""
        return f"pieces/{index + 1:02d}"

    @classmethod
    def reel_name(cls, index: int, version: int, aspect: str = "9:16") -> str:
        """The reel in `aspect` ("9:16" keeps the name reels always had; "1:1" → reel-v1-1x1.mp4)."""
        suffix = "" if aspect == "9:16" else "-" + aspect.replace(":", "x")
        return f"{cls.piece_dir(index)}/reel-v{version}{suffix}.mp4"

    @classmethod
    def poster_name(cls, index: int, version: int) -> str:
        return f"{cls.piece_dir(index)}/reel-v{version}.jpg"

    @classmethod
    def carousel_dir(cls, index: int, version: int) -> str:
        return f"{cls.piece_dir(index)}/carousel-v{version}"

    @staticmethod
    def kit_image_name(kind: str, slot: int, digest: str) -> str:
        """A kit image: `kind` is thumb (1280×720), square or vertical (9:16); the digest of its inputs is in
        the name, so a regenerated image is a new file and a cached one is the same file."""
        return f"kit/{kind}-{slot:02d}-{digest[:12]}.jpg"

    @staticmethod
    def speech_name(index: int) -> str:
        return f"speech/{index:05d}.wav"

    @classmethod
    def content_type(cls, name: str) -> str | None:
        """The content type of a name a media URL may ask for; None for any other name."""
        return next((ct for pattern, ct in cls.SERVED.items() if pattern.match(name)), None)

    @classmethod
    def is_download(cls, name: str) -> bool:
        """Files a user takes away (the final video, the pieces), as opposed to what the player streams."""
        return name == cls.FINAL or name.startswith((cls.PIECES, cls.KIT))

    @staticmethod
    def is_immutable(name: str) -> bool:
        """Chunks and thumbnails never change once written (a re-delivered job keeps them as they are)."""
        return name.startswith(("chunks/", "thumbs/"))

    # --- paths ------------------------------------------------------------------------------------------

    @property
    def relative_root(self) -> Path:
        """The folder relative to MEDIA_ROOT (as `ProcessingTask.source_path` is stored)."""
        return Path("tasks") / str(self.task_id)

    @property
    def root(self) -> Path:
        return Path(settings.MEDIA_ROOT) / self.relative_root

    def path(self, name: str) -> Path:
        return self.root / name

    def name_of(self, path: Path | str) -> str:
        """The name of a file inside the folder (the inverse of `path`)."""
        return str(Path(path).relative_to(self.root))

    def chunk(self, index: int) -> Path:
        return self.root / self.chunk_name(index)

    def thumb(self, index: int) -> Path:
        return self.root / self.thumb_name(index)

    @property
    def final(self) -> Path:
        return self.root / self.FINAL

    @staticmethod
    def source_name(suffix: str) -> str:
        """The stored source's name: always ours, only the (checked) extension comes from the user."""
        return f"source{suffix}"

    def source(self, suffix: str) -> Path:
        return self.root / self.source_name(suffix)

    @property
    def upload_part(self) -> Path:
        """Where the parts of an upload in progress are appended; renamed to the source when complete."""
        return self.root / "upload.part"

    def sidecar_target(self, suffix: str) -> Path:
        """Where subtitles uploaded with the video are kept (`suffix` is ".srt" or ".vtt")."""
        return self.root / f"sidecar{suffix}"

    def sidecar(self) -> Path | None:
        """The subtitles uploaded with the video, if any."""
        return next((self.root / n for n in self.SIDECARS if (self.root / n).is_file()), None)

    def speech(self, index: int) -> Path:
        return self.root / self.speech_name(index)

    def speech_record(self, index: int) -> Path:
        """What was said over chunk `index` (JSON), written before the chunk so a re-delivery finds both."""
        return self.root / self.speech_name(index).replace(".wav", ".json")

    @property
    def silence(self) -> Path:
        return self.root / "speech" / "silence.wav"

    def export_zip(self, seq: int) -> Path:
        """The media ZIP of the task as it stood at event `seq`."""
        return self.root / "exports" / f"all-{seq}.zip"

    def export_zips(self) -> list[Path]:
        return sorted((self.root / "exports").glob("all-*.zip"))
