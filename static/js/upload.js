// Upload page: send the file in raw parts (POST /uploads/ opens the upload, each part is a PUT with
// Content-Range), with a progress bar; a dropped connection resumes where the server says it stopped.
// Then go to the watch page. Without JavaScript the form posts the whole file the classic way.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData || !window.Blob || !Blob.prototype.slice) return;
  var maxBytes = JSON.parse(document.getElementById("max-upload-bytes").textContent);
  var startUrl = JSON.parse(document.getElementById("upload-start-url").textContent);
  var box = document.getElementById("upload-progress");
  var bar = box.querySelector(".bar");
  var label = box.querySelector(".label");
  var errorBox = document.getElementById("upload-error");
  var button = form.querySelector("button[type=submit]");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    button.disabled = false;
    box.hidden = true;
  }
  function gb(n) { return (n / 1073741824).toFixed(1) + " GB"; }
  function show(sent, total) {
    var pct = total ? Math.floor((sent / total) * 100) : 0;
    bar.style.width = pct + "%";
    label.textContent = "Uploading… " + pct + " %";
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

  async function upload(file) {
    var info = null, offset = 0, failures = 0;
    var earlier = remembered(file);
    if (earlier) {
      var where = await send("GET", earlier.upload_url);
      if (where.status === 200 && where.body && where.body.status === "uploading") {
        info = earlier;
        offset = where.body.offset;
        label.textContent = "Resuming the earlier upload…";
      } else {
        remember(file, null);
      }
    }
    if (!info) {
      // Every option on the form goes with it (the subtitles file too); the video itself follows in parts.
      var fields = new FormData(form);
      fields.delete("file");
      fields.append("filename", file.name);
      fields.append("size", String(file.size));
      var opened = await send("POST", startUrl, fields);
      if (opened.status !== 201 || !opened.body) {
        showError(opened.body && opened.body.errors ? opened.body.errors.join(" ") : "The upload could not start (" + opened.status + ").");
        return;
      }
      info = opened.body;
      remember(file, { upload_url: info.upload_url, watch_url: info.watch_url, part_bytes: info.part_bytes });
    }
    while (offset < file.size) {
      var end = Math.min(offset + info.part_bytes, file.size);
      var base = offset;
      var r = await send("PUT", info.upload_url, file.slice(offset, end), {
        "Content-Type": "application/octet-stream",
        "Content-Range": "bytes " + offset + "-" + (end - 1) + "/" + file.size
      }, function (e) { show(base + e.loaded, file.size); });
      if ((r.status === 200 || r.status === 409) && r.body && typeof r.body.offset === "number") {
        offset = r.body.offset; // 409: the server already has more (or less); continue from there
        if (r.body.watch_url) info.watch_url = r.body.watch_url; // the same file done before: its result
        failures = 0;
        show(offset, file.size);
        continue;
      }
      if ((r.status >= 200 && r.status < 300) || (r.status >= 400 && r.status < 500)) {
        // A 2xx without an offset is not our answer: most likely the session ended and this is a login page.
        showError(r.body && r.body.errors ? r.body.errors.join(" ") :
          "The server refused the upload (" + r.status + "); you may have been signed out. Reload the page and try again.");
        return;
      }
      // Network error or server trouble: wait, ask the server how far it got, go on from there.
      failures += 1;
      if (failures > 8) { showError("The connection keeps dropping; please try again later."); return; }
      label.textContent = "Connection lost; retrying…";
      await sleep(Math.min(500 * Math.pow(2, failures), 15000));
      var where = await send("GET", info.upload_url);
      if (where.status === 200) offset = where.body.offset;
    }
    remember(file, null);
    window.location.assign(info.watch_url);
  }

  form.addEventListener("submit", function (ev) {
    var input = form.querySelector("input[name=file]");
    if (!input.files.length) return; // let the browser's required check speak
    var file = input.files[0];
    ev.preventDefault();
    errorBox.hidden = true;
    if (file.size > maxBytes) {
      showError("The file is " + gb(file.size) + "; the limit is " + gb(maxBytes) + ".");
      return;
    }
    button.disabled = true;
    box.hidden = false;
    show(0, file.size);
    upload(file).catch(function () { showError("The upload failed; please try again."); });
  });
})();
