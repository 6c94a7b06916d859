// Publishing kit panel (templates/tasks/_kit.html): chapters with a copy button and a strip under the player,
// title suggestions and the description, thumbnails with "another frame" / "another title". It listens to the
// events the watch page receives (watch.js re-dispatches each one as a "repurposer:event" DOM event).
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var video = $("player");
  var box = $("kit-box");
  if (!box) return;

  function fmt(s) {
    s = Math.floor(s);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(sec).padStart(2, "0");
  }
  function seek(t) {
    if (!video) return;
    video.currentTime = t;
    video.play().catch(function () {});
  }
  function copy(text, button) {
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(text); done(); });
    } else { fallback(text); done(); }
  }
  function fallback(text) { // http:// pages have no clipboard API: select a hidden textarea and copy it
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed"; area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* the text stays selectable on the page */ }
    document.body.removeChild(area);
  }

  var chapterText = "";
  var descriptionText = "";
  $("kit-copy-chapters").addEventListener("click", function (ev) { copy(chapterText, ev.currentTarget); });
  $("kit-copy-description").addEventListener("click", function (ev) { copy(descriptionText, ev.currentTarget); });

  function chaptersTrack(url) {
    // The player's chapters track (<track kind="chapters">), replaced when the chapters are announced again.
    if (!video) return;
    var old = video.querySelector('track[kind="chapters"]');
    if (old) video.removeChild(old);
    var track = document.createElement("track");
    track.kind = "chapters";
    track.label = "Chapters";
    track.srclang = "en";
    track.src = url;
    track.default = true;
    video.appendChild(track);
  }

  function showChapters(d) {
    box.hidden = false;
    $("kit-chapters").hidden = false;
    chapterText = d.list || "";
    var list = $("kit-chapter-list"), strip = $("kit-strip");
    list.textContent = ""; strip.textContent = "";
    var total = d.chapters.length ? d.chapters[d.chapters.length - 1].end : 0;
    d.chapters.forEach(function (c) {
      var li = document.createElement("li");
      var at = document.createElement("a");
      at.href = "#t=" + c.start;
      at.textContent = fmt(c.start);
      at.addEventListener("click", function (ev) { ev.preventDefault(); seek(c.start); });
      li.appendChild(at);
      li.appendChild(document.createTextNode(c.title));
      list.appendChild(li);
      var b = document.createElement("button");
      b.type = "button";
      b.style.flexGrow = String(Math.max(c.end - c.start, 0.1) / Math.max(total, 1));
      b.title = fmt(c.start) + " " + c.title;
      b.setAttribute("aria-label", "Jump to " + fmt(c.start) + ", " + c.title);
      b.addEventListener("click", function () { seek(c.start); });
      strip.appendChild(b);
    });
    $("kit-vtt").href = d.vtt_url + "?download=1";
    $("kit-chaptered").hidden = !d.video_url;
    if (d.video_url) $("kit-chaptered").href = d.video_url + "?download=1";
    $("kit-chapters-note").hidden = !d.note;
    $("kit-chapters-note").textContent = d.note || "";
    chaptersTrack(d.vtt_url);
  }

  function showTitles(d) {
    box.hidden = false;
    $("kit-titles").hidden = false;
    $("kit-titles-by").textContent = d.provider && d.provider !== "offline" ? "(written by " + d.provider + ")" : "(from the transcript)";
    var list = $("kit-title-list");
    list.textContent = "";
    d.titles.forEach(function (t) {
      var li = document.createElement("li");
      var span = document.createElement("span");
      span.textContent = t;
      var right = document.createElement("span");
      right.className = "len";
      right.textContent = t.length + " chars ";
      var b = document.createElement("button");
      b.type = "button"; b.className = "small"; b.textContent = "Copy";
      b.addEventListener("click", function () { copy(t, b); });
      right.appendChild(b);
      li.appendChild(span); li.appendChild(right);
      list.appendChild(li);
    });
    descriptionText = d.description || "";
    $("kit-description").value = descriptionText;
    if (d.notes && d.notes.length) $("kit-note").textContent = d.notes.join(" ");
  }

  var thumbs = {};
  function csrf() { return (document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/) || [])[1] || ""; }
  function regenerate(d, what, button) {
    button.disabled = true;
    fetch(d.regenerate_url, {
      method: "POST",
      headers: { "X-CSRFToken": csrf(), "Content-Type": "application/json", "Accept": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ kind: d.kind, slot: d.slot, change: what }),
    }).then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (r) { if (!r.ok) { button.disabled = false; button.title = r.body.error || "Could not regenerate."; } })
      .catch(function () { button.disabled = false; });
  }
  function showThumb(d) {
    box.hidden = false;
    $("kit-thumbs").hidden = false;
    var key = d.kind + "-" + d.slot;
    var fig = thumbs[key];
    if (!fig) {
      fig = document.createElement("figure");
      fig.className = "kit-thumb";
      thumbs[key] = fig;
      $("kit-thumb-grid").appendChild(fig);
    }
    fig.textContent = "";
    if (d.error) { fig.textContent = d.error; return; }
    var img = document.createElement("img");
    img.src = d.url; img.alt = d.title + " (" + d.label + ")"; img.loading = "lazy";
    var cap = document.createElement("figcaption");
    var a = document.createElement("a");
    a.href = d.url + "?download=1"; a.textContent = d.label;
    cap.appendChild(a);
    if (d.regenerate_url) {
      [["frame", "Another frame"], ["title", "Another title"]].forEach(function (p) {
        var b = document.createElement("button");
        b.type = "button"; b.className = "small"; b.textContent = p[1];
        b.addEventListener("click", function () { regenerate(d, p[0], b); });
        cap.appendChild(b);
      });
    }
    fig.appendChild(img); fig.appendChild(cap);
  }

  document.addEventListener("repurposer:event", function (e) {
    var ev = e.detail;
    if (ev.type === "chapters_ready") showChapters(ev.data);
    else if (ev.type === "titles_ready") showTitles(ev.data);
    else if (ev.type === "thumbnail_ready") showThumb(ev.data);
  });
})();
