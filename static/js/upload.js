// Upload page: send the file with a progress bar, then go to the watch page. Without JS the form posts normally.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) return;
  var maxBytes = JSON.parse(document.getElementById("max-upload-bytes").textContent);
  var box = document.getElementById("upload-progress");
  var bar = box.querySelector(".bar");
  var label = box.querySelector(".label");
  var errorBox = document.getElementById("upload-error");
  var button = form.querySelector("button[type=submit]");

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    button.disabled = false;
    box.hidden = true;
  }

  form.addEventListener("submit", function (ev) {
    var input = form.querySelector("input[type=file]");
    if (!input.files.length) return; // let the browser's required check speak
    var file = input.files[0];
    ev.preventDefault();
    errorBox.hidden = true;
    if (file.size > maxBytes) {
      showError("The file is " + (file.size / 1073741824).toFixed(1) + " GB; the limit is " +
        (maxBytes / 1073741824).toFixed(1) + " GB.");
      return;
    }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action || window.location.href);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      var pct = Math.round((e.loaded / e.total) * 100);
      bar.style.width = pct + "%";
      label.textContent = "Uploading… " + pct + " %";
    });
    xhr.addEventListener("load", function () {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status === 201 && body && body.url) {
        window.location.assign(body.url);
      } else if (body && body.errors) {
        showError(body.errors.join(" "));
      } else if (xhr.status === 413) {
        showError(xhr.responseText || "The file is too large.");
      } else {
        showError("The upload failed (" + xhr.status + "). Please try again.");
      }
    });
    xhr.addEventListener("error", function () {
      showError("The connection was lost during the upload. Please try again.");
    });
    button.disabled = true;
    box.hidden = false;
    label.textContent = "Uploading… 0 %";
    xhr.send(new FormData(form));
  });
})();
