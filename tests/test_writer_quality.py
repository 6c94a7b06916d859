"""The writers' quality suite: the offline writers and the LLM writers (through the loopback fake, with
canned good and bad answers) judged by media_pipeline/ideas/quality.py on real-sounding speech
(tests/writer_transcripts.py: a tutorial, a podcast, a match, auto-captions, the espeak-ng talk and the
LibriVox clips). bench/writers.py prints the same figures as a table."""

from __future__ import annotations

import json

import pytest

from media_pipeline.commentary import STYLES, CommentaryMemory, llm_commentary, offline_commentary, word_budget
from media_pipeline.errors import MediaError
from media_pipeline.ideas import PRESETS, generate_ideas_and_pieces, offline_ideas, offline_piece
from media_pipeline.ideas.quality import (
    Figures,
    chapter_problems,
    commentary_problems,
    fragments,
    longest_quote,
    piece_problems,
    transcript_words,
)
from media_pipeline.ideas.topics import topic_problem
from media_pipeline.kit.chapters import find_chapters
from media_pipeline.llm import chat_provider
from media_pipeline.providers.http import RetryPolicy
from media_pipeline.providers.registry import Calls
from media_pipeline.transcript.types import Segment
from tests.fake_providers import FakeProviders, answer_errors, prompt_of, schema_of
from tests.writer_transcripts import TRANSCRIPTS, CannedModel, all_transcripts, interval_analyses

WPS = 2.75  # espeak-ng at 165 words a minute


@pytest.fixture(scope="module")
def transcripts() -> dict[str, list[Segment]]:
    return all_transcripts(librivox=True)


def duration_of(segments: list[Segment]) -> float:
    return segments[-1].end + 1.0


def offline_pieces(segments: list[Segment], preset: str, count: int = 5) -> list[tuple[str, dict]]:
    style, duration = PRESETS[preset], duration_of(segments)
    ideas = offline_ideas(segments, style=style, count=count, duration=duration)
    return [(i.kind, offline_piece(i, segments, style=style, duration=duration)) for i in ideas]


def offline_job(segments: list[Segment], style: str, *, interval: float = 20.0) -> list[str]:
    memory, previous, texts = CommentaryMemory(), None, []
    for analysis, inside in interval_analyses(segments, interval=interval):
        budget = word_budget(analysis.duration, words_per_second=WPS)
        text = offline_commentary(analysis, inside, style=style, budget=budget, previous=previous, memory=memory)
        assert len(text.split()) <= budget
        texts.append(text)
        previous = text or previous
    return texts


# --- the checks themselves catch what a reader would --------------------------------------------------------


def test_the_checks_catch_what_the_old_writers_did():
    talk = TRANSCRIPTS["sleep podcast"]
    first = talk[0].text
    bad = {
        "title": first,
        "caption": "Key points on sleep, system and hours.",
        "slides": [
            {"heading": "Step 1: Weasels have even our phone system", "text": "Weasels have even our phone system."},
            {"heading": "Step 4: When done", "text": "When done — When done…"},
            {"heading": "Sleep", "text": "and the research on shift workers is kind of"},
        ],
        "hashtags": ["#SourcePbx", "#sleep"],
    }
    kinds = {p.kind for p in piece_problems("image_carousel", bad, talk)}
    assert kinds == {"title", "quote", "steps", "fragment", "duplicate", "hashtag"}, piece_problems(
        "image_carousel", bad, talk
    )
    text = " ".join(str(p) for p in piece_problems("image_carousel", bad, talk))
    assert "#SourcePbx" in text and "#sleep" not in text  # "sleep" is said; "source pbx" is not
    assert "lists no steps" in text and "is cut off" in text and "lower case" in text and "“when done” twice" in text

    readback = ["You can hear: " + talk[2].text, "The pace picks up.", "The pace picks up."]
    found = commentary_problems(readback, talk)
    assert [p.kind for p in found] == ["quote", "duplicate"], found

    assert fragments("He shoots and what a goal that is! It goes on.") == []
    assert fragments("When the tokens do not match any rule.") and fragments("It ends with the.")
    assert (
        longest_quote("We talk about the glymphatic system today", transcript_words(talk)) == 3
    )  # "the glymphatic system"


