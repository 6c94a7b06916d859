from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm
from django.core.files.uploadedfile import UploadedFile
from django.http import QueryDict
from django.utils.html import format_html
from django.utils.safestring import SafeString

from jobs.options import REEL_ASPECTS, REEL_DEFAULTS, SPEECH_LANGUAGES, JobOptions
from media_pipeline.commentary import styles as commentary_styles
from media_pipeline.ideas.styles import DEFAULT_PRESET, preset_choices
from media_pipeline.tts import speech_provider

FALSE_WORDS = {"", "0", "false", "no", "off"}
TRUE_WORDS = {"1", "true", "yes", "on"}


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


def check_subtitles(upload: UploadedFile | None) -> UploadedFile | None:
    """A subtitle file must be small and readable as SRT or WebVTT; its cues are checked here, not later."""
    if upload is None:
        return None
    size = upload.size or 0
    if size > settings.MAX_SUBTITLE_BYTES:
        raise forms.ValidationError(
            f"The subtitle file is {human_size(size)}; the limit is {human_size(settings.MAX_SUBTITLE_BYTES)}."
        )
    from media_pipeline.transcript.subtitles import subtitle_problem
    from ops import offload

    data = upload.read()
    upload.seek(0)
    # Seconds of pure-Python parsing for a few MB: in a helper process, so the site does not stall meanwhile.
    problem = offload.call(subtitle_problem, data, source="subtitles:sidecar")
    if problem:
        raise forms.ValidationError(problem)
    return upload


class Checkbox(forms.CheckboxInput):
    """A checkbox the page always sends. A browser leaves an unticked box out of the body, which a form cannot
    tell from a script that never mentioned the option; so a hidden "0" goes first: unticked arrives as "0",
    ticked as "0" and "on" (the last one counts), and absent means "not sent" and takes the initial value."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        return format_html('<input type="hidden" name="{}" value="0">', name) + super().render(
            name, value, attrs, renderer
        )

    def value_from_datadict(self, data: Any, files: Any, name: str) -> bool:
        value = data.get(name)
        if isinstance(value, str):
            word = value.strip().lower()
            if word in FALSE_WORDS | TRUE_WORDS:  # words a script may use ("0" is a non-empty string)
                return word in TRUE_WORDS
        return bool(value)


# The pipeline's own tables: a style added there shows up here.
COMMENTARY_STYLES = [(key, label) for key, label, _ in commentary_styles.choices()]
COMMENTARY_STYLE_HELP = " ".join(f"{label}: {description}" for _, label, description in commentary_styles.choices())
STYLE_PRESETS = preset_choices()
CUSTOM_STYLE_FIELDS = ("audience", "call_to_action", "goal", "language", "tone", "extra")


def voice_choices() -> list[tuple[str, str]]:
    """The voices of the configured speech provider, as its file lists them."""
    return speech_provider(settings.TTS_PROVIDER).voices(settings)


class AspectsField(forms.MultipleChoiceField):
    """Reel sizes: ticked boxes on the page; a list, or one comma-separated string ("9:16,1:1"), from a script.
    The page's order is kept whatever order they came in."""

    def to_python(self, value: Any) -> list[str]:
        if value in self.empty_values:
            return []
        items = [value] if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else None
        if items is None:
            raise forms.ValidationError('Give the reel sizes as a list, like ["9:16", "1:1"].')
        names = {part.strip() for item in items for part in str(item).split(",") if part.strip()}
        return [a for a in REEL_ASPECTS if a in names] + sorted(names - set(REEL_ASPECTS))


