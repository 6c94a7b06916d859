"""The upload page's one form: each option once, shared by the file and the link; a refused submission comes
back with its sentence and the options as they were."""

from __future__ import annotations

import re

import pytest

from repurposer.forms import UploadForm, YouTubeForm

pytestmark = pytest.mark.django_db


def names(html: str) -> list[str]:
    """The names of the visible controls (not the hidden "0" each checkbox sends first)."""
    controls = re.findall(r"<(?:input|select|textarea)\b[^>]*>", html)
    return [re.search(r'name="([^"]+)"', c)[1] for c in controls if 'type="hidden"' not in c and "name=" in c]


def test_each_option_is_on_the_page_once_under_one_settings_box(alice):
    html = alice.get("/").content.decode()
    assert html.count('<form id="upload-form"') == 1 and html.count('<details class="settings"') == 1
    shown = names(html)
    # Every field of both forms, once: the file and the link in their boxes, all the rest in the Settings. A field
    # of several checkboxes (the reel sizes) has one control per choice, each once.
    fields = {**UploadForm.base_fields, **YouTubeForm.base_fields}
    expected = []
    for name, field in fields.items():
        multiple = getattr(field.widget, "allow_multiple_selected", False) and hasattr(field, "choices")
        expected += [name] * (len(list(field.choices)) if multiple else 1)
    expected += ["sources", "title"]  # the box for many links (a batch: its links and its name)
    assert sorted(shown) == sorted(expected)
    settings = html.split('id="settings-fields"', 1)[1]
    assert 'name="file"' not in settings and 'name="url"' not in settings
    assert re.search(r'<input type="file" name="file"[^>]*multiple', html)
    assert 'formaction="/youtube/"' in html


def test_a_refused_link_keeps_the_options_it_came_with(alice):
    page = alice.post("/youtube/", {"url": "not a link", "idea_count": "7", "interval": "40", "ideas": "on"})
    html = page.content.decode()
    assert page.status_code == 200
    assert page.context["youtube_form"].errors["url"]
    url_errors = html.split('id="url-errors"', 1)[1].split("</div></div>", 1)[0]
    assert "YouTube" in url_errors or "link" in url_errors  # a sentence, beside the box
    assert re.search(r'name="idea_count"[^>]*value="7"', html) and re.search(r'name="interval"[^>]*value="40"', html)


def test_a_bad_option_opens_the_settings_with_its_sentence(alice):
    page = alice.post("/", {"interval": "5"})
    html = page.content.decode()
    assert '<details class="settings" id="settings" open>' in html
    assert "Ensure this value is greater than or equal to 10." in html
