"""The pages as a user sees them, in headless Chromium at a phone's, a laptop's and a wide screen's width:
nothing wider than the viewport, the player and the first idea visible without scrolling sideways, no
console errors, every control labelled, readable contrast, a visible focus ring. Screenshots go to
bench-results/screens/ (gitignored) for a person to look at."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import connection

from jobs.models import ProcessingTask

from . import media
from .test_browser import browser, in_thread, open_settings  # noqa: F401 (browser is a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
SCREENS = ROOT / "bench-results" / "screens"
WIDTHS = (390, 1366, 1920)

SENTENCES = [
    "Welcome to the talk about shipping small software that people actually use every day.",
    "The first lesson is simple: measure what users do before you change anything at all.",
    "We watched forty people try our sign-up page and most of them gave up on the second field.",
    "Second, write the test first, because a bug found early costs ten times less to fix.",
    "A failing test is a note to your future self that says exactly what you promised.",
    "Third, keep every page fast on a phone; most of your readers are on a small screen.",
    "We cut our page weight in half and the time people spent reading went up by a third.",
    "Here is the surprising part: deleting features made our users happier than adding them.",
    "Every setting you remove is one less question a new user has to answer on day one.",
    "Fourth, write error messages as sentences that tell people what to do next.",
    "Nobody ever fixed a problem because a screen said error four hundred and twelve.",
    "To sum up, measure, test, stay fast, delete with courage and speak plainly.",
    "One team we met shipped a single button and watched it become their most loved feature.",
    "They asked every new user one question after a week: what would you miss if it were gone?",
    "The answers were short, concrete and almost never about the features on the roadmap.",
    "So plan less, listen more, and let the numbers from real use decide the next step.",
    "Small releases make that loop quick: ship on Monday, learn by Wednesday, fix by Friday.",
    "The last lesson is patience, because trust from users grows slowly and breaks quickly.",
    "Thanks for listening, and go make something small that people love to use.",
]


def _srt_time(seconds: float) -> str:
    whole = int(seconds)
    return f"00:{whole // 60:02d}:{whole % 60:02d},{round(seconds % 1 * 1000):03d}"


SIDECAR = "".join(
    f"{i + 1}\n{_srt_time(1 + i * 4.5)} --> {_srt_time(1 + i * 4.5 + 4.2)}\n{text}\n\n"
    for i, text in enumerate(SENTENCES)
)


# Elements wider than the viewport (what a scrolling box clips inside it does not count), and the page's width.
OVERFLOW_JS = """() => {
  const w = document.documentElement.clientWidth;
  const wide = [];
  for (const e of document.querySelectorAll('body *')) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    let clipped = false;
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden') { clipped = true; break; }
    }
    if (!clipped && (r.right > w + 0.5 || r.left < -0.5))
      wide.push(`${e.tagName.toLowerCase()}#${e.id}.${e.className} ${Math.round(r.left)}–${Math.round(r.right)}`);
  }
  const header = document.querySelector('header.top').getBoundingClientRect();
  return {client: w, scroll: document.documentElement.scrollWidth, header: Math.round(header.width), wide: wide.slice(0, 10)};
}"""

# Controls without an accessible name (a <label>, aria-label(ledby), or a button's text).
UNLABELLED_JS = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(e => e.type !== 'hidden')
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby')
               && !(e.tagName === 'BUTTON' && e.textContent.trim()))
  .map(e => e.outerHTML.slice(0, 120))"""

