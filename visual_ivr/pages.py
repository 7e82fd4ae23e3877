"""The pages: what a session looks like on a phone, as HTML.

:func:`page_model` turns :func:`engine.session.view.describe` (the node the
journey is at, from the same compiled flow the call runs) into what the template
needs, in the caller's language; :class:`Pages` renders it, either as a whole page
or as the fragment pushed to a page that is open. Everything a page needs is in
the one response (CSS and JS inline, no fonts, no images), which keeps the
critical path of a menu page near 8 KB.

The page leaves out one thing the call offers: a menu option that leads to
texting this very page to the caller's phone (the page is already there).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
from markupsafe import Markup

from engine.flow import model as m
from engine.flow.human import person_answers
from engine.session.machine import Session
from engine.session.view import describe
from engine.spoken_numbers import zh_number
from engine.trail.reference import reference
from visual_ivr.texts import LANG_NAMES, LANG_TAGS, TEXTS, direction


@dataclass(frozen=True, slots=True)
class Where:
    """What a page needs to know beyond the session."""

    call: bool  # the journey has a call (it may have ended since)
    brand: str  # the service's name: the title of the flow the journey started in
    human_phone: str
    restart: str  # where "start again" leads


def _closed_note(session: Session, t: dict[str, str]) -> str:
    """Said beside "Talk to a person" while the flow's people are not there (its
    hours), and when they are back: before the visitor asks, not after."""
    target = session.person_target()
    hours = target[0].hours if target is not None else None
    if target is None or hours is None:
        return ""
    now = session.now()
    if hours.is_open(now):
        return ""
    variables = {**session.vars, m.HOURS_VARIABLE: False}  # its flow's own
    if person_answers(target[0], variables) is not False:
        return ""
    opens = hours.next_open(now)
    if opens is None:
        return t["closed_now"]
    return t["closed_until"].format(when=when_text(opens, hours.local(now), t))


def when_text(moment: datetime, now: datetime, t: dict[str, str]) -> str:
    """"today at 13:30", "tomorrow at 09:00", "on Monday at 09:00", "on Monday 14
    December at 09:00" a week or more ahead, in the page's language."""
    days = (moment.date() - now.date()).days
    key = "today_at" if days == 0 else "tomorrow_at" if days == 1 else "weekday_at"
    months = t.get("months", "").split(",")
    return t[key if days < 7 else "date_at"].format(
        time=moment.strftime("%H:%M"),
        weekday=t["weekdays"].split(",")[moment.weekday()],
        day=moment.day,
        month=months[moment.month - 1] if len(months) == 12 else moment.month,
        month_number=moment.month,
        a_las="a la" if moment.hour == 1 else "a las",  # Spanish: "a la 01:00"
    )


def _says_count(hint: str, count: int) -> bool:
    """Whether the flow's hint already says how many there are (6, 六, 十八)."""
    return bool(re.search(rf"(?<!\d){count}(?!\d)", hint)) or zh_number(str(count)) in hint


def _notice(notice: str | None, call: bool) -> str:
    """The text's key: a page with no call behind it was out of date (another tab,
    a double tap), it was not moved by a call."""
    return "moved_web" if notice == "moved" and not call else notice or ""


