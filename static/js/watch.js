// Watch page: follow the task's events over a WebSocket (replaying after the last seq seen), drive the
// progress bar, stage list and event log, and play the HLS playlist from the first chunk on.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("watch-config").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var video = $("player");
  var lastSeq = 0;
  var finished = false;
  var playerStarted = false;
  var socket = null;
  var retryDelay = 500;
  var currentStage = null;

  // Stage list --------------------------------------------------------------------------------------
  var stageItems = {};
  cfg.stages.forEach(function (s) {
    var li = document.createElement("li");
    li.textContent = s.label;
    li.className = "pending";
    li.dataset.stage = s.name;
    $("stages").appendChild(li);
    stageItems[s.name] = li;
  });
  function markStage(name, state) {
    var reached = false;
    cfg.stages.forEach(function (s) {
      var li = stageItems[s.name];
      if (s.name === name) { li.className = state; reached = true; }
      else if (!reached && state !== "pending") { li.className = "done"; }
    });
  }

  // Player ------------------------------------------------------------------------------------------
  var player = null;

  // A growing playlist is re-read only every target duration (~30 s), so the player would go on calling
  // the video endless; read it once more as soon as the job ends, keeping where the viewer is.
  function reloadPlaylist() {
    if (!playerStarted) return;
    if (isNaN(video.duration)) { // the playlist is still on its way: look again once it is in
      video.addEventListener("loadedmetadata", reloadPlaylist, { once: true });
      return;
    }
    if (video.duration !== Infinity) return; // it already had the end in it
    var at = video.currentTime, paused = video.paused;
    if (player) {
      player.once(window.Hls.Events.LEVEL_LOADED, function () { if (!paused) video.play().catch(function () {}); });
      player.loadSource(cfg.playlist);
      player.startLoad(at);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = cfg.playlist;
      video.addEventListener("loadedmetadata", function () {
        video.currentTime = at;
        if (!paused) video.play().catch(function () {});
      }, { once: true });
    }
  }

  function startPlayer() {
    if (playerStarted) return;
    playerStarted = true;
    $("player-wait").hidden = true;
    if (window.Hls && window.Hls.isSupported()) {
      var hls = new window.Hls({ startPosition: 0, liveDurationInfinity: true });
      player = hls;
      hls.loadSource(cfg.playlist);
      hls.attachMedia(video);
      hls.on(window.Hls.Events.MANIFEST_PARSED, function () { video.play().catch(function () {}); });
      hls.on(window.Hls.Events.ERROR, function (_e, data) {
        if (data.fatal && data.type === window.Hls.ErrorTypes.NETWORK_ERROR) { hls.startLoad(); }
        else if (data.fatal && data.type === window.Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); }
      });
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = cfg.playlist; // Safari plays HLS natively
      video.play().catch(function () {});
    } else {
      $("player-wait").hidden = false;
      $("player-wait").textContent = "This browser cannot play the stream; download the video when it is ready.";
    }
  }

  var chunkLinks = [];
  var chunkThumbs = [];
  // The chunk thumbnail showing the moment `t`: a poster frame for a piece that has none of its own.
  function chunkThumbnailAt(t) {
    for (var i = 0; i < chunkThumbs.length; i++) {
      if (t >= chunkThumbs[i].start && t < chunkThumbs[i].end) return chunkThumbs[i].url;
    }
    return null;
  }
  function addChunk(d) {
    var a = document.createElement("a");
    a.href = "#";
    a.className = "chunk";
    a.setAttribute("role", "listitem");
    a.dataset.start = d.start;
    a.dataset.end = d.end;
    a.title = "Chunk " + (d.index + 1) + ": " + fmt(d.start) + "–" + fmt(d.end);
    if (d.commentary) a.title += "\nCommentary: " + d.commentary.text;
    if (d.notes && d.notes.length) a.title += "\n" + d.notes.join(" ");
    if (cfg.commentary && !d.has_commentary) a.classList.add("no-commentary");
    var img = document.createElement("img");
    img.src = d.thumbnail;
    img.alt = "";
    img.loading = "lazy";
    a.appendChild(img);
    var time = el("span", "time", fmt(d.start) + "–" + fmt(d.end));
    a.appendChild(time);
    a.setAttribute("aria-label", "Play chunk " + (d.index + 1) + ", " + fmt(d.start) + " to " + fmt(d.end));
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      seek(d.start);
    });
    chunkLinks.push(a);
    if (d.thumbnail) chunkThumbs.push({ start: d.start, end: d.end, url: d.thumbnail });
    $("chunks").appendChild(a);
  }

  // Transcript ---------------------------------------------------------------------------------------
  var trackTimers = {};
  function refreshTrack(label, url, showing) {
    // A WebVTT track (the transcript or the commentary so far), reloaded (debounced) as intervals arrive.
    clearTimeout(trackTimers[label]);
    trackTimers[label] = setTimeout(function () {
      var old = video.querySelector('track[label="' + label + '"]');
      var track = document.createElement("track");
      track.kind = "subtitles";
      track.label = label;
      track.srclang = "en";
      track.src = url + "?v=" + lastSeq;
      if (old) video.removeChild(old);
      video.appendChild(track);
      for (var i = 0; i < video.textTracks.length; i++) {
        var t = video.textTracks[i];
        if (t.label === label) t.mode = showing ? "showing" : (t.mode === "showing" ? "showing" : "hidden");
      }
    }, 400);
  }
  function addTranscript(d) {
    var box = $("transcript");
    if ($("transcript-empty")) box.removeChild($("transcript-empty"));
    $("transcript-source").textContent = "(" + d.label + ")";
    $("transcript-downloads").hidden = false;
    if (d.refined) {
      // The fast first words of this piece are replaced by the main model's.
      Array.prototype.slice.call(box.querySelectorAll("button.line")).forEach(function (line) {
        var at = parseFloat(line.dataset.start);
        if (at >= d.start && at < d.end) box.removeChild(line.parentNode);
      });
      transcriptLines = null;
    }
    d.segments.forEach(function (seg) {
      // One button per line: click (or Enter) plays from there; the line being spoken is highlighted.
      var p = document.createElement("p");
      var line = el("button", "line");
      line.type = "button";
      line.dataset.start = seg.start;
      line.dataset.end = seg.end;
      line.appendChild(el("span", "at", fmt(seg.start)));
      line.appendChild(el("span", "words", seg.text));
      line.addEventListener("click", function () { seek(seg.start, 0); });
      p.appendChild(line);
      var after = null; // intervals may arrive out of order: keep the lines in time order
      for (var i = 0; i < box.children.length; i++) {
        var other = box.children[i].firstChild;
        if (other && Number(other.dataset.start) > seg.start) { after = box.children[i]; break; }
      }
      box.insertBefore(p, after);
      transcriptLines = null;
    });
    refreshTrack("Transcript", cfg.transcript.vtt, !cfg.commentary);
  }

  // Interest per interval -----------------------------------------------------------------------------
  function seek(t, nudge) {
    startPlayer();
    video.currentTime = t + (nudge === undefined ? 0.05 : nudge);
    video.play().catch(function () {});
  }
  var scoreByIndex = {};
  function scoreColour(score) {
    var hue = 210 - Math.round(score * 1.8); // blue (calm) → red (lively)
    return "hsl(" + hue + ", 70%, 50%)";
  }
  function addScore(d) {
    $("scores-box").hidden = false;
    var b = document.createElement("button");
    b.type = "button";
    b.className = "score";
    b.dataset.index = d.index;
    b.dataset.start = d.start;
    b.dataset.end = d.end;
    b.dataset.score = d.score;
    // Width to scale with the interval's length, so the strip lines up with time under the player.
    b.style.flexGrow = String(Math.max(0.5, d.end - d.start));
    // The button fills the strip's height (a target a thumb can hit); its fill is as tall as the score.
    var fill = el("span", "fill");
    fill.style.height = Math.max(8, d.score) + "%";
    fill.style.background = scoreColour(d.score);
    b.appendChild(fill);
    b.title = fmt(d.start) + "–" + fmt(d.end) + " · " + d.score + "/100 · " + d.reason;
    b.setAttribute("aria-label", "Interest " + d.score + " of 100, " + fmt(d.start) + " to " + fmt(d.end) + ": " + d.reason);
    b.appendChild(el("span", "tip", String(d.score)));
    b.addEventListener("click", function () { seek(d.start); });
    scoreByIndex[d.index] = d;
    refreshScoreBadges();
    var box = $("scores"), before = null;
    for (var i = 0; i < box.children.length; i++) {
      if (!box.children[i].classList.contains("score")) continue; // the playhead
      if (Number(box.children[i].dataset.index) > d.index) { before = box.children[i]; break; }
      if (Number(box.children[i].dataset.index) === d.index) { box.replaceChild(b, box.children[i]); return; }
    }
    box.insertBefore(b, before);
    layoutTimeline();
  }

  // The whole video's length: known once probed (cfg.duration), else estimated from the chunks planned.
  var plannedChunks = 0;
  function totalLength() {
    if (isFinite(video.duration) && video.duration > 0) return video.duration;
    if (cfg.duration) return cfg.duration;
    var known = Object.keys(scoreByIndex).map(function (k) { return scoreByIndex[k]; });
    if (!known.length) return 0;
    var end = Math.max.apply(null, known.map(function (s) { return s.end; }));
    var each = end / known.length;
    return Math.max(end, plannedChunks * each);
  }
  // What is not scored yet takes its share of the strip, so every bar sits where its time is.
  function layoutTimeline() {
    var box = $("scores"), rest = $("scores-rest");
    if (!rest) { rest = el("span", "rest"); rest.id = "scores-rest"; box.appendChild(rest); }
    var known = 0;
    Object.keys(scoreByIndex).forEach(function (k) { known += scoreByIndex[k].end - scoreByIndex[k].start; });
    var left = totalLength() - known;
    rest.style.flexGrow = String(left > 0.5 ? left : 0);
    rest.hidden = !(left > 0.5);
    box.appendChild(rest); // always last
  }

  // The interest of a passage: the scores of the intervals it overlaps, weighted by the overlap.
  function interestOf(start, end) {
    var sum = 0, weight = 0;
    Object.keys(scoreByIndex).forEach(function (k) {
      var s = scoreByIndex[k], overlap = Math.min(end, s.end) - Math.max(start, s.start);
      if (overlap > 0) { sum += s.score * overlap; weight += overlap; }
    });
    return weight ? Math.round(sum / weight) : null;
  }
  function scoreBadge(d) {
    var score = interestOf(d.start, d.end);
    var b = el("span", "badge score", score === null ? "" : "Interest " + score);
    b.hidden = score === null;
    if (score !== null) b.style.background = scoreColour(score).replace("50%)", "28%)"); // dark enough for white text
    b.title = "Average interest of the intervals this passage covers (0–100)";
    return b;
  }
  function refreshScoreBadges() {
    Object.keys(ideas).forEach(function (k) {
      var old = document.querySelector("#idea-" + k + " .badge.score");
      if (old) old.parentNode.replaceChild(scoreBadge(ideas[k]), old);
    });
  }

  // Following playback: the current interval, chunk and transcript line are highlighted -------------------
  var transcriptLines = null;
  function markCurrent(nodes, t) {
    var found = null;
    for (var i = 0; i < nodes.length; i++) {
      var n = nodes[i], on = t >= Number(n.dataset.start) && t < Number(n.dataset.end);
      n.classList.toggle("current", on);
      if (on) found = n;
    }
    return found;
  }
  function follow() {
    var t = video.currentTime;
    var bars = $("scores").querySelectorAll(".score");
    markCurrent(bars, t);
    var total = totalLength();
    var head = $("playhead");
    head.hidden = !(total > 0 && bars.length);
    if (total > 0) head.style.left = Math.min(100, (t / total) * 100) + "%";
    markCurrent(chunkLinks, t);
    if (!transcriptLines) transcriptLines = $("transcript").querySelectorAll(".line");
    var line = markCurrent(transcriptLines, t);
    if (line && line !== follow.lastLine) {
      follow.lastLine = line;
      // Scroll the transcript box only (not the page) so the spoken line stays in view.
      var box = $("transcript"), top = line.offsetTop - box.offsetTop;
      if (top < box.scrollTop || top + line.offsetHeight > box.scrollTop + box.clientHeight) {
        box.scrollTop = Math.max(0, top - box.clientHeight / 3);
      }
    }
  }
  video.addEventListener("timeupdate", follow);
  video.addEventListener("seeked", follow);

  // Ideas and pieces ------------------------------------------------------------------------------------
  // Every text here came from a transcript or a model: it is only ever set with textContent.
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function copyButton(text, label) {
    var b = el("button", "secondary", label || "Copy");
    b.type = "button";
    b.addEventListener("click", function () {
      var done = function () { b.textContent = "Copied"; setTimeout(function () { b.textContent = label || "Copy"; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done); }
      else {
        var area = el("textarea"); area.value = text; document.body.appendChild(area); area.select();
        try { document.execCommand("copy"); done(); } finally { document.body.removeChild(area); }
      }
    });
    return b;
  }
  var KINDS = { reel: "Reel", image_carousel: "Image carousel", tweet: "Tweet" };
  var STATUS = { planned: "Planned", ready: "Text ready", rendered: "Rendered", dropped: "Dropped", failed: "Failed" };
  function button(text, cls, onClick) {
    var b = el("button", cls || "", text);
    b.type = "button";
    if (onClick) b.addEventListener("click", onClick);
    return b;
  }
  function labelled(label, text) {
    var p = el("p");
    p.appendChild(el("span", "label", label + " "));
    p.appendChild(document.createTextNode(text));
    return p;
  }
  function renderIdea(d) {
    var card = el("article", "idea");
    card.id = "idea-" + d.index;
    card.setAttribute("aria-labelledby", "idea-title-" + d.index);
    var head = el("header");
    var left = el("div");
    left.appendChild(el("div", "kind", (KINDS[d.kind] || d.kind) + " · " + fmt(d.start) + "–" + fmt(d.end)));
    var h = el("h3", null, d.title);
    h.id = "idea-title-" + d.index;
    left.appendChild(h);
    head.appendChild(left);
    var badges = el("div", "badges");
    badges.appendChild(scoreBadge(d));
    badges.appendChild(el("span", "status " + d.status, STATUS[d.status] || d.status));
    head.appendChild(badges);
    card.appendChild(head);
    var p = d.piece || {};
    var urls = d.urls || {};
    if (d.kind === "reel" && p.hook) {
      if (urls.video) {
        var v = el("video");
        v.controls = true;
        v.preload = "metadata";
        v.playsInline = true;
        // A poster frame when the piece has one; otherwise the browser shows the frame at 1 s, not black.
        var poster = urls.poster || p.poster || chunkThumbnailAt(d.start);
        if (poster) v.poster = poster;
        v.src = poster ? urls.video : urls.video + "#t=1";
        v.setAttribute("aria-label", "Reel: " + d.title);
        card.appendChild(v);
      }
      card.appendChild(labelled("Hook:", p.hook));
      if (p.caption) card.appendChild(labelled("Caption:", p.caption));
    } else if (d.kind === "image_carousel" && p.slides) {
      if (urls.slides) {
        var strip = el("div", "media slides");
        strip.setAttribute("role", "list");
        strip.setAttribute("aria-label", "Slides");
        strip.tabIndex = 0; // a scrolling strip a keyboard can scroll
        urls.slides.forEach(function (u, i) {
          var img = el("img");
          img.src = u;
          img.alt = "Slide " + (i + 1) + (p.slides[i] ? ": " + p.slides[i].heading : "");
          img.loading = "lazy";
          img.setAttribute("role", "listitem");
          strip.appendChild(img);
        });
        card.appendChild(strip);
      } else {
        var ol = el("ol");
        p.slides.forEach(function (sl) { ol.appendChild(el("li", null, sl.heading + " — " + sl.text)); });
        card.appendChild(ol);
      }
      if (p.caption) card.appendChild(el("p", null, p.caption));
    } else if (d.kind === "tweet" && p.tweet) {
      var tags = (p.hashtags || []).join(" ");
      var first = p.tweet + (tags ? " " + tags : "");
      card.appendChild(el("div", "tweet", first));
      var thread = [first].concat(p.thread || []);
      (p.thread || []).forEach(function (t) { card.appendChild(el("div", "tweet", t)); });
      var copies = el("div", "row");
      copies.appendChild(copyButton(first, "Copy tweet"));
      if (thread.length > 1) copies.appendChild(copyButton(thread.join("\n\n"), "Copy thread"));
      card.appendChild(copies);
    }
    if (d.snippet && d.kind !== "tweet") card.appendChild(el("blockquote", null, d.snippet));
    if (p.hashtags && p.hashtags.length && d.kind !== "tweet") card.appendChild(el("p", "muted", p.hashtags.join(" ")));
    if (d.errors && d.errors.length) card.appendChild(el("p", "error", d.errors.join(" ")));
    var actions = el("div", "row");
    actions.appendChild(button("▶ Watch this part", "", function () { seek(d.start); }));
    var sizes = urls.videos ? Object.keys(urls.videos) : [];
    if (sizes.length > 1) {
      sizes.forEach(function (size) { var a = el("a", "button secondary", "Download reel " + size); a.href = urls.videos[size] + "?download=1"; actions.appendChild(a); });
    } else if (urls.video) { var a = el("a", "button secondary", "Download reel"); a.href = urls.video + "?download=1"; actions.appendChild(a); }
    if (urls.zip) { var z = el("a", "button secondary", "Download slides (ZIP)"); z.href = urls.zip + "?download=1"; actions.appendChild(z); }
    if (p.script || p.caption) {
      var c = copyButton([p.hook, p.caption, p.script].filter(Boolean).join("\n\n"), "Copy text");
      c.className = "secondary";
      actions.appendChild(c);
    }
    var regen = button("Regenerate", "secondary regen", function () { regenerate(d.index, regen); });
    regen.disabled = !finished; // the server refuses (409) a piece that is still being made
    actions.appendChild(regen);
    card.appendChild(actions);
    return card;
  }
  var ideas = {};
  function upsertIdea(d) {
    $("ideas-box").hidden = false;
    ideas[d.index] = d;
    var card = renderIdea(d), old = $("idea-" + d.index), box = $("ideas");
    if (old) { box.replaceChild(card, old); return; }
    var before = null;
    for (var i = 0; i < box.children.length; i++) {
      if (Number(box.children[i].id.slice(5)) > d.index) { before = box.children[i]; break; }
    }
    box.insertBefore(card, before);
  }
  function regenerate(index, button) {
    var token = (document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/) || [])[1] || "";
    button.disabled = true;
    fetch(cfg.regenerate.replace("{index}", index), { method: "POST", headers: { "X-CSRFToken": token, "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (r) { if (!r.ok) { button.disabled = false; $("status-line").textContent = r.body.message || "Could not regenerate."; } })
      .catch(function () { button.disabled = false; $("status-line").textContent = "Could not regenerate; reload the page and try again."; });
  }
  function enableRegenerate() {
    Array.prototype.forEach.call(document.querySelectorAll(".idea .regen"), function (b) {
      b.disabled = false;
    });
  }

  // Events ------------------------------------------------------------------------------------------
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function fmt(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return h ? h + ":" + pad(m) + ":" + pad(s) : m + ":" + pad(s);
  }
  function log(ev) {
    var li = document.createElement("li");
    li.className = "ev " + ev.type;
    var time = new Date(ev.ts);
    li.textContent = time.toLocaleTimeString() + " — " + (ev.message || ev.type);
    $("log").insertBefore(li, $("log").firstChild);
    $("log-count").textContent = "(" + $("log").children.length + ")";
  }
  function setProgress(p, eta) {
    $("bar").style.width = p + "%";
    $("bar-label").textContent = Math.floor(p) + " %";
    $("bar").parentNode.setAttribute("aria-valuenow", String(Math.floor(p)));
    $("bar-label").classList.toggle("on-bar", p >= 50); // white on the blue half, dark on the grey
    var left = "";
    // Short times in words: a clock would say "0:00" while work remains.
    if (eta !== null && eta !== undefined && !finished) {
      if (eta < 20) left = "A few seconds left.";
      else if (eta < 60) left = "Less than a minute left.";
      else left = "About " + fmt(eta) + " left.";
    }
    $("eta").textContent = left;
  }
  function end(text, cls) {
    finished = true;
    $("cancel").hidden = true;
    if (!playerStarted) $("player-wait").textContent = "No chunk was made, so there is nothing to play.";
    $("status-line").textContent = text;
    $("status-line").className = "status-line " + cls;
  }

  function handle(ev) {
    if (ev.seq <= lastSeq) return; // already shown (replay overlap)
    lastSeq = ev.seq;
    document.dispatchEvent(new CustomEvent("repurposer:event", { detail: ev })); // for kit.js and other panels
    log(ev);
    if (ev.stage && ev.stage !== currentStage && stageItems[ev.stage]) {
      currentStage = ev.stage;
      markStage(ev.stage, "active");
    }
    switch (ev.type) {
      case "chunk_ready":
        addChunk(ev.data);
        if (ev.data.count) { plannedChunks = ev.data.count; layoutTimeline(); }
        if (ev.data.commentary) refreshTrack("Commentary", cfg.commentary_vtt, true);
        startPlayer();
        break;
      case "analysis_ready":
        addScore(ev.data);
        break;
      case "idea_ready":
      case "piece_ready":
        upsertIdea(ev.data);
        break;
      case "transcript_ready":
        addTranscript(ev.data);
        break;
      case "complete":
        cfg.stages.forEach(function (s) { stageItems[s.name].className = "done"; });
        $("download").hidden = !(ev.data && ev.data.final_url);
        reloadPlaylist();
        end(ev.message, "ok");
        enableRegenerate();
        break;
      case "error":
        if (currentStage && stageItems[currentStage]) stageItems[currentStage].className = "failed";
        end(ev.message, "error");
        enableRegenerate();
        break;
      case "cancelled":
        end(ev.message, "muted");
        enableRegenerate();
        break;
    }
    setProgress(ev.progress, ev.eta_s);
  }

  // Connection with replay and backoff ------------------------------------------------------------------
  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + cfg.ws + "?after=" + lastSeq);
    socket.onopen = function () { retryDelay = 500; $("conn").textContent = ""; };
    socket.onmessage = function (m) { handle(JSON.parse(m.data)); };
    socket.onclose = function (e) {
      if (e.code === 4403) { $("conn").textContent = "You do not have access to this video."; return; }
      $("conn").textContent = finished ? "" : "Reconnecting…";
      var wait = retryDelay * (0.75 + Math.random() * 0.5);
      retryDelay = Math.min(retryDelay * 2, 10000);
      setTimeout(connect, wait);
    };
  }

  $("cancel").addEventListener("click", function () {
    var token = (document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/) || [])[1] || "";
    $("cancel").disabled = true;
    $("status-line").textContent = "Cancelling…";
    fetch(cfg.cancel, { method: "POST", headers: { "X-CSRFToken": token, "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (body) {
        // The `cancelled` event ends the page; a task that had already finished has nothing to cancel.
        if (!body.cancel_requested && !finished) $("status-line").textContent = "This video had already finished processing.";
      })
      .catch(function () { $("cancel").disabled = false; $("status-line").textContent = "Could not cancel; reload the page and try again."; });
  });

  // For tests and curious people: what the page has seen.
  window.repurposerWatch = { lastSeq: function () { return lastSeq; }, finished: function () { return finished; } };
  if (cfg.status === "uploading") $("status-line").textContent = "The upload of this video has not finished yet.";
  connect();
})();
