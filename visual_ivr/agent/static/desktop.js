// The agent desktop: one WebSocket, messages in JSON (see visual_ivr/agent/desktop.py).
// Everything from the server is put on the page with textContent, never as HTML.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const base = location.pathname.replace(/\/$/, "");
  let ws = null, ext = "", queues = [], journey = null, entries = new Map(), retry = 1000, leaving = false;
  let signedIn = false, refused = "", presence = "", ended = false, pushes = new Map();
  let titles = new Map();  // the call's node ids -> their titles (titlesOf)
  const SAVED = "ivr-agent-desk";  // this tab's sign-in, kept across a reload
  const DRAFT = "ivr-agent-wrapup";  // the wrap-up being written, likewise

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function time(at) { return new Date(at * 1000).toLocaleTimeString(); }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const q = new URLSearchParams({ext: ext, queues: queues.join(",")});
    ws = new WebSocket(`${scheme}//${location.host}${base}/ws?${q}`);
    signedIn = false; refused = "";
    ws.onmessage = (m) => receive(JSON.parse(m.data));
    ws.onopen = () => { retry = 1000; };
    ws.onclose = () => {
      if (refused && !signedIn) {  // the server said no: trying again would not help
        sessionStorage.removeItem(SAVED);
        signedOut(refused);
        return;
      }
      $("presence").textContent = leaving ? "Signed out" : "Reconnecting…";
      if (!leaving) setTimeout(connect, retry), retry = Math.min(retry * 2, 15000);
    };
  }
  function send(message) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(message)); }

  function receive(m) {
    switch (m.type) {
      case "signed_in":
        signedIn = true;
        presence = `Signed in as ${m.agent} · ${m.queues.join(", ")}`;
        $("presence").textContent = presence;
        $("signin").hidden = true; $("signout").hidden = false; $("find").hidden = false; break;
      case "after_call":
        $("presence").textContent = presence + (m.paused ? " · no new calls until the wrap-up is saved" : "");
        if (!m.paused && ended && journey !== null) {
          $("wrapstate").textContent = "Wrap-up time is over: the next call may ring. Please save this one.";
        }
        break;
      case "offer": if (m.journey) show(m.journey, m.handoff, "Ringing…"); break;
      case "connected":
        if (m.handoff) show(m.journey, m.handoff, "");
        else if (!m.journey && journey === null) show(null, bare(m), "");  // no trail known
        if (m.journey === journey) {
          $("state").textContent = m.ended ? "Call ended · please wrap up"
            : m.journey ? `Connected · waited ${m.hold_s ?? "?"} s`
            : `Connected · ${m.queue}: no self-service trail was found for this call`;
          ended = Boolean(m.ended);
        }
        break;
      case "withdrawn": if (m.journey === journey) idle(); break;
      case "trail":
        if (m.journey === journey) m.entries.forEach((e) => { addEntry(e); answered(e); });
        break;
      case "ended":
        if (m.journey === null && journey === null && !$("call").hidden) {  // no trail: nothing to wrap up
          $("state").textContent = "Call ended";
          setTimeout(() => { if (journey === null) idle(); }, 3000);
        } else if (m.journey === journey) {
          $("state").textContent = "Call ended · please wrap up";
          ended = true;
        }
        break;
      case "pushed":
        pushes.set(m.push.id, m.push.title);
        $("pushstate").textContent = `Sent “${m.push.title}”`;
        break;
      case "wrapup_saved":
        if (m.journey === journey) {
          $("wrapstate").textContent = "Saved";
          setTimeout(() => { if (journey === m.journey) idle(); }, 1500);  // unless a call came
        }
        break;
      case "found": showFound(m); break;
      case "error":
        if (m.about === "push") $("pushstate").textContent = m.message;
        else if (m.about === "wrapup") $("wrapstate").textContent = m.message;
        else if (m.about === "find") showFound({reference: "", journeys: [], message: m.message});
        else if (!signedIn) refused = m.message;
        else $("presence").textContent = m.message;
        break;
    }
  }

  function idle() { journey = null; ended = false; $("call").hidden = true; $("idle").hidden = false; }

  function signedOut(message) {
    leaving = true; signedIn = false;
    $("presence").textContent = message || "Signed out";
    $("signin").hidden = false; $("signout").hidden = true; $("find").hidden = true; idle();
  }

  // A queued call whose journey is unknown (queued by another engine or the fallback
  // without one): the agent still sees who is calling.
  function bare(m) {
    return {caller: m.caller, verification: {label: "Not verified", status: "not_verified"},
      summary: "No self-service trail was found for this call: ask the caller what they need.",
      why: {title: "Queue", detail: m.queue || "", path: []}, agent_note: "",
      dont_ask: [], captured: [], trail: []};
  }

  function show(id, h, state) {
    if (!h) return;
    if (id !== journey) { $("found").hidden = true; clear($("found")); }  // another caller's
    journey = id; entries = new Map(); ended = false;
    $("wrapup").hidden = $("push").hidden = id === null;  // no journey: nothing to keep
    $("idle").hidden = true; $("call").hidden = false;
    $("state").textContent = state;
    const number = h.caller || "Unknown number";  // a name only as the flow's caller_name gives it
    // A call the centre placed (the caller asked on the page): not one that came in.
    const back = (h.captured || []).some((c) => c.name === "callback_number") ? " · call-back" : "";
    $("caller").textContent = (h.caller_name ? `${h.caller_name} · ${number}` : number) + back;
    const v = $("verification");
    v.textContent = h.verification.label; v.dataset.status = h.verification.status;
    $("summary").textContent = h.summary;
    $("why").textContent = `${h.why.title}: ${h.why.detail}`;
    clear($("path")); h.why.path.forEach((s) => $("path").appendChild(el("li", step(s))));
    $("note").textContent = h.agent_note || "—";
    fillPairs($("dontask"), h.dont_ask);
    fillCaptured($("captured"), h.captured);
    titles = titlesOf(h);
    clear($("trail")); h.trail.forEach(addEntry);
    $("pushstate").textContent = ""; $("wrapstate").textContent = "";
    $("wrapup").reset(); $("push").reset();
    restoreWrapup(id);
  }

  function fillPairs(dl, pairs) {
    clear(dl);
    pairs.forEach((d) => { dl.appendChild(el("dt", d.ask)); dl.appendChild(el("dd", d.answer)); });
  }
  function fillCaptured(tbody, captured) {
    clear(tbody);
    captured.forEach((c) => {
      const tr = el("tr"); [c.label, c.value, c.source].forEach((x) => tr.appendChild(el("td", x)));
      tbody.appendChild(tr);
    });
  }

  // A journey a caller names by its reference: shown beside the call, not in its place.
  function showFound(m) {
    const box = $("found");
    clear(box); box.hidden = false;
    const head = el("header");
    const said = m.journeys.length ? m.journeys[0].reference : m.reference.trim().toUpperCase();
    head.appendChild(el("h2", m.message || (m.journeys.length
      ? `Reference ${said}` : `No journey has the reference ${said}`)));
    const close = el("button", "Close", "plain");
    close.type = "button";
    close.addEventListener("click", () => { box.hidden = true; clear(box); });
    head.appendChild(close);
    box.appendChild(head);
    m.journeys.forEach((h) => box.appendChild(foundJourney(h)));
  }
  function foundJourney(h) {
    const card = el("article");
    const when = new Date(h.started * 1000).toLocaleString();
    const name = h.caller_name ? `${h.caller_name} · ` : "";
    card.appendChild(el("h3",
      `${name}${h.reference} · ${h.channels.join(" and ")} · ${when} · ${h.flow}`));
    const badge = el("p", h.verification.label, "badge");
    badge.dataset.status = h.verification.status;
    card.appendChild(badge);
    card.appendChild(el("p", h.summary, "summary"));
    card.appendChild(el("p", `${h.why.title}: ${h.why.detail}`));
    const path = el("ol", undefined, "path");
    h.why.path.forEach((s) => path.appendChild(el("li", step(s))));
    card.appendChild(path);
    if (h.dont_ask.length) {
      card.appendChild(el("h4", "Already asked — don't ask again"));
      const dl = el("dl", undefined, "pairs");
      fillPairs(dl, h.dont_ask);
      card.appendChild(dl);
    }
    if (h.captured.length) {
      const table = el("table", undefined, "data");
      table.appendChild(head(["What", "Value", "From"]));
      const body = el("tbody");
      fillCaptured(body, h.captured);
      table.appendChild(body);
      card.appendChild(table);
    }
    const more = el("details");
    more.appendChild(el("summary", `Everything they did (${h.trail.length} steps)`));
    const table = el("table", undefined, "trail");
    table.appendChild(head(["#", "Time", "Step", "Node", "Source", "Detail"]));
    const body = el("tbody"), names = titlesOf(h);
    h.trail.forEach((e) => body.appendChild(entryRow(e, names)));
    table.appendChild(body);
    more.appendChild(table);
    card.appendChild(more);
    return card;
  }

  function step(s) { return s.times ? `${s.title} (↺ ${s.times} times)` : s.title; }

  function head(names) {
    const thead = el("thead"), tr = el("tr");
    names.forEach((n) => tr.appendChild(el("th", n)));
    thead.appendChild(tr);
    return thead;
  }

  // Steps by their titles, as the path above the trail names them, not by node ids.
  function titlesOf(h) { return new Map((h.why.path || []).map((s) => [s.node, s.title])); }
  function named(id, names) { return (id && names.get(id)) || id || ""; }
  const ENDINGS = {hangup: "the flow ended the call", caller_hangup: "the caller hung up",
    error: "self-service failed", dropped: "self-service stopped"};
  function ending(outcome) {
    return outcome && outcome.startsWith("transfer:")
      ? `to a person (queue ${outcome.slice(9)})` : ENDINGS[outcome] || outcome || "";
  }
  function retried(e) {
    const what = e.retry === "no_input" ? "no input" : "not understood";
    return e.count > e.max ? `${what}: retries ran out (${e.max})`
      : `${what}: asked again (${e.count} of ${e.max})`;
  }

  function detail(e, names) {
    switch (e.kind) {
      case "prompt": return e.text || e.file || "";
      case "input": return [e.var ? `${e.label || e.var} =` : "", e.value,
        e.confidence != null ? `(${Math.round(e.confidence * 100)}% sure)` : "",
        e.valid === false ? "(invalid)" : "", e.refused ? `(refused: ${e.refused})` : "",
        e.confirm === "re-enter" ? `(said no to ${e.rejected || "the read-back"})` : "",
        e.matched === false ? (e.ignored ? `(ignored: ${e.ignored})` : "(not understood)") : "",
        e.goto ? `→ ${named(e.goto, names)}` : ""].join(" ").replace(/\s+/g, " ").trim();
      case "http": return `${e.ok ? "ok" : "failed"} ${e.status || ""} ${e.error || ""} ${e.elapsed_ms} ms`;
      case "retry": return `${retried(e)} ${e.reason || ""}`.trim();
      case "page": return e.event === "hold" ? `the call waited while the page was in view (${e.count})`
        : "the caller opened the visual IVR page";
      case "end": return ending(e.outcome);
      case "link": return `${e.by} found the caller's earlier journey ${e.reference}`;
      case "node": return e.type;
      default: return e.lang || e.reason || "";
    }
  }
  function entryRow(e, names = titles) {
    const tr = el("tr", undefined, `k-${e.kind}`);
    tr.dataset.seq = e.seq;
    [e.seq, time(e.at), e.kind, named(e.node, names), e.source || "", detail(e, names)]
      .forEach((x) => tr.appendChild(el("td", x)));
    return tr;
  }
  // The caller answered a form (or saw a card) the agent pushed: say so where the
  // agent looks, and add the answers to the data captured.
  function answered(e) {
    if (e.kind !== "input" || !e.push) return;
    const title = pushes.get(e.push) || "your page";
    $("pushstate").textContent = e.value === "seen" && !e.var
      ? `The caller has seen “${title}”` : `The caller answered “${title}”`;
    if (e.var) {
      const tr = el("tr");
      [e.label || e.var, e.value, "web (your form)"].forEach((x) => tr.appendChild(el("td", x)));
      $("captured").appendChild(tr);
    }
  }
  function addEntry(e) {
    if (entries.has(e.seq)) return;
    entries.set(e.seq, e);
    const tr = entryRow(e);
    const rows = $("trail");
    const after = [...rows.children].find((r) => Number(r.dataset.seq) > e.seq);
    rows.insertBefore(tr, after || null);
    $("count").textContent = `(${entries.size} steps)`;
  }

  $("signin").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    ext = String(f.get("ext")); queues = f.getAll("queues").map(String); leaving = false;
    sessionStorage.setItem(SAVED, JSON.stringify({ext, queues}));
    connect();
  });
  $("signout").addEventListener("click", () => {
    if (journey !== null && !confirm(ended
      ? "This call is not wrapped up yet. Sign out anyway?"
      : "You are on a call. Sign out anyway? Its wrap-up would be lost.")) return;
    sessionStorage.removeItem(SAVED);
    leaving = true; if (ws) ws.close();
    signedOut("");
  });
  // The wrap-up being written is kept in the tab while its call is shown: a reload
  // (the call comes back) does not lose the agent's note.
  function restoreWrapup(id) {
    try {
      const draft = JSON.parse(sessionStorage.getItem(DRAFT) || "null");
      if (!draft || draft.journey !== id || id === null) return;
      const form = $("wrapup");
      form.elements.namedItem("disposition").value = draft.disposition;
      form.elements.namedItem("note").value = draft.note;
      const resolved = form.querySelector(`input[name=resolved][value="${draft.resolved === "no" ? "no" : "yes"}"]`);
      if (draft.resolved && resolved) resolved.checked = true;
    } catch (e) { sessionStorage.removeItem(DRAFT); }
  }
  $("wrapup").addEventListener("input", (ev) => {
    const f = new FormData(ev.currentTarget);
    sessionStorage.setItem(DRAFT, JSON.stringify({journey, disposition: f.get("disposition"),
      resolved: f.get("resolved") || "", note: f.get("note") || ""}));
  });
  $("wrapup").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    send({type: "wrapup", journey, disposition: f.get("disposition"), resolved: f.get("resolved") === "yes", note: f.get("note") || ""});
  });
  $("push").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const fields = String(f.get("fields") || "").split(",").map((s) => s.trim()).filter(Boolean)
      .map((s) => {  // name[:Label[:type]], e.g. email:E-mail or when:Date:date
        const [name, label, type] = s.split(":").map((p) => p.trim());
        return {name, label: label || name, ...(type ? {type} : {})};
      });
    send({type: "push", journey, push: {kind: f.get("kind"), title: f.get("title"), text: f.get("text") || "", fields}});
  });
  $("find").addEventListener("submit", (ev) => {
    ev.preventDefault();
    send({type: "find", reference: String(new FormData(ev.target).get("reference"))});
  });
  setInterval(() => send({type: "ping"}), 25000);
  try {  // reloaded: sign in again as before; a call in progress comes back
    const saved = JSON.parse(sessionStorage.getItem(SAVED) || "null");
    if (saved && saved.ext) {
      ext = String(saved.ext); queues = (saved.queues || []).map(String);
      $("ext").value = ext;
      connect();
    }
  } catch (e) { sessionStorage.removeItem(SAVED); }
})();
