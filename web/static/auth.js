// imagepipe sign-in and "my images". Authorization code with PKCE (S256) against
// the issuer the page was configured with (Cognito's managed login when deployed,
// the local cloud's dev issuer locally): the same code for both. Tokens live in
// sessionStorage only, for this tab. No framework; text is set with textContent.
"use strict";

(function () {
  var body = document.body;
  var cfg = {
    mode: body.getAttribute("data-auth-mode") || "none",
    clientId: body.getAttribute("data-client-id") || "",
    authorizeUrl: body.getAttribute("data-authorize-url") || "",
    tokenUrl: body.getAttribute("data-token-url") || "",
    logoutUrl: body.getAttribute("data-logout-url") || "",
    scope: body.getAttribute("data-scope") || "openid"
  };
  var KEY = "imagepipe.session", PENDING = "imagepipe.pkce";
  var redirectUri = location.origin + location.pathname;
  var auth = {
    required: cfg.mode !== "none",
    session: null,
    // headers adds the access token to a request's headers.
    headers: function (h) {
      h = h || {};
      if (auth.session) h["Authorization"] = "Bearer " + auth.session.accessToken;
      return h;
    },
    // unauthorized is called on a 401: the session is over; sign in again.
    unauthorized: function () {
      sessionStorage.removeItem(KEY);
      auth.session = null;
      render();
    },
    refresh: function () { loadGallery(null, true); }
  };
  window.imagepipeAuth = auth;

  var account = document.getElementById("account");
  var who = document.getElementById("who");
  var signInBtn = document.getElementById("sign-in");
  var signOutBtn = document.getElementById("sign-out");
  var picker = document.getElementById("picker");
  var mine = document.getElementById("mine");
  var gallery = document.getElementById("gallery");
  var more = document.getElementById("more");
  var cursor = "";

  function b64url(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function random(n) {
    var b = new Uint8Array(n);
    crypto.getRandomValues(b);
    return b64url(b);
  }
  function claims(jwt) {
    try {
      var p = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(decodeURIComponent(escape(atob(p))));
    } catch (e) {
      return {};
    }
  }

  function load() {
    try {
      var s = JSON.parse(sessionStorage.getItem(KEY) || "null");
      if (s && s.accessToken && s.expiresAt > Date.now() + 10000) return s;
    } catch (e) { /* a damaged entry is no session */ }
    sessionStorage.removeItem(KEY);
    return null;
  }

  function signIn() {
    var verifier = random(32), state = random(16);
    crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)).then(function (sum) {
      sessionStorage.setItem(PENDING, JSON.stringify({ verifier: verifier, state: state }));
      var q = new URLSearchParams({
        response_type: "code", client_id: cfg.clientId, redirect_uri: redirectUri, scope: cfg.scope,
        state: state, code_challenge: b64url(new Uint8Array(sum)), code_challenge_method: "S256"
      });
      location.assign(cfg.authorizeUrl + "?" + q.toString());
    });
  }

  function signOut() {
    sessionStorage.removeItem(KEY);
    auth.session = null;
    if (cfg.logoutUrl) {
      location.assign(cfg.logoutUrl + "?" + new URLSearchParams({ client_id: cfg.clientId, logout_uri: redirectUri }).toString());
      return;
    }
    render();
  }

  // finishSignIn exchanges the code the issuer sent back for tokens.
  function finishSignIn(params) {
    var pending = null;
    try { pending = JSON.parse(sessionStorage.getItem(PENDING) || "null"); } catch (e) { /* none */ }
    sessionStorage.removeItem(PENDING);
    history.replaceState(null, "", redirectUri);
    if (!pending || pending.state !== params.get("state")) {
      return Promise.reject(new Error("The sign-in answer did not match this page's request; sign in again."));
    }
    return fetch(cfg.tokenUrl, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code", client_id: cfg.clientId, code: params.get("code"),
        redirect_uri: redirectUri, code_verifier: pending.verifier
      }).toString()
    }).then(function (res) {
      return res.json().then(function (t) {
        if (!res.ok || !t.access_token) throw new Error(t.error_description || t.error || "HTTP " + res.status);
        var id = claims(t.id_token || "");
        var s = {
          accessToken: t.access_token,
          name: id["cognito:username"] || id.email || id.name || id.sub || claims(t.access_token).sub || "",
          expiresAt: Date.now() + (Number(t.expires_in) || 3600) * 1000
        };
        sessionStorage.setItem(KEY, JSON.stringify(s));
        return s;
      });
    });
  }

  function render() {
    if (!auth.required) return;
    account.hidden = false;
    var signedIn = !!auth.session;
    who.textContent = signedIn ? "Signed in as " + auth.session.name : (cfg.clientId ? "Not signed in" : "Sign-in is not configured for this page");
    signInBtn.hidden = signedIn || !cfg.clientId;
    signOutBtn.hidden = !signedIn;
    picker.hidden = !signedIn;
    mine.hidden = !signedIn;
    if (signedIn) loadGallery(null, true);
  }

  function loadGallery(after, fresh) {
    var q = "v1/images?limit=12" + (after ? "&cursor=" + encodeURIComponent(after) : "");
    fetch(new URL(q, document.baseURI).toString(), { headers: auth.headers({ "Accept": "application/json" }), cache: "no-store" })
      .then(function (res) {
        if (res.status === 401) { auth.unauthorized(); return null; }
        return res.json();
      })
      .then(function (page) {
        if (!page || !page.images) return;
        if (fresh) gallery.textContent = "";
        page.images.forEach(function (im) { gallery.appendChild(card(im)); });
        cursor = page.nextCursor || "";
        more.hidden = !cursor;
      })
      .catch(function () { /* the gallery is a convenience: uploads still work */ });
  }

  function card(im) {
    var li = document.createElement("li");
    li.className = "picture";
    li.setAttribute("data-id", im.id);
    var thumb = (im.variants || [])[0];
    if (thumb) {
      var img = document.createElement("img");
      img.src = thumb.url;
      img.alt = im.filename || im.id;
      img.width = 120;
      li.appendChild(img);
    }
    var name = document.createElement("span");
    name.className = "picture-name";
    name.textContent = (im.filename || im.id) + (im.status === "ready" ? "" : " (" + im.status + ")");
    li.appendChild(name);
    var del = document.createElement("button");
    del.type = "button";
    del.className = "button delete";
    del.textContent = "Delete";
    del.setAttribute("aria-label", "Delete " + (im.filename || im.id));
    del.addEventListener("click", function () {
      del.disabled = true;
      fetch(new URL("v1/images/" + im.id, document.baseURI).toString(), { method: "DELETE", headers: auth.headers({}) })
        .then(function (res) {
          if (res.status === 204) { li.remove(); return; }
          if (res.status === 401) auth.unauthorized();
          del.disabled = false;
          name.textContent = (im.filename || im.id) + ": could not delete (HTTP " + res.status + ")";
        })
        .catch(function () { del.disabled = false; });
    });
    li.appendChild(del);
    return li;
  }

  signInBtn.addEventListener("click", signIn);
  signOutBtn.addEventListener("click", signOut);
  more.addEventListener("click", function () { loadGallery(cursor, false); });

  if (!auth.required) {
    mine.hidden = true;
    return;
  }
  var params = new URLSearchParams(location.search);
  if (params.get("code")) {
    finishSignIn(params).then(function (s) { auth.session = s; render(); }, function (err) {
      render();
      who.textContent = "Sign-in failed: " + err.message;
    });
    return;
  }
  if (params.get("error")) {
    history.replaceState(null, "", redirectUri);
  }
  auth.session = load();
  render();
})();
