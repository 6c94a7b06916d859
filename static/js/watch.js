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
  function startPlayer() {
    if (playerStarted) return;
    playerStarted = true;
    $("player-wait").hidden = true;
    if (window.Hls && window.Hls.isSupported()) {
      var hls = new window.Hls({ startPosition: 0, liveDurationInfinity: true });
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
  var trackTimer = null;
  function refreshTrack() {
    // The WebVTT track is the transcript so far; reload it (debounced) as intervals arrive.
    clearTimeout(trackTimer);
    trackTimer = setTimeout(function () {
      var old = video.querySelector("track");
      var track = document.createElement("track");
      track.kind = "subtitles";
      track.label = "Transcript";
      track.srclang = "en";
      track.src = cfg.transcript.vtt + "?v=" + lastSeq;
      track.default = true;
      if (old) video.removeChild(old);
      video.appendChild(track);
      if (video.textTracks.length) video.textTracks[video.textTracks.length - 1].mode = "showing";
    }, 400);
  }
  function addTranscript(d) {
    var box = $("transcript");
    if ($("transcript-empty")) box.removeChild($("transcript-empty"));
    $("transcript-source").textContent = "(" + d.label + ")";
    $("transcript-downloads").hidden = false;
    d.segments.forEach(function (seg) {
      var p = document.createElement("p");
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
      box.appendChild(p);
    });
    refreshTrack();
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
    $("eta").textContent = (eta !== null && eta !== undefined && !finished) ? "About " + fmt(eta) + " left." : "";
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
        startPlayer();
        break;
      case "transcript_ready":
        addTranscript(ev.data);
        break;
      case "complete":
        cfg.stages.forEach(function (s) { stageItems[s.name].className = "done"; });
        $("download").hidden = false;
        end(ev.message, "ok");
        break;
      case "error":
        if (currentStage && stageItems[currentStage]) stageItems[currentStage].className = "failed";
        end(ev.message, "error");
        break;
      case "cancelled":
        end(ev.message, "muted");
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
      if (finished) return;
      $("conn").textContent = "Reconnecting…";
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