class JobOptionsForm(forms.Form):
    """What to make of a video, shared by the upload page, the YouTube form and the JSON API.

    An option left out of the data takes its initial value (what the page shows), whoever sent it: the page's
    boxes are always sent (see `Checkbox`), so only a script leaves one out, and it gets the page's defaults.
    """

    def __init__(self, data: Any = None, files: Any = None, **kwargs: Any) -> None:
        super().__init__(data, files, **kwargs)
        if self.is_bound:
            self.data = self._with_initial(self.data)

    def _with_initial(self, data: Any) -> Any:
        filled = data.copy()  # a QueryDict copy keeps repeated keys and is mutable
        for name, field in self.fields.items():
            key = self.add_prefix(name)
            initial = self.get_initial_for_field(field, name)
            if key in filled or initial is None or isinstance(field, forms.FileField):
                continue
            if isinstance(filled, QueryDict) and isinstance(initial, list | tuple):
                filled.setlist(key, list(initial))
            else:
                filled[key] = initial
        return filled

    commentary = forms.BooleanField(
        label="Spoken commentary",
        required=False,
        initial=True,
        widget=Checkbox,
        help_text="Every chunk gets commentary spoken over the original sound.",
    )
    voice = forms.ChoiceField(label="Voice", choices=voice_choices, required=False)
    commentary_style = forms.ChoiceField(
        label="Commentary style",
        choices=COMMENTARY_STYLES,
        initial=commentary_styles.DEFAULT_STYLE,
        required=False,
        help_text=COMMENTARY_STYLE_HELP,
    )
    original_level = forms.IntegerField(
        label="Original sound under the commentary (%)",
        min_value=0,
        max_value=100,
        required=False,
        initial=settings.COMMENTARY_DEFAULT_LEVEL,
        help_text="How loud the original stays while the commentary speaks (20 % ≈ −14 dB); it returns to full after.",
    )
    ideas = forms.BooleanField(
        label="Content ideas",
        required=False,
        initial=True,
        widget=Checkbox,
        help_text="Reels, image carousels and tweets made from the transcript.",
    )
    style = forms.ChoiceField(label="Style", choices=STYLE_PRESETS, initial=DEFAULT_PRESET, required=False)
    idea_count = forms.IntegerField(label="How many ideas", min_value=1, max_value=10, initial=5, required=False)
    audience = forms.CharField(label="Target audience", max_length=200, required=False)
    call_to_action = forms.CharField(label="Call to action", max_length=200, required=False)
    goal = forms.CharField(label="Content goal", max_length=200, required=False)
    language = forms.CharField(label="Language", max_length=40, required=False, initial="en")
    tone = forms.CharField(label="Tone", max_length=100, required=False)
    extra = forms.CharField(
        label="Extra instructions", max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    reel_framing = forms.ChoiceField(
        label="Reel framing",
        choices=[
            ("speaker", "Follow the speaker (faces, else motion)"),
            ("blur", "Whole picture over a blurred fill"),
            ("crop", "Centre crop"),
        ],
        initial=REEL_DEFAULTS["reel_framing"],
        required=False,
    )
    reel_aspects = AspectsField(
        label="Reel sizes",
        choices=[(a, f"{a} ({w}×{h})") for a, (w, h) in REEL_ASPECTS.items()],
        initial=REEL_DEFAULTS["reel_aspects"],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Each reel is rendered in every size ticked, each its own download.",
    )
    caption_preset = forms.ChoiceField(
        label="Captions",
        choices=[("pop", "Bold pop (the spoken word highlighted)"), ("karaoke", "Karaoke fill"), ("clean", "Clean")],
        initial=REEL_DEFAULTS["caption_preset"],
        required=False,
    )
    tight_cuts = forms.BooleanField(
        label="Cut out silences",
        required=False,
        initial=REEL_DEFAULTS["tight_cuts"],
        widget=Checkbox,
        help_text="Pauses longer than about 0.6 s become jump cuts.",
    )
    cut_fillers = forms.BooleanField(
        label="Cut out “um” and “uh”",
        required=False,
        initial=REEL_DEFAULTS["cut_fillers"],
        widget=Checkbox,
    )

    # (legend, fields, shown open)
    OPTION_GROUPS = (
        ("Commentary", ("commentary", "voice", "commentary_style", "original_level"), True),
        ("Content ideas", ("ideas", "style", "idea_count"), True),
        ("Reels", ("reel_framing", "reel_aspects", "caption_preset", "tight_cuts", "cut_fillers"), False),
        ("Custom style (when the style is “Custom”)", CUSTOM_STYLE_FIELDS, False),
        ("When it ends", ("webhook_url",), False),
    )

    def groups(self) -> list[tuple[str, list, bool]]:
        """The fields in the order the page shows them: the form's own first, then one box per option group
        (open when it holds an error)."""
        grouped = {name for _, names, _ in self.OPTION_GROUPS for name in names}
        out: list[tuple[str, list, bool]] = [("", [self[n] for n in self.fields if n not in grouped], True)]
        for legend, names, shown in self.OPTION_GROUPS:
            fields = [self[n] for n in names if n in self.fields]
            out.append((legend, fields, shown or any(f.errors for f in fields)))
        return out

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("ideas") and data.get("style") == "custom":
            for name in ("audience", "call_to_action"):
                if not (data.get(name) or "").strip():
                    self.add_error(name, "A custom style needs a target audience and a call to action.")
        return data

    def options(self, **given: Any) -> JobOptions:
        """The job's options from the cleaned form (and `given`, the fields of the form's own kind)."""
        d = self.cleaned_data
        level = d.get("original_level")
        return JobOptions(
            commentary=bool(d.get("commentary")),
            voice=d.get("voice") or next(iter(voice_choices()), ("en-us", ""))[0],
            commentary_style=d.get("commentary_style") or "play-by-play",
            original_level=settings.COMMENTARY_DEFAULT_LEVEL if level is None else level,
            ideas=bool(d.get("ideas")),
            style=d.get("style") or "educator",
            idea_count=d.get("idea_count") or 5,
            custom_style={k: (d.get(k) or "").strip() for k in CUSTOM_STYLE_FIELDS},
            reel_framing=d.get("reel_framing") or REEL_DEFAULTS["reel_framing"],
            reel_aspects=list(d.get("reel_aspects") or REEL_DEFAULTS["reel_aspects"]),
            caption_preset=d.get("caption_preset") or REEL_DEFAULTS["caption_preset"],
            tight_cuts=bool(d.get("tight_cuts")),
            cut_fillers=bool(d.get("cut_fillers")),
            force=bool(d.get("force")),
            **given,
        )

    def job_params(self) -> dict:
        return self.options(
            interval=self.cleaned_data["interval"],
            transcribe=self.cleaned_data["transcribe"],
            speech_language=self.cleaned_data.get("speech_language") or "",
        ).as_params()


class WebhookMixin(forms.Form):
    """An optional webhook for what the form submits, checked as the API checks it (jobs/webhooks.py)."""

    webhook_url = forms.CharField(
        label="Webhook URL (optional)",
        max_length=2000,
        required=False,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/repurposer", "inputmode": "url"}),
        help_text="When the work ends, a signed JSON summary is POSTed here (see “Webhooks” in the README).",
    )

    def clean_webhook_url(self) -> str:
        from jobs import webhooks

        value = (self.cleaned_data.get("webhook_url") or "").strip()
        if not value:
            return ""
        try:
            return webhooks.check_url(value)
        except webhooks.Refused as exc:
            raise forms.ValidationError(exc.message) from None


class UploadForm(WebhookMixin, JobOptionsForm):
    file = forms.FileField(
        label="Video file",
        help_text="MP4, MOV, MKV, WebM, AVI … up to the size limit.",
        widget=forms.ClearableFileInput(attrs={"accept": "video/*,.mkv,.ts,.mxf"}),
    )
    interval = forms.IntegerField(
        label="Chunk length (seconds)",
        min_value=10,
        max_value=120,
        initial=30,
        help_text="Each chunk is about this long (10–120 s); cuts move to the nearest keyframe.",
    )

    transcribe = forms.BooleanField(
        label="Make a transcript",
        required=False,
        initial=True,
        widget=Checkbox,
        help_text="From subtitles in the file or the one below; otherwise offline speech recognition.",
    )
    speech_language = forms.ChoiceField(
        label="Spoken language",
        choices=list(SPEECH_LANGUAGES.items()),
        required=False,
        help_text="For speech recognition; detected from the file or its first seconds when not given.",
    )
    subtitles = forms.FileField(
        label="Subtitles (optional)",
        required=False,
        help_text="An .srt or .vtt file to use as the transcript.",
        widget=forms.ClearableFileInput(attrs={"accept": ".srt,.vtt,text/vtt"}),
    )

    force = forms.BooleanField(
        label="Process it again",
        required=False,
        widget=Checkbox,
        help_text="Otherwise a video you already processed with the same options opens its earlier result.",
    )

    def clean_subtitles(self) -> UploadedFile | None:
        return check_subtitles(self.cleaned_data.get("subtitles"))

    def clean_file(self) -> UploadedFile:
        upload = self.cleaned_data["file"]
        check_upload_size(upload.size)
        return upload


class UploadStartForm(WebhookMixin, JobOptionsForm):
    """Opens a part-by-part upload: what the file is called, how big it is, and the job's options."""

    filename = forms.CharField(max_length=1000)
    size = forms.IntegerField(min_value=0)
    interval = UploadForm.base_fields["interval"]
    transcribe = UploadForm.base_fields["transcribe"]
    speech_language = UploadForm.base_fields["speech_language"]
    subtitles = UploadForm.base_fields["subtitles"]
    force = UploadForm.base_fields["force"]

    def clean_size(self) -> int:
        return check_upload_size(self.cleaned_data["size"])

    def clean_subtitles(self) -> UploadedFile | None:
        return check_subtitles(self.cleaned_data.get("subtitles"))


class YouTubeForm(WebhookMixin, JobOptionsForm):
    url = forms.CharField(
        label="YouTube link",
        max_length=2000,
        widget=forms.TextInput(attrs={"placeholder": "https://www.youtube.com/watch?v=…", "inputmode": "url"}),
    )
    interval = UploadForm.base_fields["interval"]
    download = forms.BooleanField(
        label="Download the video too",
        required=False,
        initial=True,
        widget=Checkbox,
        help_text="Off: only the captions are fetched (quick; nothing to watch).",
    )
    force = UploadForm.base_fields["force"]

    def clean_url(self) -> str:
        from media_pipeline.errors import MediaError
        from media_pipeline.ingest.youtube_url import parse_youtube_url

        try:
            return parse_youtube_url(self.cleaned_data["url"])
        except MediaError as exc:
            raise forms.ValidationError(exc.message) from None

    def job_params(self) -> dict:
        d = self.cleaned_data
        return self.options(video_id=d["url"], interval=d["interval"], download=d["download"]).as_params()


class SignupForm(UserCreationForm):
    """Django's sign-up form with short hints instead of its validator lists (the rules still apply, and a
    password that breaks one gets its own sentence back)."""

    HINTS = {
        "username": "Letters, digits and @ . + - _ only.",
        "password1": "At least 8 characters, not all digits, not like your username.",
        "password2": "The same password again.",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, hint in self.HINTS.items():
            if name in self.fields:
                self.fields[name].help_text = hint
