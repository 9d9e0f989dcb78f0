// imagepipe operations view. Polls /ops/stats and draws small SVG charts with DOM
// calls only, so it runs under a CSP of script-src 'self' with no build step.
"use strict";

(function () {
  var SVG = "http://www.w3.org/2000/svg"; // a namespace name, never fetched
  var W = 400, H = 170, L = 40, R = 8, T = 22, B = 20;
  var POLL = 2000;

  var $ = function (id) { return document.getElementById(id); };
  var redriveBtn = $("redrive");
  var lastDLQ = 0;

  redriveBtn.addEventListener("click", function () {
    redriveBtn.disabled = true;
    $("redrive-result").textContent = "Redriving…";
    fetch("/ops/redrive", { method: "POST", headers: { "X-Imagepipe-Ops": "redrive" } })
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (body) {
          if (res.ok) {
            $("redrive-result").textContent = "Moved " + body.moved + (body.moved === 1 ? " message" : " messages") + " back to the resize queue.";
          } else {
            $("redrive-result").textContent = "Redrive failed" + (body.moved ? " after moving " + body.moved : "") + ": " + (body.error || "HTTP " + res.status);
          }
        });
      })
      .catch(function (e) { $("redrive-result").textContent = "Redrive failed: " + e.message; })
      .then(refresh);
  });

  function refresh() {
    return fetch("/ops/stats", { cache: "no-store" })
      .then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json();
      })
      .then(function (s) {
        render(s);
        $("problem").hidden = true;
      })
      .catch(function (e) {
        $("problem").hidden = false;
        $("problem").textContent = "Cannot load the stats (" + e.message + "). Is the local cloud running?";
      });
  }

  function loop() {
    refresh().then(function () { setTimeout(loop, POLL); });
  }

  function render(s) {
    var q = s.queue;
    text("visible", q ? q.visible : "?");
    text("inFlight", q ? q.inFlight : "?");
    text("dlq", q ? q.dlq : "?");
    lastDLQ = q ? q.dlq : 0;
    $("dlq-card").classList.toggle("alarm", lastDLQ > 0);
    redriveBtn.disabled = !q || q.dlq === 0;
    if (s.queueError) {
      $("problem").hidden = false;
      $("problem").textContent = "Queue stats unavailable: " + s.queueError;
    }
    var t = s.totals;
    text("processed", t.processed);
    text("failed", t.failed);
    text("transient", t.transientErrors);
    pct($("processing"), s.processingMs);
    pct($("u2r"), s.uploadToReadyMs);
    text("window", Math.round(s.windowSeconds / 60));
    Array.prototype.forEach.call(document.querySelectorAll(".bucket"), function (e) { e.textContent = s.bucketSeconds + " s"; });

    var body = $("codes");
    body.textContent = "";
    var codes = Object.keys(t.failedByCode || {}).sort();
    if (codes.length === 0) {
      var tr = row(["None yet.", ""]);
      tr.firstChild.className = "muted";
      body.appendChild(tr);
    }
    codes.forEach(function (c) { body.appendChild(row([c, t.failedByCode[c]])); });

    var pts = s.series || [];
    chart($("chart-throughput"), pts, [
      { name: "processed", cls: "s0", kind: "bar", get: function (p) { return p.processed; } },
      { name: "failed", cls: "s1", kind: "bar", get: function (p) { return p.failed; } }
    ], s.windowSeconds);
    chart($("chart-queue"), pts, [
      { name: "depth", cls: "s0", get: function (p) { return p.queue ? p.queue.visible : null; } },
      { name: "in flight", cls: "s2", get: function (p) { return p.queue ? p.queue.inFlight : null; } },
      { name: "DLQ", cls: "s1", get: function (p) { return p.queue ? p.queue.dlq : null; } }
    ], s.windowSeconds);
    chart($("chart-latency"), pts, [
      { name: "processing p50", cls: "s0", get: function (p) { return p.processingP50 === undefined ? null : p.processingP50; } },
      { name: "processing p99", cls: "s1", get: function (p) { return p.processingP99 === undefined ? null : p.processingP99; } },
      { name: "upload→ready p50", cls: "s2", get: function (p) { return p.uploadToReadyP50 === undefined ? null : p.uploadToReadyP50; } }
    ], s.windowSeconds);

    $("updated").textContent = "Updated " + new Date(s.now).toLocaleTimeString() + (lastDLQ > 0 ? ". The DLQ holds " + lastDLQ + " messages." : ".");
  }

  // pct shows "p50 / p99" in el, each figure unbreakable, so a narrow card wraps
  // at the slash instead of overflowing its border.
  function pct(el, p) {
    el.textContent = "";
    if (!p || !p.count) { el.textContent = "–"; return; }
    [ms(p.p50), " / ", ms(p.p99)].forEach(function (part, i) {
      if (i === 1) { el.appendChild(document.createTextNode(part)); return; }
      var span = document.createElement("span");
      span.className = "figure";
      span.textContent = part;
      el.appendChild(span);
    });
  }

  function ms(v) {
    return v >= 1000 ? (v / 1000).toFixed(2) + " s" : Math.round(v) + " ms";
  }

  function text(id, v) { $(id).textContent = String(v); }

  function row(cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (c) {
      var td = document.createElement("td");
      td.textContent = String(c);
      tr.appendChild(td);
    });
    return tr;
  }

  function node(tag, attrs, txt) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (txt !== undefined) e.textContent = txt;
    return e;
  }

  function chart(svg, pts, series, windowSeconds) {
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.textContent = "";
    var n = Math.max(pts.length, 1);
    var pw = W - L - R, ph = H - T - B;
    var max = 0;
    pts.forEach(function (p) {
      var stack = 0;
      series.forEach(function (s) {
        var v = s.get(p);
        if (v === null) return;
        if (s.kind === "bar") { stack += v; max = Math.max(max, stack); } else { max = Math.max(max, v); }
      });
    });
    max = nice(max);
    var y = function (v) { return T + ph - (v / max) * ph; };
    var x = function (i) { return L + (i + 0.5) * (pw / n); };

    [0, 0.5, 1].forEach(function (f) {
      var v = max * f;
      svg.appendChild(node("line", { "class": "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      svg.appendChild(node("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end" }, short(v)));
    });
    svg.appendChild(node("text", { x: L, y: H - 4 }, "−" + Math.round(windowSeconds / 60) + " min"));
    svg.appendChild(node("text", { x: W - R, y: H - 4, "text-anchor": "end" }, "now"));

    var base = pts.map(function () { return 0; });
    series.forEach(function (s, si) {
      if (s.kind === "bar") {
        var bw = Math.max(pw / n - 1, 1);
        pts.forEach(function (p, i) {
          var v = s.get(p);
          if (!v) return;
          svg.appendChild(node("rect", { "class": s.cls, x: L + i * (pw / n), y: y(base[i] + v), width: bw, height: y(base[i]) - y(base[i] + v) }));
          base[i] += v;
        });
      } else {
        var seg = [];
        var flush = function () {
          if (seg.length === 1) {
            svg.appendChild(node("circle", { "class": s.cls, cx: seg[0][0], cy: seg[0][1], r: 2 }));
          } else if (seg.length > 1) {
            svg.appendChild(node("polyline", { "class": s.cls, points: seg.map(function (q) { return q.join(","); }).join(" ") }));
          }
          seg = [];
        };
        pts.forEach(function (p, i) {
          var v = s.get(p);
          if (v === null) { flush(); return; }
          seg.push([x(i).toFixed(1), y(v).toFixed(1)]);
        });
        flush();
      }
      var lg = node("g", { "class": "legend" });
      var lx = L + si * 115;
      lg.appendChild(node("rect", { "class": s.cls, x: lx, y: 6, width: 10, height: 10 }));
      lg.appendChild(node("text", { x: lx + 14, y: 15 }, s.name));
      svg.appendChild(lg);
    });
  }

  function nice(v) {
    if (v <= 0) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  function short(v) {
    if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (v >= 1e4) return Math.round(v / 1e3) + "k";
    return String(Math.round(v * 10) / 10);
  }

  loop();
})();
