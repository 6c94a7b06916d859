// "My videos" and the batch page: the rows the server rendered, kept live over one WebSocket per user
// (/ws/tasks/?after=<highest event id seen>). Each event updates its task's row (status, stage, bar, time
// left); when a task changes state or gets its first picture the row is asked for again from the server
// (tasks/<id>/row/), and a task this page has no row for yet (made after it loaded) is added the same way.
// After a reconnect the server replays from the last id; an event already applied (same task, same or lower
// seq) is skipped, so nothing is missed or shown twice. The row buttons post their forms in the background.
(function () {
  "use strict";
  var configEl = document.getElementById("dashboard-config");
  var list = document.getElementById("task-rows");
  if (!configEl || !list) return;
  var config = JSON.parse(configEl.textContent);
  var live = document.getElementById("live");
  var empty = document.getElementById("empty");
  var lastId = config.after || 0;
  var seen = {}; // task id → highest seq applied
  var refetching = {};
  var outside = {}; // task id → the status it had when the server said it is not on this page
  var batchTasks = config.mode === "batch" ? new Set(config.tasks || []) : null;

  function rows() { return list.querySelectorAll(".task-row[data-task]"); }
  function rowOf(task) { return document.getElementById("task-" + task); }
  Array.prototype.forEach.call(rows(), function (row) { seen[row.dataset.task] = Number(row.dataset.seq) || 0; });

  function timeLeft(s) {
    if (s === null || s === undefined) return "";
    if (s < 20) return "a few seconds left";
    if (s < 60) return "less than a minute left";
    if (s < 3600) return "about " + Math.round(s / 60) + " min left";
    return "about " + (s / 3600).toFixed(1) + " h left";
  }
  function clock(seconds) {
    var t = Math.max(0, Math.round(seconds)), h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + ":" + two(m) + ":" + two(s) : m + ":" + two(s);
  }
  var LABELS = { uploading: "Uploading", queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed", cancelled: "Cancelled" };
  var ENDED = { succeeded: true, failed: true, cancelled: true, refused: true };

  // One event: the bar, the numbers and the state line of its row. ------------------------------------------
  function apply(ev) {
    var row = rowOf(ev.task);
    if (!row) {
      // Asked once per status: a task the filters leave out (204) is asked again only when its status changes.
      if (!(batchTasks ? batchTasks.has(ev.task) : config.first_page) || outside[ev.task] === ev.status) return;
      outside[ev.task] = ev.status;
      fetchRow(ev.task, true);
      return;
    }
    var status = ev.status || row.dataset.status;
    var pct = status === "succeeded" ? 100 : Math.floor(ev.progress || 0);
    var bar = row.querySelector(".progress");
    bar.querySelector(".bar").style.width = pct + "%";
    bar.setAttribute("aria-valuenow", String(pct));
    row.querySelector(".pct").textContent = pct + " %";
    row.querySelector(".eta").textContent = ENDED[status] ? "" : timeLeft(ev.eta_s);
    row.querySelector(".stage").textContent = ENDED[status] ? "" : (config.stages[ev.stage] || ev.stage || "");
    var firstPicture = ev.type === "chunk_ready" && ev.data && ev.data.index === 0;
    if (status !== row.dataset.status || firstPicture) {
      var badge = row.querySelector(".badge");
      badge.className = "badge " + status;
      badge.textContent = LABELS[status] || status;
      row.dataset.status = status;
      row.classList.remove("uploading", "queued", "running", "succeeded", "failed", "cancelled");
      row.classList.add(status);
      if (ENDED[status]) row.dataset.finished = ev.ts;
      fetchRow(ev.task, false);
    }
    summarise();
  }

  // The server's own rendering of one row: added at the top (a new task) or put in place of the old one. ------
  function fetchRow(task, isNew) {
    if (refetching[task]) { refetching[task] = "again"; return; }
    refetching[task] = true;
    var url = config.row.replace("{id}", task) + "?" + (config.filters ? config.filters + "&" : "") +
      "next=" + encodeURIComponent(location.pathname + location.search) +
      // A new row is only one made after the page: an older task's events must not put it at the top.
      (isNew && config.since ? "&since=" + encodeURIComponent(config.since) : "");
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } }).then(function (r) {
      return r.status === 200 ? r.text() : "";
    }).then(function (html) {
      var again = refetching[task] === "again";
      delete refetching[task];
      if (html) {
        var holder = document.createElement("ul");
        holder.innerHTML = html.trim();
        var fresh = holder.querySelector(".task-row");
        var old = rowOf(task);
        if (fresh) {
          // Events applied while the request was out may be newer than what the server rendered.
          if (old) list.replaceChild(fresh, old);
          else if (isNew) { list.insertBefore(fresh, list.firstChild); if (empty) empty.hidden = true; }
          seen[task] = Math.max(seen[task] || 0, Number(fresh.dataset.seq) || 0);
          delete outside[task];
        }
      }
      if (again) fetchRow(task, isNew);
      summarise();
    }).catch(function () { delete refetching[task]; });
  }

  // The batch summary, counted from the rows as they stand (the page's first numbers came from the server). --
  var summary = document.getElementById("batch-summary");
  function summarise() {
    if (!summary) return;
    var c = { done: 0, failed: 0, cancelled: 0, running: 0, queued: 0 }, total = 0, lastEnd = 0;
    Array.prototype.forEach.call(list.querySelectorAll(".task-row"), function (row) {
      total += 1;
      var s = row.dataset.status;
      if (s === "succeeded") c.done += 1;
      else if (s === "failed" || s === "refused") c.failed += 1;
      else if (s === "cancelled") c.cancelled += 1;
      else if (s === "running") c.running += 1;
      else c.queued += 1;
      if (row.dataset.finished) lastEnd = Math.max(lastEnd, Date.parse(row.dataset.finished));
    });
    var ended = c.done + c.failed + c.cancelled;
    Object.keys(c).forEach(function (k) { summary.querySelector("[data-count=" + k + "]").textContent = String(c[k]); });
    summary.querySelector("[data-count=rate]").textContent = ended ? Math.round((100 * c.done) / ended) + " %" : "–";
    var finished = ended === total;
    var end = finished && lastEnd ? lastEnd : Date.now();
    summary.querySelector("[data-count=time]").textContent = clock((end - Date.parse(config.created)) / 1000);
    var bar = document.getElementById("batch-bar");
    bar.querySelector(".bar").style.width = (total ? (100 * ended) / total : 0) + "%";
    bar.setAttribute("aria-valuenow", String(ended));
    if (finished) clearInterval(ticking);
  }
  var ticking = summary ? setInterval(summarise, 1000) : null;

  // The socket: one per page, reconnecting with a growing pause; replays from the last id it saw. ------------
  var delay = 1000;
  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(proto + location.host + config.ws + "?after=" + lastId);
    ws.onopen = function () { delay = 1000; live.textContent = "Live"; live.classList.remove("conn"); };
    ws.onmessage = function (m) {
      var ev = JSON.parse(m.data);
      if (ev.id > lastId) lastId = ev.id;
      if (ev.seq <= (seen[ev.task] || 0)) return; // sent again after a reconnect: already applied
      seen[ev.task] = ev.seq;
      apply(ev);
    };
    ws.onclose = function (e) {
      if (e.code === 4403) { live.textContent = "Not signed in: reload the page."; return; }
      live.textContent = "Reconnecting…";
      live.classList.add("conn");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }
  connect();

  // Row buttons: posted in the background; the row changes when the task does (its events say so). ----------
  var csrf = (document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/) || [])[1];
  list.addEventListener("submit", function (ev) {
    var form = ev.target.closest("form[data-action]");
    if (!form || !window.fetch) return;
    ev.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    var row = form.closest(".task-row");
    var note = row.querySelector(".row-note");
    var button = form.querySelector("button");
    button.disabled = true;
    var token = form.querySelector("input[name=csrfmiddlewaretoken]").value || csrf;
    fetch(form.action, {
      method: "POST", credentials: "same-origin", body: new FormData(form),
      headers: { Accept: "application/json", "X-CSRFToken": token }
    }).then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); }).then(function (r) {
      button.disabled = false;
      if (!r.ok) { note.textContent = r.body.error || "That did not work; reload the page and try again."; note.hidden = false; return; }
      if (form.dataset.action === "delete") { row.remove(); summarise(); return; }
      note.textContent = r.body.message || "";
      note.hidden = !note.textContent;
      if (r.body.new_task_id && !batchTasks) fetchRow(r.body.new_task_id, true);
    }).catch(function () { button.disabled = false; note.textContent = "The server did not answer; try again."; note.hidden = false; });
  });

  window.repurposerDashboard = { lastId: function () { return lastId; }, seen: function (t) { return seen[t] || 0; } };
})();
