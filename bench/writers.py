"""Writers' quality benchmark: what the offline and LLM writers hand over, judged by the quality suite
(media_pipeline/ideas/quality.py), per real-speech transcript, next to the offline writers as they were on
main before issue 11 (bench/baseline/*_main.py, frozen copies) in the same run.

    .venv/bin/python -m bench.writers [--json bench-results/writers.json]

What runs, per transcript of tests/writer_transcripts.py (a tutorial that lists steps, a podcast, a match,
unpunctuated auto-captions, the espeak-ng talk, and the LibriVox clips when test_asr has fetched them):
  * pieces: 5 ideas and their pieces in the educator and podcast styles;
  * commentary: the transcript cut into 20 s intervals through the real interval analysis (events_for,
    with a made-up but varied picture/sound side), play-by-play, budget from espeak-ng's 2.75 words/s;
  * columns: "main" (the old offline writers), "ours" (the offline writers now), "LLM good" and
    "LLM weak" (generate_ideas_and_pieces / llm_commentary through the app's OpenAI client against the
    loopback fake, answered by tests.writer_transcripts.CannedModel: well-written answers, or a weak model
    whose first answer always reads badly: copied title, made-up steps, cut slides, read-back commentary;
    its column shows what the user gets after the repair round, and how many calls were repairs).
Figures: longest run of consecutive transcript words in titles and slide headings (pieces) or in any
sentence (commentary), duplicated phrases, sentence fragments, the longest title (words / characters),
"Step n" labels on talk that lists no steps, hashtags the speaker never says, and topics that are not
topics (titles naming no subject, headings and hashtags that are verb pairs, adverbs or generic words;
ideas/topics.py), also counted in the chapter titles of the publishing kit (media_pipeline/kit/chapters.py,
offline in every column, so shown for "main" — a frozen copy, bench/baseline/chapters_main.py — and "ours").
Lower is better everywhere.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "repurposer.settings")

from bench.backbone import RESULTS, Row, table  # noqa: E402
from media_pipeline.errors import MediaError  # noqa: E402
from media_pipeline.ideas.quality import Figures  # noqa: E402
from media_pipeline.transcript.types import Segment  # noqa: E402

PRESETS_RUN = ("educator", "podcast")
WPS = 2.75
COLUMNS = ("main", "ours", "LLM good", "LLM weak")


def _offline_pieces(ideas_mod: Any, segments: list[Segment]) -> list[tuple[str, dict[str, Any]]]:
    from media_pipeline.ideas import PRESETS

    duration = segments[-1].end + 1
    out = []
    for preset in PRESETS_RUN:
        style = PRESETS[preset]
        for idea in ideas_mod.offline_ideas(segments, style=style, count=5, duration=duration):
            out.append((idea.kind, ideas_mod.offline_piece(idea, segments, style=style, duration=duration)))
    return out


def _offline_commentary(mod: Any, segments: list[Segment], *, memory: bool) -> list[str]:
    from media_pipeline.commentary import CommentaryMemory, word_budget
    from tests.writer_transcripts import interval_analyses

    kept = CommentaryMemory() if memory else None
    texts, previous = [], None
    for analysis, inside in interval_analyses(segments):
        budget = word_budget(analysis.duration, words_per_second=WPS)
        extra = {"memory": kept} if memory else {}
        text = mod.offline_commentary(analysis, inside, style="play-by-play", budget=budget, previous=previous, **extra)
        texts.append(text)
        previous = text or previous
    return texts


def _llm(fake: Any, segments: list[Segment], mode: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str], int]:
    from media_pipeline.commentary import CommentaryMemory, llm_commentary, offline_commentary, word_budget
    from media_pipeline.ideas import PRESETS, generate_ideas_and_pieces
    from media_pipeline.llm import chat_provider
    from media_pipeline.providers.http import RetryPolicy
    from media_pipeline.providers.registry import Calls
    from tests.writer_transcripts import CannedModel, interval_analyses

    fake.reset()
    fake.chat_reply = CannedModel(mode)
    model = chat_provider("openai").build(
        fake.settings(api_key="sk-bench", LLM_MODEL="fake-model"), Calls(retry=RetryPolicy(max_retries=0))
    )
    duration = segments[-1].end + 1
    pieces = []
    for preset in PRESETS_RUN:
        result = generate_ideas_and_pieces(
            segments=segments, style=PRESETS[preset], count=5, duration=duration, model=model
        )
        pieces += [(p.kind, p.piece) for p in result.pieces if p.ok and p.piece is not None]
    texts, previous, memory = [], None, CommentaryMemory()
    for analysis, inside in interval_analyses(segments):
        budget = word_budget(analysis.duration, words_per_second=WPS)
        try:
            text = llm_commentary(model, analysis, inside, style="play-by-play", budget=budget, previous=previous)
        except MediaError:  # what jobs/intervals.py does: the offline writer stands in
            text = offline_commentary(
                analysis, inside, style="play-by-play", budget=budget, previous=previous, memory=memory
            )
        texts.append(text)
        previous = text or previous
    repairs = sum(1 for r in fake.requests_to("chat") if "could not be used" in json.dumps(r.json))
    return pieces, texts, repairs


def measure() -> dict[str, dict[str, Any]]:
    from tests.fake_providers import FakeProviders
    from tests.writer_transcripts import all_transcripts

    main_ideas = importlib.import_module("bench.baseline.ideas_offline_main")
    main_commentary = importlib.import_module("bench.baseline.commentary_offline_main")
    main_chapters = importlib.import_module("bench.baseline.chapters_main")
    ours_chapters = importlib.import_module("media_pipeline.kit.chapters")
    ours_ideas = importlib.import_module("media_pipeline.ideas.offline")
    ours_commentary = importlib.import_module("media_pipeline.commentary.offline")
    out: dict[str, dict[str, Any]] = {}
    with FakeProviders(api_key="sk-bench") as fake:
        for name, segments in all_transcripts(librivox=True).items():
            row: dict[str, Any] = {}
            runs = {
                "main": (
                    _offline_pieces(main_ideas, segments),
                    _offline_commentary(main_commentary, segments, memory=False),
                    0,
                ),
                "ours": (
                    _offline_pieces(ours_ideas, segments),
                    _offline_commentary(ours_commentary, segments, memory=True),
                    0,
                ),
                "LLM good": _llm(fake, segments, "good"),
                "LLM weak": _llm(fake, segments, "bad-until-repair"),
            }
            chapter_mods = {"main": main_chapters, "ours": ours_chapters}
            for column, (pieces, texts, repairs) in runs.items():
                p, c, k = Figures(), Figures(), Figures()
                p.add_pieces(pieces, segments)
                c.add_commentary(texts, segments)
                titles: list[str] = []
                if column in chapter_mods:
                    found = chapter_mods[column].find_chapters(segments, duration=segments[-1].end + 1)
                    titles = [ch.title for ch in found]
                    k.add_chapters(titles, segments)
                row[column] = {
                    "pieces": {k: v for k, v in asdict(p).items() if k != "problems"},
                    "commentary": {k: v for k, v in asdict(c).items() if k != "problems"},
                    "chapters": {"generic": k.generic, "titles": titles} if column in chapter_mods else None,
                    "repairs": repairs,
                    "examples": [str(x) for x in (p.problems + c.problems + k.problems)[:3]],
                    "generic_examples": [str(x) for x in p.problems + k.problems if x.kind == "generic"][:6],
                }
            out[name] = row
    return out


def rows_for(row: dict[str, Any]) -> list[list[str]]:
    def cells(section: str, key: str) -> list[str]:
        return [str(row[c][section][key]) for c in COLUMNS]

    def titles() -> list[str]:
        return [f"{row[c]['pieces']['title_words_max']} / {row[c]['pieces']['title_chars_max']}" for c in COLUMNS]

    return [
        ["pieces: longest transcript run in a title or heading", *cells("pieces", "longest_quote")],
        ["pieces: duplicated phrases", *cells("pieces", "duplicates")],
        ["pieces: sentence fragments", *cells("pieces", "fragments")],
        ["pieces: longest title, words / chars", *titles()],
        ["pieces: 'Step n' on talk without steps", *cells("pieces", "false_steps")],
        ["pieces: hashtags never said", *cells("pieces", "bad_hashtags")],
        ["pieces: generic or verb-pair titles, headings, tags", *cells("pieces", "generic")],
        [
            "chapters: generic or verb-pair titles",
            *[str((row[c]["chapters"] or {"generic": "-"})["generic"]) for c in COLUMNS],
        ],
        ["commentary: longest transcript run read back", *cells("commentary", "longest_quote")],
        ["commentary: repeated sentences / phrases", *cells("commentary", "duplicates")],
        ["commentary: sentence fragments", *cells("commentary", "fragments")],
        ["LLM repair calls", *[str(row[c]["repairs"]) for c in COLUMNS]],
    ]


def grid(lines: list[list[str]]) -> str:
    header = ["metric", *COLUMNS]
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    text = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *lines]]
    text.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, default=RESULTS / "writers.json")
    args = parser.parse_args(argv)
    import django

    django.setup()
    results = measure()
    totals: dict[str, dict[str, int]] = {c: {} for c in COLUMNS}
    for name, row in results.items():
        print(f"\n== {name} ==")
        print(grid(rows_for(row)))
        for c in COLUMNS:
            for section in ("pieces", "commentary"):
                for key in ("duplicates", "fragments", "false_steps", "bad_hashtags", "generic"):
                    totals[c][f"{section} {key}"] = totals[c].get(f"{section} {key}", 0) + row[c][section][key]
                totals[c][f"{section} longest_quote"] = max(
                    totals[c].get(f"{section} longest_quote", 0), row[c][section]["longest_quote"]
                )
            if row[c]["chapters"] is not None:
                totals[c]["chapters generic"] = totals[c].get("chapters generic", 0) + row[c]["chapters"]["generic"]
    summary = [
        Row(
            metric=f"{key} (all transcripts)",
            ours=str(totals["ours"][key]),
            baseline=str(totals["main"][key]),
            target="≤ 8" if key == "commentary longest_quote" else "≤ 5" if key == "pieces longest_quote" else "0",
            met="yes"
            if totals["ours"][key]
            <= (8 if key == "commentary longest_quote" else 5 if key == "pieces longest_quote" else 0)
            else "NO",
        )
        for key in sorted(totals["ours"])
        if not key.startswith(("commentary false", "commentary bad", "commentary generic"))
    ]
    print("\nOffline writer, ours vs main (baseline), summed over the transcripts:")
    print(table(summary))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
