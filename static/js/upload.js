// Upload page: one drop zone (one file or several) and one box for a YouTube link, sharing the Settings.
// Each file goes up in raw parts (POST /uploads/ opens the upload, each part is a PUT with Content-Range),
// with a progress bar, speed and time left; a dropped connection resumes where the server says it stopped.
// Several files are uploaded one after another, each its own video, then grouped as one batch
// (POST /batches/new/ with their ids) and the batch page opens. Without JavaScript the form posts the (last)
// file the classic way, and the link buttons post to their own views.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) return;
  var $ = function (id) { return document.getElementById(id); };
  var input = form.querySelector("input[name=file]");
  var urlInput = form.querySelector("input[name=url]");
  var uploadButton = $("upload-button");
  var youtubeButton = $("youtube-button");
  var batchButton = $("batch-button");
  var sourcesBox = $("batch-sources");
  var errorBox = $("upload-error");

  // Settings summary: the options in one line, kept up to date as they change. ----------------------------
  function value(name) {
    var els = form.querySelectorAll("[name=" + name + "]");
    if (!els.length) return undefined;
    var last = els[els.length - 1];
    if (last.type === "checkbox") return last.checked;
    if (last.tagName === "SELECT") return last.selectedIndex >= 0 ? last.options[last.selectedIndex].text : "";
    return last.value;
  }
  function summarise() {
    var parts = [];
    if (value("interval")) parts.push(value("interval") + " s chunks");
    if (value("commentary") !== undefined) {
      parts.push(value("commentary") ? "commentary" + (value("commentary_style") ? " (" + value("commentary_style").toLowerCase() + ")" : "") : "no commentary");
    }
    if (value("ideas") !== undefined) {
      parts.push(value("ideas") ? (value("idea_count") || "") + " content ideas" + (value("style") ? " (" + value("style") + ")" : "") : "no content ideas");
    }
    if (value("transcribe") !== undefined) parts.push(value("transcribe") ? "transcript" : "no transcript");
    if (value("force")) parts.push("process again");
    if (value("webhook_url")) parts.push("webhook");
    $("settings-summary").textContent = parts.join(" · ");
  }
  form.addEventListener("change", summarise);
  form.addEventListener("input", summarise);
  summarise();

  // The link: Enter in its box fetches it (the form's first button would otherwise ask for a file). -------
  urlInput.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") { ev.preventDefault(); youtubeButton.click(); }
  });

  if (!window.XMLHttpRequest || !window.FormData || !window.Blob || !Blob.prototype.slice) return;
  var maxBytes = JSON.parse($("max-upload-bytes").textContent);
  var startUrl = JSON.parse($("upload-start-url").textContent);
  var batchUrl = JSON.parse($("batch-url").textContent);
  var statusBox = $("upload-status");
  var progress = statusBox.querySelector(".progress");
  var bar = progress.querySelector(".bar");
  var label = $("upload-label");
  var detail = $("upload-detail");
  var chosenList = $("chosen");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var files = []; // what was chosen or dropped, in order
  var busy = false;

  function size(n) {
    if (n >= 1073741824) return (n / 1073741824).toFixed(1) + " GB";
    if (n >= 1048576) return (n / 1048576).toFixed(1) + " MB";
    return Math.max(1, Math.round(n / 1024)) + " KB";
  }
  function clock(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m >= 60 ? Math.floor(m / 60) + " h " + (m % 60) + " min" : m ? m + " min " + s + " s" : s + " s";
  }
  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    busy = false;
    uploadButton.disabled = false;
    youtubeButton.disabled = false;
    batchButton.disabled = false;
    statusBox.hidden = true;
  }

  // Chosen files ------------------------------------------------------------------------------------------
  function listFiles() {
    chosenList.textContent = "";
    files.forEach(function (f, i) {
      var li = document.createElement("li");
      li.id = "chosen-" + i;
      var name = document.createElement("span");
      name.className = "name";
      name.textContent = f.name;
      var s = document.createElement("span");
      s.className = "size";
      s.textContent = size(f.size);
      li.appendChild(name);
      li.appendChild(s);
      chosenList.appendChild(li);
    });
    uploadButton.textContent = files.length > 1 ? "Upload " + files.length + " videos as a batch" : "Upload and start";
  }
  function mark(i, cls, text) {
    var li = $("chosen-" + i);
    if (!li) return;
    li.className = cls;
    li.querySelector(".size").textContent = text;
  }
  input.addEventListener("change", function () {
    files = Array.prototype.slice.call(input.files);
    errorBox.hidden = true;
    listFiles();
  });
  var zone = $("dropzone");
  ["dragenter", "dragover"].forEach(function (t) {
    zone.addEventListener(t, function (ev) { ev.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (t) {
    zone.addEventListener(t, function () { zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (ev) {
    ev.preventDefault();
    if (busy || !ev.dataTransfer || !ev.dataTransfer.files.length) return;
    files = Array.prototype.slice.call(ev.dataTransfer.files);
    try { input.files = ev.dataTransfer.files; } catch (e) { /* old browsers: our own list is enough */ }
    errorBox.hidden = true;
    listFiles();
  });

  // Progress: the share sent, the speed over the last few seconds and the time left at that speed. ---------
  var samples = [];
  function show(sent, total, which) {
    var pct = total ? Math.floor((sent / total) * 100) : 0;
    bar.style.width = pct + "%";
    progress.setAttribute("aria-valuenow", String(pct));
    var now = Date.now();
    samples.push([now, sent]);
    while (samples.length > 2 && now - samples[0][0] > 5000) samples.shift();
    var first = samples[0], speed = now > first[0] ? ((sent - first[1]) / (now - first[0])) * 1000 : 0;
    label.textContent = "Uploading " + which + "… " + pct + " %";
    detail.textContent = size(sent) + " of " + size(total) +
      (speed > 0 && now - first[0] >= 500 ? " · " + size(speed) + "/s · about " + clock((total - sent) / speed) + " left" : "");
  }

  // One request; resolves with {status, body} (body parsed as JSON when it is JSON).
  function send(method, url, body, headers, onProgress) {
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRFToken", csrf);
      Object.keys(headers || {}).forEach(function (k) { xhr.setRequestHeader(k, headers[k]); });
      if (onProgress) xhr.upload.addEventListener("progress", onProgress);
      xhr.addEventListener("load", function () {
        var parsed = null;
        try { parsed = JSON.parse(xhr.responseText); } catch (e) { parsed = null; } // e.g. a login page
        resolve({ status: xhr.status, body: parsed });
      });
      xhr.addEventListener("error", function () { resolve({ status: 0, body: null }); });
      xhr.send(body);
    });
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  // An upload cut short (closed tab, lost network) resumes when the same file is chosen again.
  function resumeKey(file) { return "repurposer-upload:" + file.name + ":" + file.size + ":" + file.lastModified; }
  function remembered(file) {
    try { return JSON.parse(window.localStorage.getItem(resumeKey(file)) || "null"); } catch (e) { return null; }
  }
  function remember(file, info) {
    try {
      if (info) window.localStorage.setItem(resumeKey(file), JSON.stringify(info));
      else window.localStorage.removeItem(resumeKey(file));
    } catch (e) { /* private mode: no resume across reloads */ }
  }

  // Uploads one file; resolves with {task_id, watch_url}, or rejects with a sentence. A file of a batch goes
  // without the subtitles (they would be one file's) and without the webhook (the batch has it).
  async function upload(file, which, inBatch) {
    var info = null, offset = 0, failures = 0;
    samples = [];
    var earlier = remembered(file);
    if (earlier) {
      var where = await send("GET", earlier.upload_url);
      if (where.status === 200 && where.body && where.body.status === "uploading") {
        info = earlier;
        offset = where.body.offset;
        label.textContent = "Resuming the earlier upload of " + which + "…";
      } else {
        remember(file, null);
      }
    }
    if (!info) {
      // Every option on the form goes with it (the subtitles file too); the video itself follows in parts.
      var fields = new FormData(form);
      ["file", "url", "sources", "title"].forEach(function (k) { fields.delete(k); });
      if (inBatch) { fields.delete("subtitles"); fields.delete("webhook_url"); }
      fields.append("filename", file.name);
      fields.append("size", String(file.size));
      var opened = await send("POST", startUrl, fields);
      if (opened.status !== 201 || !opened.body) {
        throw new Error(opened.body && opened.body.errors ? opened.body.errors.join(" ") : "The upload could not start (" + opened.status + ").");
      }
      info = opened.body;
      remember(file, { task_id: info.task_id, upload_url: info.upload_url, watch_url: info.watch_url, part_bytes: info.part_bytes });
    }
    show(offset, file.size, which);
    while (offset < file.size) {
      var end = Math.min(offset + info.part_bytes, file.size);
      var base = offset;
      var r = await send("PUT", info.upload_url, file.slice(offset, end), {
        "Content-Type": "application/octet-stream",
        "Content-Range": "bytes " + offset + "-" + (end - 1) + "/" + file.size
      }, function (e) { show(base + e.loaded, file.size, which); });
      if ((r.status === 200 || r.status === 409) && r.body && typeof r.body.offset === "number") {
        offset = r.body.offset; // 409: the server already has more (or less); continue from there
        if (r.body.watch_url) info.watch_url = r.body.watch_url; // the same file done before: its result
        if (r.body.same_as) info.task_id = r.body.same_as;
        failures = 0;
        show(offset, file.size, which);
        continue;
      }
      if ((r.status >= 200 && r.status < 300) || (r.status >= 400 && r.status < 500)) {
        // A 2xx without an offset is not our answer: most likely the session ended and this is a login page.
        throw new Error(r.body && r.body.errors ? r.body.errors.join(" ") :
          "The server refused the upload (" + r.status + "); you may have been signed out. Reload the page and try again.");
      }
      // Network error or server trouble: wait, ask the server how far it got, go on from there.
      failures += 1;
      if (failures > 8) throw new Error("The connection keeps dropping; please try again later.");
      label.textContent = "Connection lost; retrying…";
      await sleep(Math.min(500 * Math.pow(2, failures), 15000));
      var again = await send("GET", info.upload_url);
      if (again.status === 200 && again.body) offset = again.body.offset;
    }
    remember(file, null);
    return { task_id: info.task_id || info.upload_url.split("/").filter(Boolean).pop(), watch_url: info.watch_url };
  }

  // The uploaded files (and any links in the box) as one batch with the page's settings; resolves with its page.
  async function makeBatch(ids) {
    var fields = new FormData(form);
    ["file", "url", "subtitles"].forEach(function (k) { fields.delete(k); });
    ids.forEach(function (id) { fields.append("uploads", id); });
    var r = await send("POST", batchUrl, fields);
    if (r.status !== 201 || !r.body || !r.body.url) {
      throw new Error(r.body && r.body.errors ? r.body.errors.join(" ") : "The batch could not be made (" + r.status + ").");
    }
    return r.body.url;
  }

  // Several files: one after another, each its own video; one that fails does not stop the others. Those
  // that went up become one batch, and its page opens (it says which ones did not make it).
  async function uploadAll(list) {
    var done = [], failed = [];
    var several = list.length > 1 || (sourcesBox && sourcesBox.value.trim() !== "");
    for (var i = 0; i < list.length; i++) {
      var which = list.length > 1 ? "“" + list[i].name + "” (" + (i + 1) + " of " + list.length + ")" : "“" + list[i].name + "”";
      mark(i, "active", "uploading…");
      try {
        done.push(await upload(list[i], which, several));
        mark(i, "done", "uploaded ✓");
      } catch (e) {
        failed.push(list[i].name + ": " + e.message);
        mark(i, "failed", "not uploaded");
      }
    }
    if (!several && done.length === 1) { window.location.assign(done[0].watch_url); return; }
    if (done.length) {
      label.textContent = "Making the batch…";
      try {
        var page = await makeBatch(done.map(function (d) { return d.task_id; }));
        if (!failed.length) { window.location.assign(page); return; }
        failed.unshift("The others are in the batch: " + page + ".");
      } catch (e) {
        failed.unshift(e.message);
      }
    }
    showError((done.length ? done.length + " of " + list.length + " videos were uploaded; " : "") + failed.join(" "));
  }

  form.addEventListener("submit", function (ev) {
    errorBox.hidden = true;
    if (ev.submitter === batchButton) {
      // The links go to the batch view as a classic form post (the files, if any, are not part of it).
      if (!sourcesBox.value.trim()) { ev.preventDefault(); showError("Paste one or more YouTube links first, one per line."); sourcesBox.focus(); return; }
      input.value = "";
      var sub = form.querySelector("input[name=subtitles]");
      if (sub) sub.value = "";
      batchButton.disabled = true;
      return;
    }
    if (ev.submitter === youtubeButton) {
      // The link posts the form to its own view: without the files, which it does not need.
      if (!urlInput.value.trim()) { ev.preventDefault(); showError("Paste a YouTube link first."); urlInput.focus(); return; }
      input.value = "";
      var subs = form.querySelector("input[name=subtitles]");
      if (subs) subs.value = "";
      youtubeButton.disabled = true; // after the submit has started: a disabled submitter would not be sent
      return;
    }
    if (!files.length) return; // let the browser's required check speak
    ev.preventDefault();
    if (busy) return;
    var big = files.filter(function (f) { return f.size > maxBytes; });
    if (big.length) {
      showError(big.map(function (f) { return "“" + f.name + "” is " + size(f.size) + "; the limit is " + size(maxBytes) + "."; }).join(" "));
      return;
    }
    busy = true;
    uploadButton.disabled = true;
    youtubeButton.disabled = true;
    batchButton.disabled = true;
    statusBox.hidden = false;
    uploadAll(files.slice()).catch(function () { showError("The upload failed; please try again."); });
  });
})();
