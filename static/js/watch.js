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

  function addChunk(d) {
    var a = document.createElement("a");
    a.href = "#";
    a.className = "chunk";
    a.title = "Chunk " + (d.index + 1) + ": " + fmt(d.start) + "–" + fmt(d.end);
    if (d.commentary) a.title += "\nCommentary: " + d.commentary.text;
    if (d.notes && d.notes.length) a.title += "\n" + d.notes.join(" ");
    if (cfg.commentary && !d.has_commentary) a.classList.add("no-commentary");
    var img = document.createElement("img");
    img.src = d.thumbnail;
    img.alt = a.title;
    img.loading = "lazy";
    a.appendChild(img);
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      startPlayer();
      video.currentTime = d.start + 0.05;
      video.play().catch(function () {});
    });
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
      Array.prototype.slice.call(box.querySelectorAll("p[data-start]")).forEach(function (p) {
        var at = parseFloat(p.dataset.start);
        if (at >= d.start && at < d.end) box.removeChild(p);
      });
    }
    d.segments.forEach(function (seg) {
      var p = document.createElement("p");
      p.dataset.start = String(seg.start);
      var at = document.createElement("a");
      at.href = "#";
      at.className = "at";
      at.textContent = fmt(seg.start);
      at.addEventListener("click", function (ev) {
        ev.preventDefault();
        startPlayer();
        video.currentTime = seg.start;
        video.play().catch(function () {});
      });
      p.appendChild(at);
      p.appendChild(document.createTextNode(" " + seg.text));
      var later = Array.prototype.find.call(box.querySelectorAll("p[data-start]"), function (q) {
        return parseFloat(q.dataset.start) > seg.start;
      });
      box.insertBefore(p, later || null);
    });
    refreshTrack("Transcript", cfg.transcript.vtt, !cfg.commentary);
  }

  // Interest per interval -----------------------------------------------------------------------------
  function seek(t) {
    startPlayer();
    video.currentTime = t + 0.05;
    video.play().catch(function () {});
  }
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
    b.style.flexGrow = String(Math.max(1, d.end - d.start));
    b.style.height = Math.max(6, d.score) + "%";
    b.style.background = scoreColour(d.score);
    b.title = fmt(d.start) + "–" + fmt(d.end) + " · " + d.score + "/100 · " + d.reason;
    b.setAttribute("aria-label", b.title);
    b.addEventListener("click", function () { seek(d.start); });
    var box = $("scores"), before = null;
    for (var i = 0; i < box.children.length; i++) {
      if (Number(box.children[i].dataset.index) > d.index) { before = box.children[i]; break; }
      if (Number(box.children[i].dataset.index) === d.index) { box.replaceChild(b, box.children[i]); return; }
    }
    box.insertBefore(b, before);
  }

  // Ideas and pieces ------------------------------------------------------------------------------------
  // Every text here came from a transcript or a model: it is only ever set with textContent.
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function copyButton(text, label) {
    var b = el("button", "small", label || "Copy");
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
  function renderIdea(d) {
    var card = el("article", "idea");
    card.id = "idea-" + d.index;
    var head = el("header");
    var left = el("div");
    left.appendChild(el("div", "kind", (KINDS[d.kind] || d.kind) + " · " + fmt(d.start) + "–" + fmt(d.end)));
    left.appendChild(el("h3", null, d.title));
    head.appendChild(left);
    head.appendChild(el("span", "status " + d.status, d.status));
    card.appendChild(head);
    var p = d.piece || {};
    if (d.snippet) card.appendChild(el("blockquote", null, d.snippet));
    if (d.kind === "reel" && p.hook) {
      card.appendChild(el("p", null, "Hook: " + p.hook));
      card.appendChild(el("p", null, "Caption: " + (p.caption || "")));
      if (d.urls && d.urls.video) {
        var v = el("video"); v.controls = true; v.preload = "metadata"; v.src = d.urls.video;
        card.appendChild(v);
      }
    } else if (d.kind === "image_carousel" && p.slides) {
      card.appendChild(el("p", null, p.caption || ""));
      if (d.urls && d.urls.slides) {
        var strip = el("div", "slides");
        d.urls.slides.forEach(function (u, i) { var img = el("img"); img.src = u; img.alt = "Slide " + (i + 1); img.loading = "lazy"; strip.appendChild(img); });
        card.appendChild(strip);
      } else {
        var ol = el("ol");
        p.slides.forEach(function (sl) { ol.appendChild(el("li", null, sl.heading + " — " + sl.text)); });
        card.appendChild(ol);
      }
    } else if (d.kind === "tweet" && p.tweet) {
      var tags = (p.hashtags || []).join(" ");
      var first = p.tweet + (tags ? " " + tags : "");
      card.appendChild(el("div", "tweet", first));
      var copies = el("div", "row");
      copies.appendChild(copyButton(first, "Copy tweet"));
      var thread = [first].concat(p.thread || []);
      (p.thread || []).forEach(function (t) { card.appendChild(el("div", "tweet", t)); });
      if (thread.length > 1) copies.appendChild(copyButton(thread.join("\n\n"), "Copy thread"));
      card.appendChild(copies);
    }
    if (p.hashtags && p.hashtags.length && d.kind !== "tweet") card.appendChild(el("p", "muted", p.hashtags.join(" ")));
    if (d.errors && d.errors.length) card.appendChild(el("p", "error", d.errors.join(" ")));
    var actions = el("div", "row");
    var jump = el("button", "small", "Watch this part"); jump.type = "button";
    jump.addEventListener("click", function () { seek(d.start); });
    actions.appendChild(jump);
    if (d.urls && d.urls.video) { var a = el("a", "button small", "Download reel"); a.href = d.urls.video + "?download=1"; actions.appendChild(a); }
    if (d.urls && d.urls.zip) { var z = el("a", "button small", "Download slides (ZIP)"); z.href = d.urls.zip + "?download=1"; actions.appendChild(z); }
    if (p.script || p.caption) actions.appendChild(copyButton([p.hook, p.caption, p.script].filter(Boolean).join("\n\n"), "Copy text"));
    var regen = el("button", "small", "Regenerate"); regen.type = "button";
    regen.disabled = !finished; // the server refuses (409) a piece that is still being made
    regen.className = "small regen";
    regen.addEventListener("click", function () { regenerate(d.index, regen); });
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
  }
  function setProgress(p, eta) {
    $("bar").style.width = p + "%";
    $("bar-label").textContent = Math.floor(p) + " %";
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
    log(ev);
    if (ev.stage && ev.stage !== currentStage && stageItems[ev.stage]) {
      currentStage = ev.stage;
      markStage(ev.stage, "active");
    }
    switch (ev.type) {
      case "chunk_ready":
        addChunk(ev.data);
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