def test_topics_are_noun_phrases_not_verb_pairs_or_generic_words():
    budget, match, podcast = (TRANSCRIPTS[n] for n in ("budget auto-captions", "football match", "sleep podcast"))
    said = " ".join(s.text for s in budget)
    # What YAKE and tf-idf let through on these talks, and what a creator would post under.
    assert topic_problem("savings happen", said) and topic_problem("build", said)  # a clause; "build a budget"
    assert topic_problem("exactly", said) and topic_problem("three months", said)
    assert topic_problem("beaten", " ".join(s.text for s in match)) and topic_problem("system")
    for good, segs in (("savings", budget), ("bank app", budget), ("Silva", match), ("final whistle", match)):
        assert topic_problem(good, " ".join(s.text for s in segs)) is None, good
    assert topic_problem("glymphatic system") is None and topic_problem("PBX") is None
    piece = {
        "title": "Savings happen in 28 seconds",
        "hook": "Where the money goes",
        "caption": "Build the habit.",
        "hashtags": ["#learning", "#savings", "#exactly", "#SavingsHappen"],
    }
    found = [p for p in piece_problems("reel", piece, budget) if p.kind == "generic"]
    assert [p.where for p in found] == ["title", "hashtags", "hashtags"], found
    assert [
        p.kind for p in piece_problems("tweet", {"title": "Worth sharing", "tweet": "Sleep is maintenance."}, podcast)
    ] == ["generic"]
    found = chapter_problems(["Intro: Goal and Beaten", "Part 2", "Final Whistle and Yellow Card"], match)
    assert [(p.where, p.detail.split("”")[0]) for p in found] == [
        ("chapters[0]", "“Beaten"),
        ("chapters[1]", "“Part 2"),
    ]


def test_offline_chapter_titles_name_topics_on_every_transcript(transcripts):
    for name, segments in transcripts.items():
        chapters = find_chapters(segments, duration=duration_of(segments))
        assert chapters, name
        assert chapter_problems([c.title for c in chapters], segments) == [], (name, [c.title for c in chapters])


# --- offline writers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_offline_pieces_pass_the_suite_on_every_transcript(transcripts, preset):
    for name, segments in transcripts.items():
        pieces = offline_pieces(segments, preset)
        assert pieces, name
        for kind, piece in pieces:
            assert piece_problems(kind, piece, segments) == [], (name, preset, kind, piece)
            # A title is a headline from key phrases, never the opening sentence.
            assert piece["title"].rstrip(".") not in segments[0].text


def test_steps_are_labelled_only_where_the_speaker_lists_them():
    tutorial = offline_pieces(TRANSCRIPTS["asterisk tutorial"], "educator", count=3)
    (carousel,) = [p for k, p in tutorial if k == "image_carousel"]
    headings = [s["heading"] for s in carousel["slides"]]
    assert [h.split(":")[0] for h in headings] == ["Step 1", "Step 2", "Step 3", "Step 4"], headings
    # The steps, in order, as whole sentences without "First," / "Then" / "Next," / "Finally,".
    assert [s["text"].split()[0] for s in carousel["slides"]] == ["Install", "Open", "Write", "Reload"]
    assert "4 steps" in carousel["title"] and "4 steps" in carousel["caption"]
    for name in ("sleep podcast", "football match", "espeak compiler talk"):
        for preset in PRESETS:
            for _kind, piece in offline_pieces(TRANSCRIPTS[name], preset):
                assert not any(s["heading"].startswith("Step") for s in piece.get("slides", [])), (name, preset)


@pytest.mark.parametrize("style", sorted(STYLES))
def test_offline_commentary_passes_the_suite_on_every_transcript(transcripts, style):
    for name, segments in transcripts.items():
        texts = offline_job(segments, style)
        assert commentary_problems(texts, segments) == [], (name, style, texts)
        if style != "highlights":
            assert sum(1 for t in texts if t) >= len(texts) // 2, (name, texts)


