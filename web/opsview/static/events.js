// imagepipe operations view: recent events on the bus and webhook deliveries.
// Polls /ops/events; DOM calls only (CSP script-src 'self').
"use strict";

(function () {
  var POLL = 2000;
  var $ = function (id) { return document.getElementById(id); };

  function cells(tr, values) {
    values.forEach(function (v) {
      var td = document.createElement("td");
      td.textContent = String(v);
      tr.appendChild(td);
    });
    return tr;
  }

  function fill(id, rows, columns, empty) {
    var body = $(id);
    body.textContent = "";
    if (rows.length === 0) {
      var tr = document.createElement("tr");
      var td = cells(tr, [empty]).firstChild;
      td.colSpan = columns;
      td.className = "muted";
      body.appendChild(tr);
      return;
    }
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function time(s) {
    var d = new Date(s);
    return isNaN(d) ? "" : d.toLocaleTimeString();
  }

  function render(r) {
    $("events-webhook").textContent = r.webhook
      ? "Every event goes to " + r.webhook + " (as an EventBridge API destination would send it)."
      : "No webhook: start with make dev WEBHOOK_URL=http://127.0.0.1:PORT/path to receive the events.";
    fill("events", r.events.map(function (e) {
      return cells(document.createElement("tr"), [time(e.received), e.detailType, e.imageId, e.status, (e.rules || []).join(", ") || "none"]);
    }), 5, "None yet.");
    fill("deliveries", r.deliveries.map(function (d) {
      var tr = cells(document.createElement("tr"), [time(d.last), d.detailType, d.state, d.attempts,
        (d.lastStatus ? "HTTP " + d.lastStatus : "") + (d.lastError ? " " + d.lastError : "")]);
      if (d.state === "dead-lettered" || d.state === "dropped") tr.className = "bad";
      return tr;
    }), 5, r.webhook ? "None yet." : "No webhook.");
  }

  function loop() {
    fetch("/ops/events", { cache: "no-store" })
      .then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json();
      })
      .then(render)
      .catch(function (e) { $("events-webhook").textContent = "Cannot load the events (" + e.message + ")."; })
      .then(function () { setTimeout(loop, POLL); });
  }
  loop();
})();
