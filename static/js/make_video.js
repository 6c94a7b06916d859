// Make-a-video page: show the box of the chosen tab; send the request to POST /api/generate as JSON and go
// to the watch page, or show the server's sentences. Without JavaScript the form posts the classic way.
(function () {
  "use strict";
  var form = document.getElementById("make-form");
  if (!form || !window.fetch) return;
  var url = JSON.parse(document.getElementById("generate-url").textContent);
  var errorBox = document.getElementById("make-error");
  var button = form.querySelector("button[type=submit]");

  function mode() { return form.querySelector("input[name=mode]:checked").value; }
  function showMode() {
    form.querySelectorAll("[data-mode]").forEach(function (el) { el.hidden = el.dataset.mode !== mode(); });
  }
  form.querySelectorAll("input[name=mode]").forEach(function (r) { r.addEventListener("change", showMode); });
  showMode();

  function showErrors(lines) {
    errorBox.textContent = "";
    lines.forEach(function (line) { var p = document.createElement("p"); p.textContent = line; errorBox.appendChild(p); });
    errorBox.hidden = false;
    button.disabled = false;
  }

  form.addEventListener("submit", function (event) {
    if (mode() === "batch") return;  // the file goes the classic way; the page lists the batch's videos
    event.preventDefault();
    button.disabled = true;
    var body = {
      title: form.title.value, aspect: form.aspect.value, voice: form.voice.value,
      length: form.length.value, captions: form.captions.checked
    };
    if (form.visuals) body.visuals = form.visuals.value;  // offered only where a video service is set up
    body[mode()] = form.elements[mode()].value;
    fetch(url, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRFToken": form.querySelector("input[name=csrfmiddlewaretoken]").value }
    }).then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
      .then(function (res) {
        if (res.ok) { window.location.href = res.data.urls.watch; return; }
        var lines = [];
        Object.keys(res.data.errors || {}).forEach(function (k) { lines = lines.concat(res.data.errors[k]); });
        showErrors(lines.length ? lines : [res.data.error || "The video could not be started."]);
      })
      .catch(function () { showErrors(["The server could not be reached. Check your connection and try again."]); });
  });
})();
