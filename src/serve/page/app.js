// rbk serve page: live updates over Server-Sent Events and the run
// buttons. Embedded in the binary; no external code.
(function () {
  "use strict";
  var table = document.getElementById("runs");
  if (table) {
    // New runs and changed states: reload the table body from the page
    // itself (same filters) when the server reports an event.
    var pending = false;
    var refresh = function () {
      if (pending) return;
      pending = true;
      setTimeout(function () {
        fetch(window.location.href, { credentials: "same-origin" })
          .then(function (r) { return r.text(); })
          .then(function (html) {
            var doc = new DOMParser().parseFromString(html, "text/html");
            var body = doc.querySelector("#runs tbody");
            if (body) table.querySelector("tbody").replaceWith(body);
            var empty = document.getElementById("no-runs");
            if (empty && body && body.children.length) empty.remove();
            pending = false;
          })
          .catch(function () { pending = false; });
      }, 150);
    };
    var events = new EventSource("/api/events");
    ["run_queued", "run_started", "run_finished", "run_requeued"].forEach(function (k) {
      events.addEventListener(k, refresh);
    });
    ["filter-state", "filter-runbook"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) el.addEventListener("change", function () { el.form.submit(); });
    });
  }
  var live = document.getElementById("run-live");
  if (live) {
    var id = live.getAttribute("data-run");
    var state = live.getAttribute("data-state");
    if (["succeeded", "failed", "cancelled"].indexOf(state) < 0) {
      var es = new EventSource("/api/runs/" + id + "/events");
      var reload = function () { es.close(); window.location.reload(); };
      ["step_started", "step_finished", "run_finished", "run_started", "run_requeued"].forEach(function (k) {
        es.addEventListener(k, reload);
      });
    }
  }
  document.querySelectorAll("button[data-action]").forEach(function (b) {
    b.addEventListener("click", function () {
      var run = b.getAttribute("data-run");
      var action = b.getAttribute("data-action");
      var url = action === "cancel" ? "/api/runs/" + run + "/cancel" : "/api/runs/" + run + "/resolve";
      var opts = { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" } };
      if (action !== "cancel") opts.body = JSON.stringify({ action: action });
      b.disabled = true;
      fetch(url, opts).then(function () {
        setTimeout(function () { window.location.reload(); }, 300);
      });
    });
  });
})();