# Text whose contrast with what is behind it is under WCAG AA (4.5:1, or 3:1 for large text).
CONTRAST_JS = """() => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                               return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const opaque = c => { const v = rgb(c); return v.length === 3 || (v.length === 4 && v[3] > 0.5); };
  function behind(e) {
    const s = getComputedStyle(e);
    if (opaque(s.backgroundColor)) return s.backgroundColor;
    if (s.position === 'absolute') {  // laid over a sibling (a label on a bar): ask what is under its middle
      e.scrollIntoView({block: 'center'});
      const r = e.getBoundingClientRect();
      for (const under of document.elementsFromPoint(r.left + r.width / 2, r.top + r.height / 2)) {
        if (under === e || e.contains(under)) continue;
        const bg = getComputedStyle(under).backgroundColor;
        if (opaque(bg)) return bg;
      }
    }
    for (let p = e; p; p = p.parentElement) { const bg = getComputedStyle(p).backgroundColor; if (opaque(bg)) return bg; }
    return 'rgb(255, 255, 255)';
  }
  const bad = [];
  for (const e of document.querySelectorAll('body *')) {
    if (!e.checkVisibility({opacityProperty: true, visibilityProperty: true})) continue;
    if (e.closest('video, svg, [aria-hidden=true]')) continue;
    const box = e.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) continue;  // visually hidden (a skip link until focused)
    const text = [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
    if (!text) continue;
    const s = getComputedStyle(e);
    const l1 = lum(rgb(s.color)), l2 = lum(rgb(behind(e)));
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) bad.push(`${e.tagName.toLowerCase()}.${e.className} "${text.slice(0, 30)}" ${ratio.toFixed(2)}`);
  }
  return bad;
}"""

# Tap targets under 40 px tall (links inside a sentence are exempt; a checkbox counts by its label).
SMALL_TARGETS_JS = """() => [...document.querySelectorAll('a[href], button, input, select, textarea, summary')]
  .filter(e => e.type !== 'hidden' && e.checkVisibility())
  .filter(e => !(e.tagName === 'A' && e.closest('p, small, li.ev')))
  .map(e => (e.type === 'checkbox' && e.labels.length) ? e.labels[0] : e)
  .filter(e => { const r = e.getBoundingClientRect(); return r.width > 1 && (r.height < 40 || r.width < 24); })
  .map(e => `${e.tagName.toLowerCase()}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().height)} px`)"""

# The outline or ring of whatever has the keyboard's focus.
FOCUS_JS = """() => { const e = document.activeElement; if (!e || e === document.body) return null;
  const s = getComputedStyle(e);
  return {what: e.tagName.toLowerCase() + '#' + e.id, outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2,
          ring: s.boxShadow !== 'none'}; }"""


def shoot(page, name: str) -> Path:
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def check_page(page, name: str) -> None:
    """What every page must be at every width: as wide as the screen, labelled, readable, thumb-sized on a
    phone. Saves a screenshot first, so a failure can be looked at."""
    width = page.viewport_size["width"]
    shoot(page, f"{name}-{width}")
    fit = page.evaluate(OVERFLOW_JS)
    assert fit["scroll"] == width and fit["header"] == width and not fit["wide"], (name, fit)
    unlabelled = page.evaluate(UNLABELLED_JS)
    assert unlabelled == [], (name, unlabelled)
    low = page.evaluate(CONTRAST_JS)
    assert low == [], (name, low)
    if width <= 400:
        small = page.evaluate(SMALL_TARGETS_JS)
        assert small == [], (name, small)
    page.evaluate("window.scrollTo(0, 0)")


def check_focus_is_visible(page, presses: int = 12) -> None:
    page.evaluate("document.activeElement && document.activeElement.blur()")
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS_JS)
        if focus is None:
            continue
        assert focus["outline"] or focus["ring"], focus
        seen.append(focus["what"])
    assert len(seen) >= min(presses, 4), seen


def log_in(page, base_url: str) -> None:
    page.goto(base_url + "/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-pass-1234")
    page.click("form button[type=submit]")
    page.wait_for_url(base_url + "/")


def watching(browser, width: int):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return context, page, problems


def run_a_talk(live, page, sample_dir) -> str:
    src = media.h264_aac(sample_dir / "talk.mp4", seconds=len(SENTENCES) * 4.5 + 2, size="640x360")
    srt = sample_dir / "talk.srt"
    srt.write_text(SIDECAR)
    log_in(page, live.base_url)
    page.set_input_files("input[name=file]", str(src))
    open_settings(page)
    page.set_input_files("input[name=subtitles]", str(srt))
    page.fill("#id_interval", "30")
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r"/tasks/[0-9a-f-]{36}/$"), timeout=30_000)
    page.wait_for_function("() => window.repurposerWatch.finished()", timeout=240_000)
    return page.url


