"""What a reader would hold against a writer's output, as checks any writer's output can be run through.

Both writers (offline and LLM) and both products (pieces and spoken commentary) are judged the same way:
- **quoting where it should not**: the longest run of consecutive transcript words in a title, a slide
  heading or a hashtag (a headline is written, not copied), and in commentary (spoken over the original,
  so it may quote at most a short line);
- **duplicated phrases**: a run of DUPLICATE_WORDS words said twice inside one field ("what a goal, what a
  goal"; a heading that repeats its slide's opening), and for commentary a sentence said twice in one job;
- **fragments**: a sentence that is cut ("…"), starts in lower case, has no end mark, ends on a word that
  needs another ("and", "the", "with"), or is a dependent clause alone ("When the tokens do not match.");
- **titles within limits**: TITLE_WORDS words and TITLE_CHARS characters at most, not a sentence;
- **labels that lie**: "Step n" headings when the transcript lists no steps, hashtags that are not words
  the transcript says;
- **topics that are not topics** (`generic`): a hashtag, a slide heading or a chapter title that is a verb
  pair ("savings happen"), an adverb ("exactly"), a number or a generic word ("system", "part 2"), and a
  title none of whose transcript phrases names a subject ("Worth sharing"; ideas/topics.py judges).

`piece_problems` lists them for one piece; `repairable` is the subset an LLM is asked to fix in its repair
round (hashtags and generic topics are reported, not repaired: a model may fairly generalise a tag).
`Figures` sums a run up for bench/writers.py. Plain functions on plain data: nothing here knows Django.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from media_pipeline.transcript.types import Segment

from ..analysis.sentences import split_sentences
from .styles import PRESET_HASHTAGS
from .topics import topic_problem

TITLE_WORDS = 10
TITLE_CHARS = 70
TITLE_QUOTE_MAX = 5  # a key phrase or a name may be quoted; a clause may not
HEADING_QUOTE_MAX = 5
COMMENTARY_QUOTE_MAX = 8
DUPLICATE_WORDS = 3

_WORD = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?")
_DANGLING = frozenset(
    "and or but the a an of to with for from by because my your their our his her its these those very".split()
)
_DEPENDENT = re.compile(r"^(?:when|whenever|if|unless|because|although|though|while|whereas|until)\b", re.I)
_STEP_LABEL = re.compile(r"^\s*step\s+\d+\b", re.I)
_STEP_MARKER = re.compile(
    r"(?:^|[.!?]\s+|,\s*)(?:so\s+|and\s+|now\s+)?(?:first(?:ly)?|then|next|after that|finally|lastly|"
    r"step (?:one|two|three|\d+))\b",
    re.I,
)


STYLE_TAGS = frozenset(t.lower() for t in PRESET_HASHTAGS.values())


@dataclass(frozen=True)
class Problem:
    where: str  # "title", "slides[2].text", "interval 4"
    kind: str  # quote | duplicate | fragment | title | steps | hashtag | generic
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.detail}"


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def longest_quote(text: str, transcript: list[str]) -> int:
    """The longest run of consecutive words of `text` that the transcript says in the same order."""
    mine = words(text)
    if not mine or not transcript:
        return 0
    match = SequenceMatcher(None, mine, transcript, autojunk=False).find_longest_match(0, len(mine), 0, len(transcript))
    return match.size


def duplicated_phrases(text: str, n: int = DUPLICATE_WORDS) -> list[str]:
    """Runs of `n` words said more than once in `text`, and shorter runs said twice in a row ("when done,
    when done")."""
    w = words(text)
    grams = Counter(" ".join(w[i : i + n]) for i in range(len(w) - n + 1))
    out = [g for g, c in grams.items() if c > 1]
    for size in range(2, n):
        for i in range(len(w) - 2 * size + 1):
            run = " ".join(w[i : i + size])
            if w[i : i + size] == w[i + size : i + 2 * size] and run not in out:
                out.append(run)
    return out


def sentences(text: str) -> list[str]:
    return split_sentences(text)


def fragment_reason(sentence: str) -> str | None:
    """Why `sentence` reads as a fragment, or None."""
    s = sentence.strip().strip("\"'“”‘’")
    w = words(s)
    if s.endswith(("…", "...")):
        return "is cut off"
    if len(w) < 2:
        return "is a single word"
    if s[:1].islower():
        return "starts in lower case"
    if s[-1:] not in ".!?":
        return "has no end mark"
    if w[-1] in _DANGLING:
        return f"ends on “{w[-1]}”"
    if _DEPENDENT.match(s) and "," not in s:
        return "is a dependent clause alone"
    return None


def fragments(text: str) -> list[str]:
    """`sentence (reason)` for each fragment in `text`."""
    out = []
    for s in sentences(text):
        reason = fragment_reason(s)
        if reason:
            out.append(f"“{s}” {reason}")
    return out


def transcript_words(segments: Iterable[Segment]) -> list[str]:
    return words(" ".join(s.text for s in segments))


def lists_steps(segments: Iterable[Segment]) -> bool:
    """The speaker lists steps: at least three step markers (first, then, next, finally, step two)."""
    return len(_STEP_MARKER.findall(" ".join(s.text for s in segments))) >= 3


def title_problems(title: str, transcript: list[str], where: str = "title") -> list[Problem]:
    out = []
    n = len(words(title))
    if n > TITLE_WORDS or len(title) > TITLE_CHARS:
        out.append(Problem(where, "title", f"“{title}” is too long ({n} words, {len(title)} characters)"))
    if title.rstrip().endswith(("…", "...", ":", ",")) or n < 2:
        out.append(Problem(where, "title", f"“{title}” is not a finished headline"))
    run = longest_quote(title, transcript)
    if run > TITLE_QUOTE_MAX:
        out.append(Problem(where, "quote", f"“{title}” copies {run} words of the transcript in a row"))
    return out


# Words of a headline's frame, not its topic ("What to know about X", "X in 30 seconds", "X: one takeaway").
_HEADLINE_WORDS = frozenset(
    """
    what know about explained key points point takeaway takeaways line short version moment watch worth
    sharing share steps step seconds minutes in on and the a an of to how why when your you one quick lesson
    guide tips things
    """.split()
)


def _phrases_in(text: str, transcript: list[str]) -> list[str]:
    """The runs of `text`'s words that are transcript words and not a headline's frame or filler, as
    written in `text` ("Dial plan in 4 steps" → ["Dial plan"])."""
    from media_pipeline.analysis.keywords import STOPWORDS

    said = set(transcript)
    runs: list[list[str]] = [[]]
    for w in re.findall(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]|[A-Za-z]", text):
        low = w.lower()
        if low in said and low not in STOPWORDS and low not in _HEADLINE_WORDS:
            runs[-1].append(w)
        elif runs[-1]:
            runs.append([])
    return [" ".join(r) for r in runs if r]


def topic_label_problem(where: str, label: str, transcript_text: str) -> Problem | None:
    """A hashtag's, heading's or chapter title's phrase that is not a topic (a verb pair, a generic word)."""
    why = topic_problem(label, transcript_text)
    return None if why is None else Problem(where, "generic", f"“{label}”: {why}")


def title_topic_problem(
    title: str, transcript: list[str], transcript_text: str, where: str = "title"
) -> Problem | None:
    """A title names a subject when at least one of its transcript phrases is a topic; "Worth sharing",
    "Savings happen in 28 seconds" and "Exactly and finally" name none."""
    runs = _phrases_in(title, transcript)
    if any(topic_problem(r, transcript_text) is None for r in runs):
        return None
    why = "; ".join(filter(None, (topic_problem(r, transcript_text) for r in runs))) or "no topic of the transcript"
    return Problem(where, "generic", f"“{title}” names no subject ({why})")


def chapter_problems(titles: list[str], segments: list[Segment]) -> list[Problem]:
    """Chapter titles ("Intro: PBX and Asterisk", "Dial plan"): each named part must be a topic."""
    text = " ".join(s.text for s in segments)
    out = []
    for i, title in enumerate(titles):
        body = re.sub(r"^intro\b:?\s*", "", title, flags=re.I)
        if not body:
            continue  # a bare "Intro" says where, not what
        for part in re.split(r"\s+(?:and|&)\s+|\s*,\s*", body):
            problem = topic_label_problem(f"chapters[{i}]", part, text) if part else None
            if problem is not None:
                out.append(problem)
    return out


def _text_problems(where: str, text: str, *, sentences_expected: bool) -> list[Problem]:
    out = [Problem(where, "duplicate", f"says “{d}” twice") for d in duplicated_phrases(text)]
    if sentences_expected:
        out += [Problem(where, "fragment", f) for f in fragments(text)]
    return out


def piece_problems(kind: str, piece: dict[str, Any], segments: list[Segment]) -> list[Problem]:
    """Everything `piece` (a validated piece of `kind`) gets wrong, judged against its transcript."""
    transcript = transcript_words(segments)
    said = " " + " ".join(transcript) + " "
    spoken = " ".join(s.text for s in segments)
    out = title_problems(str(piece.get("title", "")), transcript)
    generic_title = title_topic_problem(str(piece.get("title", "")), transcript, spoken)
    if generic_title is not None:
        out.append(generic_title)
    if kind == "reel":
        hook = str(piece.get("hook", ""))
        if hook.rstrip().endswith(("…", "...")) or len(words(hook)) < 2:
            out.append(Problem("hook", "fragment", f"“{hook}” is cut off"))
        out += _text_problems("hook", hook, sentences_expected=False)
        out += _text_problems("caption", str(piece.get("caption", "")), sentences_expected=True)
    elif kind == "image_carousel":
        steps = lists_steps(segments)
        for i, slide in enumerate(piece.get("slides") or []):
            heading, text = str(slide.get("heading", "")), str(slide.get("text", ""))
            out += _text_problems(f"slides[{i}].text", text, sentences_expected=True)
            body = re.sub(r"^\s*step\s+\d+\s*:?\s*", "", heading, flags=re.I)
            run = longest_quote(body, transcript)
            if run > HEADING_QUOTE_MAX:
                out.append(Problem(f"slides[{i}].heading", "quote", f"“{heading}” copies {run} transcript words"))
            if body and words(text)[: len(words(body))] == words(body) and len(words(body)) >= DUPLICATE_WORDS:
                out.append(Problem(f"slides[{i}]", "duplicate", f"the heading “{heading}” repeats the text's opening"))
            if body.rstrip().endswith(("…", "...")):
                out.append(Problem(f"slides[{i}].heading", "fragment", f"“{heading}” is cut off"))
            for phrase in _phrases_in(body, transcript):
                problem = topic_label_problem(f"slides[{i}].heading", phrase, spoken)
                if problem is not None:
                    out.append(problem)
            if _STEP_LABEL.match(heading) and not steps:
                out.append(Problem(f"slides[{i}].heading", "steps", f"“{heading}”: the transcript lists no steps"))
        out += _text_problems("caption", str(piece.get("caption", "")), sentences_expected=True)
    else:
        out += _text_problems("tweet", str(piece.get("tweet", "")), sentences_expected=True)
        for i, tweet in enumerate(piece.get("thread") or []):
            out += _text_problems(f"thread[{i}]", str(tweet), sentences_expected=True)
    for tag in piece.get("hashtags") or []:
        parts = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", str(tag).lstrip("#"))
        phrase = " ".join(p.lower() for p in parts)
        if str(tag).lower() in STYLE_TAGS:
            continue  # the style's own tag, which every piece in that style may carry
        if phrase and f" {phrase} " not in said:
            out.append(Problem("hashtags", "hashtag", f"{tag} is not something the speaker says"))
        elif phrase:
            # As written in the tag ("#PBX", "#Silva" are names; "#hang" is a verb, "#system" says nothing).
            problem = topic_label_problem("hashtags", " ".join(parts), spoken)
            if problem is not None:
                out.append(problem)
    return out


def repairable(problems: list[Problem]) -> list[Problem]:
    """What a model is asked to fix: quoting, duplicates, fragments, titles and made-up step labels.
    Hashtags and generic topics are only reported (a model may fairly generalise a tag; the topic check
    is a heuristic, not worth a round trip)."""
    return [p for p in problems if p.kind not in ("hashtag", "generic")]


def commentary_problems(texts: list[str], segments: list[Segment]) -> list[Problem]:
    """A job's commentary, interval by interval: quotes longer than COMMENTARY_QUOTE_MAX words, sentences
    said twice in the job, duplicated phrases and fragments."""
    transcript = transcript_words(segments)
    out: list[Problem] = []
    seen: dict[str, int] = {}
    for i, text in enumerate(texts):
        where = f"interval {i}"
        for sentence in sentences(text):
            run = longest_quote(sentence, transcript)
            if run > COMMENTARY_QUOTE_MAX:
                out.append(Problem(where, "quote", f"reads {run} transcript words back: “{sentence}”"))
            key = " ".join(words(sentence))
            if key in seen:
                out.append(Problem(where, "duplicate", f"“{sentence}” was already said in interval {seen[key]}"))
            else:
                seen[key] = i
        out += _text_problems(where, text, sentences_expected=True)
    return out


@dataclass
class Figures:
    """One writer's run summed up (bench/writers.py prints these side by side)."""

    longest_quote: int = 0  # in titles, headings and commentary: where it should not quote
    duplicates: int = 0
    fragments: int = 0
    title_words_max: int = 0
    title_chars_max: int = 0
    false_steps: int = 0
    bad_hashtags: int = 0
    generic: int = 0  # titles, headings, hashtags and chapter titles that are verb pairs or generic words
    problems: list[Problem] = field(default_factory=list)

    def add_pieces(self, pieces: list[tuple[str, dict[str, Any]]], segments: list[Segment]) -> None:
        transcript = transcript_words(segments)
        for kind, piece in pieces:
            title = str(piece.get("title", ""))
            self.title_words_max = max(self.title_words_max, len(words(title)))
            self.title_chars_max = max(self.title_chars_max, len(title))
            heads = [str(s.get("heading", "")) for s in piece.get("slides") or []]
            for text in [title, *heads]:
                self.longest_quote = max(self.longest_quote, longest_quote(text, transcript))
            self._count(piece_problems(kind, piece, segments))

    def add_chapters(self, titles: list[str], segments: list[Segment]) -> None:
        self._count(chapter_problems(titles, segments))

    def add_commentary(self, texts: list[str], segments: list[Segment]) -> None:
        transcript = transcript_words(segments)
        for text in texts:
            for sentence in sentences(text):
                self.longest_quote = max(self.longest_quote, longest_quote(sentence, transcript))
        self._count(commentary_problems(texts, segments))

    def _count(self, problems: list[Problem]) -> None:
        self.problems += problems
        for p in problems:
            if p.kind == "duplicate":
                self.duplicates += 1
            elif p.kind == "fragment":
                self.fragments += 1
            elif p.kind == "steps":
                self.false_steps += 1
            elif p.kind == "hashtag":
                self.bad_hashtags += 1
            elif p.kind == "generic":
                self.generic += 1
