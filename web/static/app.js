// imagepipe upload page. No framework, no build step: the page must run offline
// under a CSP of script-src 'self', so everything is built with DOM calls and text
// is always set with textContent (file names are user input).
"use strict";

(function () {
  var MiB = 1024 * 1024;
  var maxBytes = Number(document.body.getAttribute("data-max-bytes")) || 25 * MiB;
  var ACCEPTED = { "image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true,
    "image/heic": true, "image/heif": true, "image/avif": true };
  // Some systems give no type (or an old alias); the extension is only a hint for
  // the Content-Type we declare: the resize function sniffs the real format.
  var BY_EXT = { jpg: "image/jpeg", jpeg: "image/jpeg", jfif: "image/jpeg", png: "image/png", gif: "image/gif", webp: "image/webp",
    heic: "image/heic", heif: "image/heif", avif: "image/avif" };
  var ALIASES = { "image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg" };
  // Browsers refuse to let scripts set these; they send Content-Length from the body.
  var BROWSER_SET = { "content-length": true, "host": true, "connection": true };
  var PARALLEL = 3;
  var POLL_FIRST = 400, POLL_MAX = 5000, POLL_GIVE_UP = 3 * 60 * 1000;

  var REASONS = {
    unsupported_format: "This file is not a JPEG, PNG, GIF, WebP, HEIC or AVIF image, so it cannot be resized.",
    corrupt_image: "The file looks like an image but is damaged or incomplete, so it could not be read.",
    too_large: "The file is bigger than the upload limit of " + formatBytes(maxBytes) + ".",
    too_many_pixels: "The picture has too many pixels to resize. Try a smaller version of it.",
    dimensions_too_large: "The picture is too wide or too tall to resize. Try a smaller version of it.",
    too_complex: "The picture is coded in a way that would take far too long to decode. Try saving it again with another program.",
    empty_file: "The file is empty.",
    source_missing: "The uploaded file was gone before it could be resized. Please upload it again.",
    processing_failed: "The image could not be resized because of a problem on our side. It has been set aside to be retried; this page will update if it succeeds."
  };

  var input = document.getElementById("files");
  var drop = document.getElementById("drop");
  var list = document.getElementById("uploads");
  var announcer = document.getElementById("announce");
  document.getElementById("limit").textContent = formatBytes(maxBytes);

  var running = 0;
  var waiting = [];

  input.addEventListener("change", function () {
    addFiles(input.files);
    input.value = ""; // so picking the same file again still fires change
  });

  // Dropping anywhere on the page adds the files; without this a missed drop
  // would make the browser navigate away to the image.
  var depth = 0;
  window.addEventListener("dragenter", function (e) {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth++;
    drop.classList.add("dragging");
  });
  window.addEventListener("dragleave", function () {
    depth = Math.max(0, depth - 1);
    if (depth === 0) drop.classList.remove("dragging");
  });
  window.addEventListener("dragover", function (e) {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
  });
  window.addEventListener("drop", function (e) {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    drop.classList.remove("dragging");
    addFiles(e.dataTransfer.files);
  });

  function hasFiles(e) {
    var types = e.dataTransfer && e.dataTransfer.types;
    return !!types && Array.prototype.indexOf.call(types, "Files") >= 0;
  }

  function addFiles(files) {
    var items = [];
    for (var i = 0; i < files.length; i++) items.push(newItem(files[i]));
    if (items.length > 1) announce(items.length + " files added.");
    items.forEach(check);
  }

  // ---- one file ----------------------------------------------------------

  function newItem(file) {
    var li = el("li", "file");
    var head = el("div", "file-head");
    var name = el("h3", "file-name", file.name || "(no name)");
    var size = el("span", "file-size", formatBytes(file.size));
    head.appendChild(name);
    head.appendChild(size);
    var state = el("p", "file-state");
    var progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.hidden = true;
    progress.setAttribute("aria-label", "Upload progress of " + (file.name || "file"));
    var detail = el("p", "file-detail");
    var actions = el("div", "file-actions");
    var variants = el("ul", "variants");
    variants.hidden = true;
    [head, state, progress, detail, actions, variants].forEach(function (c) { li.appendChild(c); });
    list.appendChild(li);
    return { file: file, li: li, stateEl: state, progress: progress, detail: detail, actions: actions, variants: variants };
  }

  function setState(item, state, text, detail) {
    item.li.setAttribute("data-state", state);
    item.stateEl.textContent = text;
    item.detail.textContent = detail || "";
    item.progress.hidden = state !== "uploading";
    item.actions.textContent = "";
  }

  function check(item) {
    var f = item.file;
    var type = contentTypeOf(f);
    if (!type) {
      refuse(item, "Not an accepted image type" + (f.type ? " (" + f.type + ")" : "") + ". Choose a JPEG, PNG, GIF or WebP image.");
      return;
    }
    if (f.size === 0) {
      refuse(item, REASONS.empty_file);
      return;
    }
    if (f.size > maxBytes) {
      refuse(item, "Too big: " + formatBytes(f.size) + ". The limit is " + formatBytes(maxBytes) + " per image.");
      return;
    }
    item.contentType = type;
    enqueue(item);
  }

  function contentTypeOf(f) {
    var t = (f.type || "").toLowerCase();
    t = ALIASES[t] || t;
    if (ACCEPTED[t]) return t;
    if (t) return "";
    var ext = (f.name || "").split(".").pop().toLowerCase();
    return BY_EXT[ext] || "";
  }

  function refuse(item, why) {
    setState(item, "refused", "Not uploaded", why);
    announce(item.file.name + ": not uploaded. " + why);
  }

  // Uploads wait their turn before they ask for a URL, so no presigned URL
  // expires while its file sits in a queue.
  function enqueue(item) {
    setState(item, "waiting", "Waiting to upload…");
    waiting.push(item);
    next();
  }

  function next() {
    while (running < PARALLEL && waiting.length) {
      running++;
      requestUpload(waiting.shift());
    }
  }

  function done() {
    running--;
    next();
  }

  function requestUpload(item) {
    setState(item, "requesting", "Preparing upload…");
    fetch(apiURL("v1/uploads"), {
      method: "POST",
      headers: authed({ "Content-Type": "application/json", "Accept": "application/json" }),
      body: JSON.stringify({ filename: item.file.name, contentType: item.contentType, size: item.file.size })
    }).then(function (res) {
      return res.text().then(function (text) {
        var body = parseJSON(text);
        if (res.status === 201 || res.status === 200) {
          if (!body || !body.upload || !body.upload.url || !body.statusUrl) {
            throw new Error("The server's answer could not be understood.");
          }
          put(item, body);
          return;
        }
        done();
        var msg = body && body.error && body.error.message;
        if (res.status === 401 || res.status === 403) {
          if (res.status === 401 && window.imagepipeAuth) window.imagepipeAuth.unauthorized();
          fail(item, "Sign in to upload.", msg || "", false);
        } else if (res.status === 429) {
          fail(item, "Daily upload quota reached.", msg || "", false);
        } else if (res.status === 413) {
          refuse(item, "Too big: " + (msg || "the server refused a file of " + formatBytes(item.file.size) + "."));
        } else if (res.status === 415) {
          refuse(item, "Not an accepted image type: " + (msg || "the server refused " + item.contentType + "."));
        } else {
          fail(item, "The server refused the upload (HTTP " + res.status + ").", msg || "", true);
        }
      });
    }).catch(function (err) {
      done();
      // fetch rejects with a TypeError only when the request never got an answer.
      var why = err instanceof TypeError ? "Could not reach the server to start the upload." : "Could not start the upload.";
      fail(item, why, errText(err), true);
    });
  }

  function put(item, grant) {
    item.id = grant.id;
    item.statusUrl = grant.statusUrl;
    setState(item, "uploading", "Uploading… 0%");
    var xhr = new XMLHttpRequest();
    xhr.open(grant.upload.method || "PUT", grant.upload.url);
    var headers = grant.upload.headers || {};
    Object.keys(headers).forEach(function (k) {
      if (!BROWSER_SET[k.toLowerCase()]) xhr.setRequestHeader(k, headers[k]);
    });
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      var pct = Math.floor((e.loaded / e.total) * 100);
      item.progress.value = pct;
      item.li.setAttribute("data-progress", String(pct));
      item.stateEl.textContent = "Uploading… " + pct + "%";
      item.detail.textContent = formatBytes(e.loaded) + " of " + formatBytes(e.total);
    });
    xhr.addEventListener("load", function () {
      done();
      if (xhr.status >= 200 && xhr.status < 300) {
        item.progress.value = 100;
        setState(item, "processing", "Uploaded. Resizing…");
        announce(item.file.name + ": uploaded, resizing.");
        poll(item, POLL_FIRST, Date.now());
        return;
      }
      var s3 = s3Error(xhr.responseText);
      if (xhr.status === 403 && /expired/i.test(s3.message + " " + s3.code)) {
        fail(item, "The upload link expired before the upload started. Please try again.", "", true);
      } else if (xhr.status === 403) {
        fail(item, "The storage refused the upload (403" + (s3.code ? " " + s3.code : "") + ").",
          s3.message || "The upload link may have expired. Please try again.", true);
      } else if (xhr.status === 412) {
        fail(item, "This upload link was already used. Please upload the file again.", "", true);
      } else {
        fail(item, "The storage refused the upload (HTTP " + xhr.status + ").", s3.message, true);
      }
    });
    xhr.addEventListener("error", function () {
      done();
      fail(item, "Network error while uploading. Check your connection and try again.", "", true);
    });
    xhr.addEventListener("abort", function () {
      done();
      fail(item, "The upload was cancelled.", "", true);
    });
    xhr.send(item.file);
  }

  function poll(item, delay, started) {
    setTimeout(function () {
      fetch(apiURL(item.statusUrl), { headers: authed({ "Accept": "application/json" }), cache: "no-store" })
        .then(function (res) {
          return res.text().then(function (text) {
            var body = parseJSON(text);
            if (res.status === 200 && body && body.status === "ready") {
              ready(item, body);
            } else if (res.status === 200 && body && body.status === "failed") {
              var e = body.error || {};
              if (item.lastFailure !== e.code + e.message) {
                item.lastFailure = e.code + e.message;
                fail(item, REASONS[e.code] || "The image could not be resized.", e.message || "", false);
              }
              // Set aside for an operator to retry (redrive, reprocess): keep
              // watching, slowly, so a later success shows up.
              if (e.code === "processing_failed") poll(item, POLL_MAX, Date.now());
            } else if (res.status === 200 || res.status >= 500 || res.status === 429) {
              again(item, delay, started, res.status === 200 ? "" : "The server is busy (HTTP " + res.status + "); still checking…");
            } else {
              var msg = body && body.error && body.error.message;
              fail(item, "Could not get the status of this upload (HTTP " + res.status + ").", msg || "", false);
            }
          });
        })
        .catch(function () {
          again(item, delay, started, "Connection lost; still checking…");
        });
    }, delay);
  }

  function again(item, delay, started, note) {
    if (Date.now() - started > POLL_GIVE_UP) {
      setState(item, "slow", "Still resizing after " + Math.round(POLL_GIVE_UP / 60000) + " minutes.", "It may finish later.");
      button(item, "Check again", function () {
        setState(item, "processing", "Uploaded. Resizing…");
        poll(item, 0, Date.now());
      });
      return;
    }
    item.detail.textContent = note;
    poll(item, Math.min(delay * 1.6, POLL_MAX), started);
  }

  function ready(item, body) {
    var vs = body.variants || [];
    setState(item, "ready", "Ready: " + vs.length + (vs.length === 1 ? " size" : " sizes"),
      body.source && body.source.width ? "Original: " + body.source.width + " × " + body.source.height + " px" + (body.source.format ? ", " + body.source.format.toUpperCase() : "") : "");
    item.variants.textContent = "";
    vs.forEach(function (v) { item.variants.appendChild(variantCard(item, v)); });
    item.variants.hidden = vs.length === 0;
    announce(item.file.name + ": ready in " + vs.length + " sizes.");
    if (window.imagepipeAuth && window.imagepipeAuth.session) window.imagepipeAuth.refresh();
  }

  // Each variant is a <picture>: the browser picks the first source whose type it
  // supports (AVIF, then WebP, at their fixed-format URLs) and otherwise loads
  // the variant's own URL, where the CDN answers with the best format the
  // browser's Accept header admits.
  var SOURCE_ORDER = ["avif", "webp"];

  function variantCard(item, v) {
    var li = el("li", "variant");
    li.setAttribute("data-variant", v.name);
    var alts = {};
    (v.alternates || []).forEach(function (a) { alts[a.format] = a; });
    var a = document.createElement("a");
    a.href = v.url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    var picture = document.createElement("picture");
    SOURCE_ORDER.forEach(function (f) {
      if (!alts[f]) return;
      var source = document.createElement("source");
      source.type = "image/" + f;
      source.srcset = alts[f].url;
      picture.appendChild(source);
    });
    var img = document.createElement("img");
    img.src = v.url;
    img.alt = v.name + " version of " + item.file.name;
    img.loading = "lazy";
    img.width = v.width;
    img.height = v.height;
    picture.appendChild(img);
    a.appendChild(picture);
    li.appendChild(a);
    li.appendChild(el("p", "variant-name", v.name));
    li.appendChild(el("p", "variant-dims", v.width + " × " + v.height + " px"));
    var sizes = [formatBytes(v.bytes) + (v.format ? " · " + label(v.format) : "")];
    SOURCE_ORDER.forEach(function (f) { if (alts[f]) sizes.push(formatBytes(alts[f].bytes) + " · " + label(f)); });
    li.appendChild(el("p", "variant-bytes", sizes.join(", ")));
    var shown = el("p", "variant-shown");
    img.addEventListener("load", function () {
      // Which encoding the browser chose: a source's URL, or the variant's own
      // (the primary, for a browser that takes neither AVIF nor WebP).
      var format = v.format;
      Object.keys(alts).forEach(function (f) { if (alts[f].url === img.currentSrc) format = f; });
      li.setAttribute("data-shown", format || "");
      shown.textContent = "Showing " + label(format);
    });
    li.appendChild(shown);
    var link = document.createElement("a");
    link.href = v.url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.textContent = "Open " + v.name;
    var p = el("p", "");
    p.appendChild(link);
    li.appendChild(p);
    li.appendChild(copyField(v));
    return li;
  }

  // copyField shows the variant's lasting URL, ready to copy into a page or feed.
  function copyField(v) {
    var wrap = el("div", "variant-copy");
    var field = document.createElement("input");
    field.type = "text";
    field.readOnly = true;
    field.value = v.url;
    field.className = "variant-url";
    field.setAttribute("aria-label", "URL of the " + v.name + " version");
    field.addEventListener("focus", function () { field.select(); });
    var b = document.createElement("button");
    b.type = "button";
    b.className = "copy";
    b.textContent = "Copy URL";
    b.setAttribute("aria-label", "Copy the URL of the " + v.name + " version");
    b.addEventListener("click", function () {
      var copied = function () { b.textContent = "Copied"; announce("URL of the " + v.name + " version copied."); };
      field.select();
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(v.url).then(copied, function () {
          b.textContent = "Select and copy";
        });
      } else {
        b.textContent = "Select and copy";
      }
    });
    wrap.appendChild(field);
    wrap.appendChild(b);
    return wrap;
  }

  function label(format) {
    return String(format || "").toUpperCase();
  }

  function fail(item, why, detail, retry) {
    setState(item, "failed", why, detail);
    if (retry) button(item, "Try again", function () { check(item); });
    announce(item.file.name + ": " + why);
  }

  function button(item, label, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    // Several files may each have one; the accessible name says which.
    b.setAttribute("aria-label", label + ": " + (item.file.name || "file"));
    b.addEventListener("click", onClick);
    item.actions.appendChild(b);
  }

  // ---- small helpers -------------------------------------------------------

  // authed adds the signed-in user's access token (auth.js), when there is one.
  function authed(h) {
    return window.imagepipeAuth ? window.imagepipeAuth.headers(h) : h;
  }

  function apiURL(p) {
    return new URL(p, document.baseURI).toString();
  }

  function s3Error(xml) {
    var out = { code: "", message: "" };
    if (!xml) return out;
    try {
      var doc = new DOMParser().parseFromString(xml, "application/xml");
      var c = doc.getElementsByTagName("Code")[0];
      var m = doc.getElementsByTagName("Message")[0];
      out.code = c ? c.textContent : "";
      out.message = m ? m.textContent : "";
    } catch (e) { /* not XML: keep the status alone */ }
    return out;
  }

  function parseJSON(text) {
    try { return JSON.parse(text); } catch (e) { return null; }
  }

  function errText(err) {
    return err && err.message ? err.message : String(err);
  }

  function announce(text) {
    announcer.textContent = text;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function formatBytes(n) {
    if (!(n >= 0)) return "";
    if (n < 1024) return n + " B";
    if (n < MiB) return (n / 1024).toFixed(1) + " KiB";
    return (n / MiB).toFixed(1) + " MiB";
  }
})();