def test_the_watch_page_fits_reads_and_follows_playback_at_every_width(live, owner, browser, sample_dir):  # noqa: F811
    context, page, problems = watching(browser, 1366)
    url = run_a_talk(live, page, sample_dir)
    assert "Done" in page.locator("#status-line").inner_text()
    cookies = context.cookies()
    context.close()
    for width in WIDTHS:
        context, page, problems = watching(browser, width)
        context.add_cookies(cookies)
        page.goto(url)
        page.wait_for_function("() => window.repurposerWatch.finished()", timeout=30_000)
        page.wait_for_selector("#idea-2")  # a reel, a carousel and a tweet
        page.wait_for_function("() => document.getElementById('player').readyState >= 2")
        # Lazy images load as they come into view (a jump to the bottom skips the middle, and a strip's images
        # past its edge are never in view): load them all now, for the checks and the screenshot.
        page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach(i => { i.loading = 'eager'; })")
        page.wait_for_function("() => [...document.images].every(i => i.complete)")
        page.evaluate("window.scrollTo(0, 0)")

        # The player and the first idea card are on screen without scrolling sideways.
        for sel in ("#player", ".idea"):
            box = page.locator(sel).first.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (sel, width, box)
        columns = page.evaluate(
            "getComputedStyle(document.getElementById('ideas')).gridTemplateColumns.split(' ').length"
        )
        assert columns == 1 if width < 700 else columns >= 3, (width, columns)

        # Commentary subtitles: a track of the player's own menu, showing, two short lines a cue at most.
        page.wait_for_function(
            "() => [...document.getElementById('player').textTracks].some(t => t.label === 'Commentary' && t.cues && t.cues.length)"
        )
        cues = page.evaluate(
            """() => { const t = [...document.getElementById('player').textTracks].find(t => t.label === 'Commentary');
                       return {mode: t.mode, lines: [...t.cues].map(c => c.text.split('\\n'))}; }"""
        )
        assert cues["mode"] == "showing"
        assert all(len(lines) <= 2 and all(len(x) <= 42 for x in lines) for lines in cues["lines"]), cues

        # The score timeline is as wide as the player, each interval to scale, the current one marked.
        player = page.locator("#player").bounding_box()
        strip = page.locator("#scores").bounding_box()
        assert abs(strip["x"] - player["x"]) < 1 and abs(strip["width"] - player["width"]) < 1
        page.evaluate("() => { const v = document.getElementById('player'); v.pause(); v.currentTime = 40; }")
        page.wait_for_function("() => document.querySelector('#scores .score.current')")
        current = page.locator("#scores .score.current")
        assert current.get_attribute("data-start") == "30" or float(current.get_attribute("data-start")) <= 40
        assert current.locator(".tip").inner_text() == current.get_attribute("data-score")
        bars = page.locator("#scores .score").all()
        lengths = [float(b.get_attribute("data-end")) - float(b.get_attribute("data-start")) for b in bars]
        widths = [b.bounding_box()["width"] for b in bars]
        assert widths[0] / widths[-1] == pytest.approx(lengths[0] / lengths[-1], rel=0.15), (widths, lengths)
        # The transcript follows: the line being spoken is highlighted and in view; a click plays from a line.
        line = page.locator("#transcript .line.current")
        assert float(line.get_attribute("data-start")) <= 40 < float(line.get_attribute("data-end"))
        assert page.locator(".chunk.current .time").inner_text() == "0:30–1:00"
        page.locator("#transcript .line").nth(2).click()
        start = float(page.locator("#transcript .line").nth(2).get_attribute("data-start"))
        page.wait_for_function(f"() => Math.abs(document.getElementById('player').currentTime - {start}) < 1.5")

        # Chunks with their times; the reel shows a frame before it plays; every card has a score badge.
        assert re.fullmatch(r"\d+:\d\d–\d+:\d\d", page.locator(".chunk .time").first.inner_text())
        assert page.locator(".idea video").first.get_attribute("poster")
        badges = page.locator(".idea .badge.score").all_inner_texts()
        assert len(badges) == 3 and all(re.fullmatch(r"Interest \d+", b) for b in badges), badges

        page.evaluate("() => document.getElementById('player').pause()")
        check_page(page, "watch")
        check_focus_is_visible(page)
        assert problems == [], (width, problems)
        context.close()


