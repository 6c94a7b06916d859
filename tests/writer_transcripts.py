"""Transcripts of real-sounding speech for the writers' quality suite (tests/test_writer_quality.py) and
bench/writers.py: what people actually say in a tutorial, a podcast, a match and auto-captions, with the
filler, restarts and run-ons speech has, plus the espeak-ng talk the media tests speak and the LibriVox
clips' texts (fetched with pip on first use, see tests/asr_data.py).

Times are laid out at a speaking rate (words ÷ WPS, a short pause between segments), as a caption track
or the ASR would give them.
"""

from __future__ import annotations

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
    """TRANSCRIPTS, and the LibriVox clips when they can be had."""
    out = dict(TRANSCRIPTS)
    if librivox:
        from tests.asr_data import DataUnavailable

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
