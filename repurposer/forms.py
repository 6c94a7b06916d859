from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm


def human_size(n: int) -> str:
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"


def check_upload_size(size: int) -> int:
    """The one place that says whether a file of `size` bytes may be uploaded."""
    if size == 0:
        raise forms.ValidationError("The file is empty. Please choose the video file again.")
    if size > settings.MAX_UPLOAD_BYTES:
        raise forms.ValidationError(
            f"The file is {human_size(size)}; the limit is {human_size(settings.MAX_UPLOAD_BYTES)}."
        )
    return size


def check_subtitles(upload):
    """A subtitle file must be small and readable as SRT or WebVTT; its cues are checked here, not later."""
    if upload is None:
        return None
    if upload.size > settings.MAX_SUBTITLE_BYTES:
        raise forms.ValidationError(
            f"The subtitle file is {human_size(upload.size)}; the limit is {human_size(settings.MAX_SUBTITLE_BYTES)}."
        )
    from media_pipeline.errors import MediaError
    from media_pipeline.transcript.subtitles import parse_subtitle_file

    data = upload.read()
    upload.seek(0)
    try:
        parse_subtitle_file(data, source="subtitles:sidecar")
    except MediaError as exc:
        raise forms.ValidationError(exc.message) from None
    return upload


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Video file",
        help_text="MP4, MOV, MKV, WebM, AVI … up to the size limit.",
        widget=forms.ClearableFileInput(attrs={"accept": "video/*,.mkv,.ts,.mxf"}),
    )
    interval = forms.IntegerField(
        label="Chunk length (seconds)", min_value=10, max_value=120, initial=30,
        help_text="Each chunk is about this long (10–120 s); cuts move to the nearest keyframe.",
    )  # fmt: skip

    transcribe = forms.BooleanField(
        label="Make a transcript", required=False, initial=True,
        help_text="From subtitles in the file or the one below; otherwise offline speech recognition.",
    )  # fmt: skip
    subtitles = forms.FileField(
        label="Subtitles (optional)", required=False, help_text="An .srt or .vtt file to use as the transcript.",
        widget=forms.ClearableFileInput(attrs={"accept": ".srt,.vtt,text/vtt"}),
    )  # fmt: skip

    force = forms.BooleanField(
        label="Process it again", required=False,
        help_text="Otherwise a video you already processed with the same options opens its earlier result.",
    )  # fmt: skip

    def clean_subtitles(self):
        return check_subtitles(self.cleaned_data.get("subtitles"))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        check_upload_size(upload.size)
        return upload

    def job_params(self) -> dict:
        return {"interval": self.cleaned_data["interval"], "transcribe": self.cleaned_data["transcribe"],
                **({"force": True} if self.cleaned_data["force"] else {})}  # fmt: skip


class UploadStartForm(forms.Form):
    """Opens a part-by-part upload: what the file is called, how big it is, and the job's options."""

    filename = forms.CharField(max_length=1000)
    size = forms.IntegerField(min_value=0)
    interval = UploadForm.base_fields["interval"]
    transcribe = UploadForm.base_fields["transcribe"]
    subtitles = UploadForm.base_fields["subtitles"]
    force = UploadForm.base_fields["force"]

    def clean_size(self):
        return check_upload_size(self.cleaned_data["size"])

    def clean_subtitles(self):
        return check_subtitles(self.cleaned_data.get("subtitles"))

    def job_params(self) -> dict:
        return {"interval": self.cleaned_data["interval"], "transcribe": self.cleaned_data["transcribe"],
                **({"force": True} if self.cleaned_data["force"] else {})}  # fmt: skip


class YouTubeForm(forms.Form):
    url = forms.CharField(
        label="YouTube link", max_length=2000,
        widget=forms.TextInput(attrs={"placeholder": "https://www.youtube.com/watch?v=…", "inputmode": "url"}),
    )  # fmt: skip
    interval = UploadForm.base_fields["interval"]
    download = forms.BooleanField(
        label="Download the video too", required=False, initial=True,
        help_text="Off: only the captions are fetched (quick; nothing to watch).",
    )  # fmt: skip
    force = UploadForm.base_fields["force"]

    def clean_url(self):
        from media_pipeline.errors import MediaError
        from media_pipeline.ingest.youtube_url import parse_youtube_url

        try:
            return parse_youtube_url(self.cleaned_data["url"])
        except MediaError as exc:
            raise forms.ValidationError(exc.message) from None

    def job_params(self) -> dict:
        return {"video_id": self.cleaned_data["url"], "interval": self.cleaned_data["interval"],
                "download": self.cleaned_data["download"], "transcribe": True,
                **({"force": True} if self.cleaned_data["force"] else {})}  # fmt: skip


class SignupForm(UserCreationForm):
    pass
