"""What a user may paste as a YouTube link: every usual form is accepted, everything else is refused with a
sentence, without any network access (nothing here opens a socket)."""

from __future__ import annotations

import socket

import pytest

from media_pipeline.errors import MediaError
from media_pipeline.ingest import youtube_url
from media_pipeline.ingest.youtube_url import parse_youtube_url, watch_url

VID = "dQw4w9WgXcQ"

ACCEPTED = [
    VID,
    f"  {VID}\n",
    f"https://www.youtube.com/watch?v={VID}",
    f"http://www.youtube.com/watch?v={VID}",
    f"https://youtube.com/watch?v={VID}",
    f"www.youtube.com/watch?v={VID}",
    f"youtube.com/watch?v={VID}",
    f"//www.youtube.com/watch?v={VID}",
    f"HTTPS://WWW.YOUTUBE.COM/watch?v={VID}",
    f"https://m.youtube.com/watch?v={VID}",
    f"https://music.youtube.com/watch?v={VID}&feature=share",
    f"https://www.youtube.com/watch?v={VID}&t=42s",
    f"https://www.youtube.com/watch?feature=share&v={VID}",
    f"https://www.youtube.com/watch?app=desktop&v={VID}&ab_channel=RickAstley",
    f"https://www.youtube.com/watch?v={VID}&list=PLFgquLnL59alCl_2TQvOiD5Vgm1hCaGSI&index=3",
    f"https://www.youtube.com/watch?v={VID}#t=30",
    f"https://www.youtube.com/watch/?v={VID}",
    f"https://youtu.be/{VID}",
    f"youtu.be/{VID}",
    f"https://youtu.be/{VID}?si=Ab12Cd34Ef56Gh78",
    f"https://youtu.be/{VID}?t=42",
    f"https://youtu.be/{VID}/",
    f"https://www.youtube.com/shorts/{VID}",
    f"https://youtube.com/shorts/{VID}?feature=share",
    f"https://www.youtube.com/embed/{VID}",
    f"https://www.youtube.com/embed/{VID}?autoplay=1&start=10",
    f"https://www.youtube-nocookie.com/embed/{VID}",
    f"https://www.youtube.com/live/{VID}",
    f"https://www.youtube.com/live/{VID}?si=xyz",
    f"https://www.youtube.com/v/{VID}?version=3",
    f"https://www.youtube.com/e/{VID}",
    "https://www.youtube.com/watch?v=-_aZ09-_aZ0",
]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Parsing is pure: any attempt to resolve or connect fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("parse_youtube_url touched the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("text", ACCEPTED)
def test_it_accepts_every_usual_form(text):
    expected = "-_aZ09-_aZ0" if "-_aZ" in text else VID
    assert parse_youtube_url(text) == expected


def test_it_builds_the_canonical_watch_url():
    assert watch_url(VID) == f"https://www.youtube.com/watch?v={VID}"
    assert parse_youtube_url(watch_url(VID)) == VID


NOT_YOUTUBE = youtube_url.NOT_YOUTUBE
IP = "IP addresses cannot be used, only YouTube links; paste the video's youtube.com or youtu.be link, or upload the file."
SHORT_LINK = (
    "Short links from other sites are not followed; open it in your browser and paste the youtube.com address it "
    "leads to."
)
NOT_A_LINK = f"That does not look like a YouTube link; paste one like {youtube_url.EXAMPLE}."
NO_VIDEO = f"That YouTube link does not point to a video; paste a video's link, for example {youtube_url.EXAMPLE}."
BAD_ID = (
    "That YouTube link has no valid video id (11 letters, digits, - or _); copy the link again from the video's "
    "Share button."
)
PAGE = "That is a YouTube page, not a video; open the video and paste its link from the Share button."

REFUSED = [
    # other hosts, and hosts that only look like YouTube
    (f"https://vimeo.com/{VID}", NOT_YOUTUBE),
    (f"https://www.youtube.com.evil.example/watch?v={VID}", NOT_YOUTUBE),
    (f"https://evilyoutube.com/watch?v={VID}", NOT_YOUTUBE),
    (f"https://youtube.co/watch?v={VID}", NOT_YOUTUBE),
    (f"https://www.youtube.com@evil.example/watch?v={VID}", NOT_YOUTUBE),
    (f"https://user:pass@www.youtube.com/watch?v={VID}", NOT_YOUTUBE),
    (f"https://www.yоutube.com/watch?v={VID}", NOT_A_LINK),  # Cyrillic "о"
    (f"https://%77ww.youtube.com/watch?v={VID}", NOT_YOUTUBE),
    (f"https://www.youtube.com:8443/watch?v={VID}", NOT_A_LINK),
    (f"www.youtube.com:8443/watch?v={VID}", NOT_YOUTUBE),
    (f"https://www.youtube.com./watch?v={VID}", NOT_A_LINK),
    (f"https://www.youtube.com\\@evil.example/watch?v={VID}", NOT_A_LINK),
    (f"https://www.youtube.com/watch?v={VID} https://evil.example/", NOT_A_LINK),
    (f"https://www.youtube.com/watch?v={VID}\r\nHost: evil.example", NOT_A_LINK),
    # addresses instead of names: cloud metadata, loopback, private ranges
    ("http://169.254.169.254/latest/meta-data/", IP),
    (f"http://169.254.169.254/watch?v={VID}", IP),
    (f"http://127.0.0.1/watch?v={VID}", IP),
    (f"127.0.0.1:8000/watch?v={VID}", IP),
    (f"127.0.0.1/watch?v={VID}", IP),
    (f"http://[::1]/watch?v={VID}", IP),
    (f"http://[::ffff:127.0.0.1]/watch?v={VID}", IP),
    (f"http://10.0.0.7/watch?v={VID}", IP),
    ("http://localhost:8000/", NOT_YOUTUBE),
    # other schemes
    ("file:///etc/passwd", "Files on a computer cannot be linked; upload the file instead."),
    ("FILE:///C:/Users/me/video.mp4", "Files on a computer cannot be linked; upload the file instead."),
    ("javascript:alert(1)", NOT_YOUTUBE),
    (f"ftp://www.youtube.com/watch?v={VID}", NOT_YOUTUBE),
    ("data:text/html,<script>alert(1)</script>", NOT_YOUTUBE),
    # short links elsewhere are never followed, whatever they redirect to
    ("https://bit.ly/3xYzAbC", SHORT_LINK),
    ("https://t.co/AbCdEfGhIj", SHORT_LINK),
    ("https://tinyurl.com/yt-video", SHORT_LINK),
    ("https://www.youtube.com/redirect?q=https://evil.example/", PAGE),
    # YouTube, but not one video
    ("https://www.youtube.com/playlist?list=PLFgquLnL59alCl_2TQvOiD5Vgm1hCaGSI", youtube_url.PLAYLIST),
    ("https://www.youtube.com/?list=PLFgquLnL59alCl_2TQvOiD5Vgm1hCaGSI", youtube_url.PLAYLIST),
    ("https://www.youtube.com/embed/videoseries?list=PLFgquLnL59alCl_2TQvOiD5Vgm1hCaGSI", youtube_url.PLAYLIST),
    ("https://www.youtube.com/@RickAstleyYT", PAGE),
    ("https://www.youtube.com/channel/UCuAXFkgsw1L7xaCfnd5JJOw", PAGE),
    ("https://www.youtube.com/results?search_query=rick", PAGE),
    ("https://www.youtube.com/clip/UgkxU2HSeGL_NvmDJ-nQJrlLwllwMDBdGZFs", PAGE),
    ("https://www.youtube.com/", NO_VIDEO),
    ("https://youtu.be/", NO_VIDEO),
    ("https://www.youtube.com/watch", NO_VIDEO),
    (f"https://www.youtube.com/watch?v={VID}&v=aaaaaaaaaaa", NO_VIDEO),
    ("https://www.youtube.com/watch?v=short", BAD_ID),
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQQ", BAD_ID),
    ("https://youtu.be/dQw4w9WgX%63Q", BAD_ID),
    ("https://www.youtube.com/shorts/<script>", BAD_ID),
    # not links at all
    ("", f"Paste a YouTube video link, for example {youtube_url.EXAMPLE}."),
    ("   ", f"Paste a YouTube video link, for example {youtube_url.EXAMPLE}."),
    ("dQw4w9WgXc", NOT_YOUTUBE),
    ("rick astley never gonna", NOT_A_LINK),
    ("x" * 3000, "That link is too long to be a YouTube video link; paste the link from the video's Share button."),
]


@pytest.mark.parametrize(("text", "sentence"), REFUSED)
def test_it_refuses_with_a_sentence(text, sentence):
    with pytest.raises(MediaError) as caught:
        parse_youtube_url(text)
    assert caught.value.message == sentence
