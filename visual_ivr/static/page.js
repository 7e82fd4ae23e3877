(function () {
  "use strict";
  // pid names this page to the server, which keeps one event stream per page: a
  // reconnection (a new network) replaces the old stream rather than adding one.
  // stepping: a step of this page's is on its way; updates meanwhile are its answer,
  // even those the event stream brings first.
  var d = document, es = null, n = 0, stepping = false, pid = Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  function root() { return d.getElementById("app"); }
  // The status lines of a page ("3 digits typed on your phone", a place in line), said
  // through the one live region outside #app: one that arrives already filled in, as
  // every update's new HTML does, is not announced.
  function statuses(a) {
    return [].map.call(a.querySelectorAll("[data-status]"), function (e) {
      return e.textContent;
    }).join(" ");
  }
  // What a control is, so that the same one can be found in the page's new HTML.
  function spot(e) {
    if (e.id) return "#" + CSS.escape(e.id);
    if (e.tagName !== "BUTTON" || !e.form) return null;
    var s = 'form[action="' + CSS.escape(e.form.getAttribute("action")) + '"] button';
    return e.name ? s + '[name="' + CSS.escape(e.name) + '"][value="' + CSS.escape(e.value) + '"]' : s;
  }
  // An update: {v, h, node, lang, dir, title, html, done}. Older or identical ones are skipped.
  // Focus goes to what needs the caller after their own step (a notice, a field to
  // correct), else to the heading when the page moved on or answers their own step;
  // not when the same page changed by itself (keys typed on the phone, the queue
  // moving, a notice caused on another page): focus stays on the same control, and
  // the live region or the alert says what changed. Never away from a field being
  // typed in.
  function apply(u, mine) {
    var a = root();
    if (!a || u.v < +a.dataset.v || u.h === a.dataset.h) return;
    var moved = a.dataset.node !== u.node;
    // Still at the same field (keys typed on the phone came in): what the caller
    // typed into it here stays, and so does the keyboard.
    var field = !moved && a.querySelector("#value");
    var kept = field && field.value !== field.defaultValue ? field.value : null;
    var typing = field && d.activeElement === field;
    var lost = !typing && a.contains(d.activeElement);
    var at = lost && !moved && !mine && !stepping && window.CSS ? spot(d.activeElement) : null;
    var said = statuses(a);
    a.innerHTML = u.html;
    var same = at && a.querySelector(at);
    if (same) { same.focus(); lost = false; }
    var live = d.getElementById("live"), now = statuses(a);
    if (live && now && now !== said) live.textContent = now;
    a.dataset.v = u.v; a.dataset.h = u.h; a.dataset.node = u.node;
    d.documentElement.lang = u.lang;
    d.documentElement.dir = u.dir || "ltr";
    d.title = u.title;
    field = !moved && a.querySelector("#value");
    if (field && kept !== null) field.value = kept;
    var own = mine || stepping || lost;  // their own step, or what they were on is gone
    var f = (own && !moved && (a.querySelector(".notice") || a.querySelector("[aria-invalid=true]"))) ||
      (typing && field) || ((moved || own) && a.querySelector("h1"));
    if (f) f.focus();
    if (u.done) { a.dataset.done = "1"; if (es) { es.close(); es = null; } }
    d.dispatchEvent(new CustomEvent("ivr:update", { detail: u }));
  }
  d.addEventListener("submit", function (e) {
    var f = e.target;
    if (!window.fetch || f.dataset.plain !== undefined) return;
    e.preventDefault();
    var body = new URLSearchParams(new FormData(f));
    var s = e.submitter;
    if (s && s.name) body.set(s.name, s.value);
    var buttons = f.querySelectorAll("button"), i;
    for (i = 0; i < buttons.length; i++) buttons[i].disabled = true;
    stepping = true;
    fetch(f.action, { method: "POST", body: body, headers: { Accept: "application/json" },
                      credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw r; return r.json(); })
      .then(function (u) {
        for (i = 0; i < buttons.length; i++) buttons[i].disabled = false;
        apply(u, true);
        stepping = false;
      })
      .catch(function (e) {
        stepping = false;
        if (e instanceof Response) { location.reload(); return; }  // the server's answer
        // No answer at all (no network): the page, and what was typed, stay.
        for (i = 0; i < buttons.length; i++) buttons[i].disabled = false;
        offline();
      });
  });
  function offline() {
    var m = root() && root().querySelector("main[data-offline]");
    if (!m) return;
    var p = m.querySelector(".notice.offline") || d.createElement("p");
    p.className = "notice offline"; p.setAttribute("role", "alert"); p.tabIndex = -1;
    p.textContent = m.dataset.offline;
    var h = m.querySelector("h1");
    m.insertBefore(p, h ? h.nextSibling : m.firstChild);
    p.focus();
  }
  function listen() {
    var a = root();
    if (!a || !a.dataset.events || !window.EventSource || a.dataset.done || d.hidden) return;
    n += 1;  // the stream's number: a beacon ends this one, not a newer one
    es = new EventSource(a.dataset.events + "?h=" + a.dataset.h + "&p=" + pid + "&n=" + n);
    es.onmessage = function (m) { apply(JSON.parse(m.data)); };
    es.addEventListener("end", function () { if (es) { es.close(); es = null; } });
  }
  // The stream is open only while the page is in view: the call holds for a caller
  // reading it, and stops holding when they turn to another app.
  d.addEventListener("visibilitychange", function () {
    var a = root();
    if (d.hidden && es) {
      es.close(); es = null;
      // Said at once: the server may not see a lost connection close for minutes.
      if (a && navigator.sendBeacon) navigator.sendBeacon(a.dataset.events.replace(/events$/, "away"), pid + "." + n);
    } else if (!d.hidden && !es) listen();
  });
  // The phone's Back (its button or gesture) is the page's Back while the page has one:
  // every step is the one address /v/s, so the browser's own Back would leave the
  // journey. One history entry stands for the page, pushed again each time it is used.
  if (window.history && history.pushState) {
    history.pushState({ ivr: pid }, "");
    window.addEventListener("popstate", function () {
      var a = root(), back = a && !a.dataset.done && a.querySelector("button[data-back]");
      if (back) { history.pushState({ ivr: pid }, ""); back.click(); } else history.back();
    });
  }
  if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", listen); else listen();
})();