def page_model(
    session: Session, where: Where, handoff: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The page's model; ``handoff`` is the handoff's part (see :mod:`handoff_page`)."""
    view = describe(session)
    lang = view["lang"]
    node = view["node"]
    t = TEXTS.get(lang, TEXTS["en"])
    ref = reference(view["journey"])
    p: dict[str, Any] = {
        "lang": lang,
        "lang_tag": LANG_TAGS.get(lang, lang),
        "dir": direction(lang),
        "flow_title": where.brand or view["flow_title"],
        "node_id": node["id"],
        "version": view["version"],
        "at": view["entered"],  # the visit its forms are of
        "done": view["done"],
        "live": where.call and not view["done"],
        "cards": view["cards"],
        "notice": t.get(_notice(view["notice"], where.call), ""),
        "invalid": view["notice"] in ("invalid", "empty"),
        "ref": ref,
        "other_langs": [
            {"code": code, "tag": LANG_TAGS.get(code, code), "name": LANG_NAMES.get(code, code)}
            for code in view["languages"]
            if code != lang
        ],
        "heading": node["title"] or view["flow_title"],  # a subflow's name, if it has one
        "lines": [],
        "restart": "",
        "dial": None,
        "human_option": False,
        "closed_note": "",
    }
    if view["done"]:
        p.update(kind="done", other_langs=[], **_ending(view, where, t, ref))
    elif node["type"] in ("menu", "language"):
        hidden = {
            o.key for o in session.options if m.leads_to_send_link(session.flow, o.goto)
        }
        options = [
            dict(o, tag=LANG_TAGS.get(o.get("lang") or "", o.get("lang") or ""))
            for o in node["options"]
        ]
        p.update(kind="menu", options=[o for o in options if o["key"] not in hidden])
        # A menu that offers a person itself needs no second button for it.
        human = session.flow.human
        p["human_option"] = any(
            o.goto == human for o in session.options if o.key not in hidden
        )
    elif node["type"] == "input":
        spec = node["input"]
        a, b = spec["min_length"], spec["max_length"]
        hint = t["digits"].format(n=a) if a == b else t["digits_range"].format(a=a, b=b)
        if spec["hint"] and _says_count(spec["hint"], b):
            hint = spec["hint"]  # "六位数字": not "六位数字 · 6位数字"
        elif spec["hint"]:  # the flow's own words first: how to write it
            hint = f"{spec['hint']} · {hint}"
        p.update(
            kind="input",
            label=node["title"] or node["label"],
            hint=hint,
            options=node["options"],
            sensitive=spec["sensitive"],
            typed=spec["typed"],
            long=b > 12,  # an ID card's 18 characters: a smaller type, to fit a phone
            letters=spec["letters"],
        )
        if spec["typed_count"]:
            n = spec["typed_count"]
            p["typed_line"] = t["typed_one" if n == 1 else "typed"].format(n=n)
    else:  # say, http, and the nodes a session passes through
        p.update(kind="wait", wait=node.get("hold") or t["one_moment"])
        if node["type"] == "say" and p["cards"]:
            p["kind"] = "cards"
    if not view["done"]:
        p["closed_note"] = _closed_note(session, t)
    # A "Back" the flow itself offers here replaces the page's own; on the first
    # page there is nowhere to go back to, so it is not offered.
    if "options" in p:
        p["options"] = [dict(o, back=o["label"] == t["back"]) for o in p["options"]]
    flow_back = any(o["back"] for o in p.get("options", ()))
    p["own_back"] = not flow_back and session.can_go_back
    p["title"] = f"{p['heading']} · {p['flow_title']}"
    p["handoff"] = handoff
    if handoff is not None and handoff["state"] == "ended" and p["lines"] == [t["transfer_call"]]:
        p["lines"] = []  # not "you're being connected": the handoff's line says it ended
    if handoff is not None and handoff["state"] in _BEING_CALLED and not where.call:
        p["lines"] = []  # not "call us with this reference": a person is calling them
        p["dial"] = None
    # A page stops listening once nothing on it can change: a handoff still can.
    p["final"] = p["done"] and (handoff is None or handoff["settled"])
    return p


_BEING_CALLED = ("calling_back", "queued", "connected")


def _ending(view: dict[str, Any], where: Where, t: dict[str, str], ref: str) -> dict[str, Any]:
    outcome = view["outcome"] or ""
    if outcome.startswith("transfer:"):
        if where.call:
            lines = [t["transfer_call"]]
        elif where.human_phone:
            lines = [t["transfer_web"].format(phone=where.human_phone, ref=ref)]
        else:
            lines = [t["transfer_web_no_phone"].format(ref=ref)]
        again = "" if where.call else f"{where.restart}?again"  # a web-only journey is kept
        return {"heading": t["person"], "lines": lines, "dial": _dial(where, t), "restart": again}
    if outcome == "caller_hangup":
        return {"heading": t["ended"], "lines": [t["call_ended"]], "restart": where.restart}
    if outcome == "hangup":
        # The flow's own last words (its say texts and hangup prompt, in the caller's
        # language) are the page's cards; the page's goodbye only when it said none.
        lines = [] if view["cards"] else [t["hangup"]]
        return {"heading": t["ended"], "lines": lines, "restart": where.restart}
    person = (
        t["transfer_web"].format(phone=where.human_phone, ref=ref)
        if where.human_phone
        else t["transfer_web_no_phone"].format(ref=ref)
    )
    return {
        "heading": t["ended"],
        "lines": [t["error"], person],
        "restart": where.restart,
        "dial": _dial(where, t),
    }


def _dial(where: Where, t: dict[str, str]) -> dict[str, str] | None:
    """A button that calls the human line from the phone the page is on, where the
    journey has no call of its own (a page on a call would start a second one)."""
    number = "".join(c for c in where.human_phone if c.isdigit() or c == "+")
    if where.call or not number.lstrip("+"):
        return None
    return {"href": "tel:" + number, "label": t["dial"].format(phone=where.human_phone)}


def _asset(name: str) -> str:
    return importlib.resources.files("visual_ivr").joinpath("static", name).read_text("utf-8")


def csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


OPEN_LINK_JS = (
    'document.addEventListener("DOMContentLoaded",function(){document.forms[0].submit()})'
)


class Pages:
    """Renders pages; knows the inline CSS and JS (and their CSP hashes)."""

    def __init__(self, base: str = "/v") -> None:
        self.base = base
        self.css = _asset("page.css").strip()
        self.js = _asset("page.js").strip()
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("visual_ivr", "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self._page = self._env.get_template("page.html")
        self._app = self._env.get_template("app.html")
        self._message = self._env.get_template("message.html")
        policy = [
            "default-src 'none'",
            f"style-src {csp_hash(self.css)}",
            f"script-src {csp_hash(self.js)} {csp_hash(OPEN_LINK_JS)}",
            "connect-src 'self'",
            "frame-src 'self'",  # a page without JavaScript: its presence frame
            "form-action 'self'",
            "img-src 'self'",
            "base-uri 'none'",
        ]
        self.csp = "; ".join([*policy, "frame-ancestors 'none'"])
        # That presence frame (/v/s/here): framed by the page, and by no other.
        self.frame_csp = "; ".join([*policy, "frame-ancestors 'self'"])

    def fragment(self, p: dict[str, Any]) -> str:
        return self._app.render(p=p, t=TEXTS.get(p["lang"], TEXTS["en"]), base=self.base)

    def page(self, p: dict[str, Any], fragment: str, digest: str) -> str:
        return self._page.render(
            p=p,
            fragment=Markup(fragment),
            hash=digest,
            css=Markup(self.css),
            js=Markup(self.js),
            base=self.base,
        )

    def message(
        self,
        lang: str,
        heading: str,
        lines: list[str],
        form: dict[str, str] | None = None,
        link: dict[str, str] | None = None,
        script: bool = False,
    ) -> str:
        return self._message.render(
            lang_tag=LANG_TAGS.get(lang, lang),
            dir=direction(lang),
            heading=heading,
            lines=lines,
            form=form,
            link=link,
            css=Markup(self.css),
            script=Markup(OPEN_LINK_JS) if script else None,
        )


def digest(fragment: str) -> str:
    return hashlib.blake2s(fragment.encode("utf-8"), digest_size=8).hexdigest()