def test_offline_commentary_says_what_changes_and_never_repeats_itself():
    segments = TRANSCRIPTS["asterisk tutorial"] + [
        Segment(s.start + 200, s.end + 200, s.text) for s in TRANSCRIPTS["sleep podcast"]
    ]
    texts = offline_job(segments, "play-by-play")
    said = [s for t in texts for s in t.split(". ") if s]
    assert len(said) == len(set(said))
    joined = " ".join(texts)
    # A new topic, a new shot and the speaker's pace are named; the transcript is quoted at most 8 words at a time.
    assert "PBX" in joined and (
        "turns to" in joined or "topic" in joined or "On to" in joined or "Next comes" in joined
    )
    assert "shot" in joined or "angle" in joined or "camera" in joined
    assert Figures().longest_quote == 0
    figures = Figures()
    figures.add_commentary(texts, segments)
    assert 0 < figures.longest_quote <= 8 and figures.duplicates == 0 and figures.fragments == 0


# --- LLM writers through the loopback fake ------------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    with FakeProviders(api_key="sk-quality") as fake:
        yield fake


@pytest.fixture
def fake(server):
    server.reset()
    yield server
    assert server.errors == []


def model_of(fake):
    conf = fake.settings(api_key="sk-quality", LLM_MODEL="fake-model")
    return chat_provider("openai").build(conf, Calls(retry=RetryPolicy(max_retries=0)))


def llm_run(fake, segments: list[Segment], mode: str, preset: str = "educator"):
    fake.chat_reply = CannedModel(mode)
    return generate_ideas_and_pieces(
        segments=segments, style=PRESETS[preset], count=3, duration=duration_of(segments), model=model_of(fake)
    )


def test_good_model_answers_pass_the_suite_first_time(fake, transcripts):
    for name, segments in transcripts.items():
        fake.reset()
        result = llm_run(fake, segments, "good")
        for piece in result.pieces:
            assert piece.ok and piece.provider == "openai" and piece.attempts == 1, (name, piece)
            assert piece_problems(piece.kind, piece.piece, segments) == []
        for request in fake.requests_to("chat"):  # each answer followed the schema that was sent
            assert answer_errors(json.loads(CannedModel("good")(request.json)), schema_of(request.json)) == []


def test_bad_model_answers_are_repaired_with_the_problems_named(fake):
    segments = TRANSCRIPTS["sleep podcast"]
    result = llm_run(fake, segments, "bad-then-good")
    for piece in result.pieces:
        assert piece.ok and piece.provider == "openai" and piece.attempts == 2, piece
        assert piece_problems(piece.kind, piece.piece, segments) == []
    repairs = [user for _, user in (prompt_of(r.json) for r in fake.requests_to("chat")) if "could not be used" in user]
    assert len(repairs) == 3
    told = "\n".join(repairs)
    assert "copies" in told and "transcript lists no steps" in told and "is cut off" in told


def test_bad_model_answers_twice_are_caught_and_made_offline(fake):
    segments = TRANSCRIPTS["sleep podcast"]
    result = llm_run(fake, segments, "bad")
    for piece in result.pieces:
        assert piece.ok and piece.provider == "offline" and piece.attempts == 2, piece
        assert "read badly twice" in piece.reason
        assert piece_problems(piece.kind, piece.piece, segments) == []


def test_llm_commentary_that_reads_the_transcript_back_is_repaired_or_refused(fake):
    segments = TRANSCRIPTS["asterisk tutorial"]
    analysis, inside = interval_analyses(segments)[0]
    fake.chat_reply = CannedModel("bad-then-good")
    text = llm_commentary(model_of(fake), analysis, inside, style="play-by-play", budget=40)
    assert commentary_problems([text], segments) == [] and text
    first, second = fake.requests_to("chat")
    assert "reads 20 words of the transcript back" in prompt_of(second.json)[1]
    assert schema_of(first.json)["required"] == ["commentary"]
    fake.reset()
    fake.chat_reply = CannedModel("bad")
    with pytest.raises(MediaError, match="did not return usable commentary"):
        llm_commentary(model_of(fake), analysis, inside, style="play-by-play", budget=40)