DROP_JS = """(files) => {
  const dt = new DataTransfer();
  files.forEach(([name, b64]) => dt.items.add(new File([Uint8Array.from(atob(b64), c => c.charCodeAt(0))], name, {type: 'video/mp4'})));
  const zone = document.getElementById('dropzone');
  zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
  zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
}"""


def test_the_upload_page_is_one_card_that_takes_several_files(owner, browser, media_root, h264_file, sample_dir):  # noqa: F811
    import base64

    from .live import running_stack

    with running_stack(connection.settings_dict, media_root, queue=False) as stack:
        for width in WIDTHS:
            context, page, problems = watching(browser, width)
            log_in(page, stack.base_url)
            # The options are folded away, their defaults said in one line.
            assert page.evaluate("document.getElementById('settings').open") is False
            summary = page.locator("#settings-summary").inner_text()
            assert summary.startswith("30 s chunks · commentary") and "5 content ideas" in summary, summary
            assert page.locator("#id_interval").is_hidden()
            check_page(page, "upload")
            check_focus_is_visible(page, presses=6)
            open_settings(page)
            page.fill("#id_interval", "45")
            assert page.locator("#settings-summary").inner_text().startswith("45 s chunks")
            check_page(page, "upload-settings")
            assert problems == [], problems
            context.close()

        # Two files dropped on the zone: each goes up with the part protocol and becomes its own video.
        context, page, problems = watching(browser, 1366)
        log_in(page, stack.base_url)
        other = media.h264_aac(h264_file.with_name("other.mp4"), seconds=6)
        dropped = [
            [name, base64.b64encode(path.read_bytes()).decode()]
            for name, path in [("first.mp4", h264_file), ("second.mp4", other)]
        ]
        page.evaluate(DROP_JS, dropped)
        assert page.locator("#chosen li").all_inner_texts()[0].startswith("first.mp4")
        assert page.locator("#upload-button").inner_text() == "Upload 2 videos as a batch"
        # A slow line (Chromium's own throttle), so the bar has time to say its speed and the time left.
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 120_000},
        )
        page.click("#upload-button")
        page.wait_for_function(
            "() => / of .* · .*\\/s · about .* left$/.test(document.getElementById('upload-detail').textContent)",
            timeout=30_000,
        )
        assert page.locator("#upload-label").inner_text().startswith("Uploading “first.mp4” (1 of 2)")
        assert page.locator(".progress[role=progressbar]").get_attribute("aria-valuenow") is not None
        shoot(page, "upload-progress")
        cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        page.wait_for_url(re.compile(r"/batches/[0-9a-f-]{36}/$"), timeout=60_000)
        tasks = in_thread(lambda: list(ProcessingTask.objects.order_by("created_at").values_list("title", "status")))
        assert tasks == [("first.mp4", "queued"), ("second.mp4", "queued")]
        assert page.locator("#task-rows .task-row").count() == 2
        for width in WIDTHS:  # the batch page, where several uploads end, and "My videos"
            page.set_viewport_size({"width": width, "height": 900})
            check_page(page, "batch")
        page.goto(stack.base_url + "/tasks/")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            check_page(page, "list")
        check_focus_is_visible(page, presses=8)
        assert problems == [], problems
        context.close()


def test_sign_up_shows_short_hints_not_djangos_rules(live, browser):  # noqa: F811
    for width in (390, 1366):
        context, page, problems = watching(browser, width)
        page.goto(live.base_url + "/accounts/login/")
        check_page(page, "login")
        check_focus_is_visible(page, presses=3)  # after the name (autofocus): password, button, link
        page.goto(live.base_url + "/signup/")
        text = page.locator("main").inner_text()
        assert "Your password can’t be too similar" not in text and "Required. 150 characters" not in text
        assert "At least 8 characters" in text
        check_page(page, "signup")
        page.fill("#id_username", "bob")
        page.fill("#id_password1", "12345678")
        page.fill("#id_password2", "12345678")
        page.click("main button[type=submit]")
        assert "entirely numeric" in page.locator("main").inner_text()  # the rule still speaks, in a sentence
        check_page(page, "signup-error")
        assert [p for p in problems if not p.startswith("4")] == [], problems  # the refused form is a 200
        context.close()
