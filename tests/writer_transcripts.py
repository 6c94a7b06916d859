"""Transcripts of real-sounding speech for the writers' quality suite (tests/test_writer_quality.py) and
bench/writers.py: what people actually say in a tutorial, a podcast, a match and auto-captions, with the
filler, restarts and run-ons speech has, plus the espeak-ng talk the media tests speak and the LibriVox
clips' texts (fetched with pip on first use, see tests/asr_data.py).

Times are laid out at a speaking rate (words ÷ WPS, a short pause between segments), as a caption track
or the ASR would give them.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from media_pipeline.transcript.types import Segment

WPS = 2.6
GAP = 0.4

ASTERISK = """
Hi everyone, and welcome back to the channel.
Today we are going to set up a small office phone system with Asterisk.
Asterisk is an open source PBX, and it runs happily on a cheap little server.
Like a normal PBX, you will be able to dial extensions, park calls and leave voicemail.
First, install the asterisk package from your distribution, and make sure the service starts on boot.
Then open the PJSIP configuration file, that is pjsip dot conf, and add an endpoint for each desk phone.
Each endpoint needs a username, a password and the codecs the phone supports.
Next, write a dial plan in extensions dot conf, so that extension one hundred rings the reception phone.
The dial plan is just a list of rules, and Asterisk reads them from top to bottom.
Finally, reload Asterisk from the console and place a test call between two phones.
If the call does not go through, check the console for registration errors.
Nine times out of ten it is a wrong password or a firewall blocking the SIP port.
Once that works, voicemail is a two line change in the dial plan.
So that is the whole setup, and in the next video we will connect it to a SIP trunk for outside calls.
"""

PODCAST = """
So, um, I think the thing people get wrong about sleep is they treat it like a luxury.
Yeah, totally, and it's not, it's maintenance, right?
Right, your brain literally clears out waste while you sleep, there is a whole system for it.
The glymphatic system, which I only learned about last year, honestly.
And the research on shift workers is kind of scary, you know, the long term effects.
So what do you actually do, like, practically, if you can't get eight hours?
Well, the first thing is consistency, the same wake up time every day matters more than the total.
Even on weekends?
Even on weekends, that's the hard part, nobody wants to hear that.
And light in the morning, get outside for ten minutes before you look at your phone.
I started doing that and, I mean, it took about two weeks, but I fall asleep way faster now.
Caffeine after two in the afternoon is the other big one, it has a half life of about six hours.
Six hours, wow, so my four o'clock coffee is still half there at ten.
Exactly, and that's why you lie there staring at the ceiling.
"""

MATCH = """
And here they come again down the left wing, Silva with the ball.
He cuts inside, one defender beaten, two defenders beaten!
He shoots and what a goal, what a goal that is!
The keeper had absolutely no chance with that shot, right into the top corner.
That is his fifth goal of the season and the crowd is on its feet.
The visitors need a response now, they are two nil down with twenty minutes to play.
Free kick on the edge of the box, this is a real chance for them.
Over the wall and just wide, the keeper was beaten there.
A yellow card now for the captain, he will miss the next match.
Three minutes of added time, and the home side are holding on.
The referee blows the final whistle, and that is a famous win.
"""

# YouTube's automatic captions: no punctuation, no capitals, lines cut by time.
AUTOCAPS = """
so what we're going to do today is build a budget that you can actually stick to
the first thing i want you to do is open your bank app and look at the last three months
write down every subscription you find because most people have at least two they forgot about
then split your spending into needs wants and savings
the rule of thumb is fifty thirty twenty but honestly any split you can keep is better
next set up an automatic transfer on payday so the savings happen before you can spend them
and finally check in once a week for ten minutes that's it that's the whole system
if you do this for three months you will know exactly where your money goes
"""

# The talk tests/analysis_media.py speaks with espeak-ng.
ESPEAK_TALK = """
Welcome back to the workshop on compilers.
Today we look at how a parser turns tokens into a syntax tree.
The parser reads one token at a time and decides which rule applies.
A recursive descent parser has one function for every rule of the grammar.
When the tokens do not match any rule, the parser reports a syntax error.
Next we will write a parser for arithmetic expressions together.
"""


def timed(text: str, *, wps: float = WPS, start: float = 0.0) -> list[Segment]:
    """One segment per line, timed at `wps` words a second with GAP seconds between lines."""
    out, t = [], start
    for line in (ln.strip() for ln in text.strip().splitlines()):
        if not line:
            continue
        seconds = max(len(line.split()) / wps, 0.8)
        out.append(Segment(round(t, 3), round(t + seconds, 3), line))
        t += seconds + GAP
    return out


TRANSCRIPTS: dict[str, list[Segment]] = {
    "asterisk tutorial": timed(ASTERISK),
    "sleep podcast": timed(PODCAST, wps=3.0),
    "football match": timed(MATCH, wps=3.2),
    "budget auto-captions": timed(AUTOCAPS, wps=2.8),
    "espeak compiler talk": timed(ESPEAK_TALK, wps=2.75),
}


def librivox_transcript() -> list[Segment]:
    """The five LibriVox clips (Sense and Sensibility) one after another, with their real lengths.
    Raises tests.asr_data.DataUnavailable when they cannot be fetched."""
    from tests.asr_data import librivox_clips

    out, t = [], 0.0
    for clip in librivox_clips():
        text = clip.text.strip()
        text = text[:1].upper() + text[1:]
        if text[-1] not in ".!?":
            text += "."
        out.append(Segment(round(t, 3), round(t + clip.seconds, 3), text))
        t += clip.seconds + GAP
    return out


def all_transcripts(*, librivox: bool = True) -> dict[str, list[Segment]]:
    """TRANSCRIPTS, and the LibriVox clips when tests/test_asr.py has already fetched them (fetching is
    slow, up to minutes, and belongs to the ASR tests, which run first)."""
    out = dict(TRANSCRIPTS)
    if librivox:
        from tests.asr_data import CLIPS_DIR, DataUnavailable

        if not CLIPS_DIR.is_dir():
            return out
        try:
            out["librivox clips"] = librivox_transcript()
        except DataUnavailable:
            pass
    return out


def interval_analyses(segments: list[Segment], *, interval: float = 20.0) -> list[tuple[object, list[Segment]]]:
    """(IntervalAnalysis, the interval's segments) for each `interval` seconds of the transcript, through
    the real events_for and keyword context. The picture and sound side is made up but varied and
    deterministic: a cut in every other interval, a loud passage wherever a line ends with "!", a quieter
    level where nobody speaks."""
    from media_pipeline.analysis import KeywordContext, SignalAnalysis, events_for
    from media_pipeline.analysis.signal import Cut, Passage

    end = max(s.end for s in segments) + 2.0
    context = KeywordContext()
    out: list[tuple[object, list[Segment]]] = []
    index, start = 0, 0.0
    while start < end:
        stop = min(start + interval, end)
        inside = [s for s in segments if s.end > start and s.start < stop]
        loud = [Passage(s.start, min(s.end, stop), -6.0) for s in inside if s.text.rstrip().endswith("!")]
        speech = sum(min(s.end, stop) - max(s.start, start) for s in inside)
        median = -24.0 - 3 * (index % 3) if speech > 1 else -55.0
        signal = SignalAnalysis(
            index=index,
            start=start,
            end=stop,
            has_video=True,
            has_audio=True,
            cuts=[Cut(start + 0.4 * (stop - start), 0.8)] if index % 2 else [],
            loud=loud,
            silences=[] if speech > 1 else [Passage(start, stop, -70.0)],
            mean_db=median + 3,
            median_db=median,
            peak_db=-6.0 if loud else median + 6,
        )
        context.update(inside)
        out.append((events_for(signal, inside, keywords_context=context), inside))
        index, start = index + 1, stop
    return out


# --- a model behind the loopback fake (tests/fake_providers.py), answering our real prompts --------------

_LINE = re.compile(r"^\[(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)\] (.*)$", re.M)
_KIND = re.compile(r"You write one social media (reel|image carousel|tweet)")
_SENT = re.compile(r"(?<=[.!?])\s+")


def _printed(text: str) -> str:
    text = " ".join(text.split()).strip(" ,;:")
    if not text:
        return ""
    text = text[:1].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def _topic(quote: str, context: str = "") -> str:
    """The passage's most said noun-looking word ("Parser"), longer words first, else the prompt's, for the
    good canned model's titles."""
    from media_pipeline.analysis.keywords import STOPWORDS
    from media_pipeline.ideas.topics import is_topic

    for text, shortest in ((quote, 5), (quote, 3), (context, 4)):
        words = [w for w in re.findall(r"[A-Za-z]+", text) if len(w) >= shortest and w.lower() not in STOPWORDS]
        counts: dict[str, int] = {}
        for w in words:
            counts[w.lower()] = counts.get(w.lower(), 0) + 1
        ranked = sorted(counts, key=lambda w: (-counts[w], [x.lower() for x in words].index(w)))
        best = next((w for w in ranked if not w.endswith(("ly", "ing")) and is_topic(w, text)), None)
        if best:
            return best[:1].upper() + best[1:]
    return "This"


class CannedModel:
    """A chat_reply hook for FakeProviders: reads the prompts our writers send (ideas, pieces, commentary)
    and answers in JSON as a model would. `mode`:
      "good"          well-written answers that follow the schema;
      "bad"           what weak models do: a transcript sentence as the title, "Step n" labels on talk that
                      lists no steps, slides cut off with "…", a phrase said twice, commentary that reads
                      the transcript back;
      "bad-then-good" the first answer of each kind bad, the repair good;
      "bad-until-repair" every first answer bad, every repair (a prompt naming the problems) good.
    """

    def __init__(self, mode: str = "good") -> None:
        self.mode = mode
        self.seen: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, request_json: dict[str, Any]) -> str:
        from tests.fake_providers import prompt_of

        system, user = prompt_of(request_json)
        if "spoken commentary" in system:
            kind = "commentary"
        else:
            m = _KIND.search(system)
            kind = m.group(1).replace(" ", "_") if m else "ideas"
        with self.lock:
            n = self.seen[kind] = self.seen.get(kind, 0) + 1
        bad = (
            self.mode == "bad"
            or (self.mode == "bad-then-good" and n == 1)
            or (self.mode == "bad-until-repair" and "could not be used" not in user)
        )
        if kind == "ideas":
            return json.dumps(self._ideas(system, user))
        if kind == "commentary":
            return json.dumps(self._commentary(user, bad, n))
        return json.dumps(self._piece(kind, user, bad))

    def _ideas(self, system: str, user: str) -> dict[str, Any]:
        mix = re.search(r"ideas, this mix of kinds: (.*)\.", system).group(1)
        kinds = [k for n, k in re.findall(r"(\d+) (\w+)", mix) for _ in range(int(n))]
        lines = [(float(a), float(b), t) for a, b, t in _LINE.findall(user)]
        block = max(1, len(lines) // len(kinds))
        ideas = []
        for i, kind in enumerate(kinds):
            part = lines[i * block : (i + 1) * block] or lines[-1:]
            chosen = [ln for ln in part if ln[1] - part[0][0] <= 40] or part[:1]
            ideas.append(
                {
                    "kind": kind,
                    "title": f"Moment {i + 1}",
                    "snippet": " ".join(t for _, _, t in chosen),
                    "start": chosen[0][0],
                    "end": max(chosen[-1][1], chosen[0][0] + 6),
                    "reason": "It is a clear moment with one idea in it.",
                }
            )
        return {"ideas": ideas}

    def _piece(self, kind: str, user: str, bad: bool) -> dict[str, Any]:
        start, end = map(float, re.search(r"Range: start ([\d.]+) s, end ([\d.]+) s", user).groups())
        quote = re.search(r"^Quoted: (.*)$", user, re.M).group(1)
        sentences = [_printed(s) for s in _SENT.split(quote) if len(s.split()) >= 3][:5] or [_printed(quote)]
        if bad:
            # A transcript sentence as the title, inside the 80-character limit (so only the quality checks see it).
            title = " ".join(sentences[0].rstrip(".!?").split()[:12])[:78].rsplit(" ", 1)[0]
            slides = [
                {"slide_number": n, "heading": f"Step {n}: {s.split()[0]}", "text": " ".join(s.split()[:5]) + "…"}
                for n, s in enumerate((sentences * 4)[:4], 1)
            ]
            slides[0]["text"] = "When done, when done, when done…"
            tweet = "and so the the"
        else:
            # A headline that names what the passage is about, as a model that read it would.
            topic = _topic(quote, user)
            title = {"reel": f"{topic}: the moment worth a replay", "image_carousel": f"Four points on {topic}"}.get(
                kind, f"One line on {topic}"
            )
            padding = ["Try it yourself this week.", "Save this for later.", "Share it with a friend."]
            texts = sentences + padding
            slides = [{"slide_number": n, "heading": f"Point {n}", "text": t} for n, t in enumerate(texts[:4], 1)]
            tweet = sentences[0]
        if kind == "reel":
            return {
                "title": title,
                "hook": "Next, write a dial plan in…" if bad else "Watch this one",
                "caption": "Worth a replay. Follow for more.",
                "script": quote,
                "visual_suggestions": ["Captions on screen"],
                "hashtags": ["#video"] if bad else [],
                "start": start,
                "end": end,
            }
        if kind == "image_carousel":
            return {"title": title, "caption": "Swipe through. Save it for later.", "slides": slides, "hashtags": []}
        return {"title": title, "tweet": tweet, "thread": sentences[1:3], "hashtags": []}

    def _commentary(self, user: str, bad: bool, n: int) -> dict[str, Any]:
        body = user.split("<transcript>", 1)[-1].split("</transcript>", 1)[0]
        said = " ".join(re.sub(r"^\[[^\]]*\]\s*", "", ln) for ln in body.strip().splitlines())
        if bad and len(said.split()) > 12:
            return {"commentary": "You can hear: " + " ".join(said.split()[:20]) + "."}
        lines = [
            "The speaker moves on to a new point.",
            "A new shot, and the pace holds.",
            "The topic shifts here.",
            "Things get quieter for a moment.",
            "The speaker slows down to explain.",
            "Another point follows.",
        ]
        return {"commentary": lines[n % len(lines)]}
