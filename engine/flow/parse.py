"""From a flow file's text to a :class:`~engine.flow.model.Flow`.

Reading checks the *shape* of the file (unknown types and fields, missing or
mistyped values), each mistake reported at its line and column; whether the flow
makes sense as a call (targets, loops, templates) is :mod:`engine.flow.validate`'s
job. After a shape error the flow is still built, with placeholders (``""`` for a
missing target), so validation can report the rest in the same run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from engine.flow.fields import (
    Context,
    Path,
    Reader,
    read_key,
    read_phrases,
    read_prompt,
    read_templates,
    read_text,
    unread_variables,
)
from engine.flow.hours_reader import read_hours
from engine.flow.model import (
    AnyNode,
    Branch,
    Case,
    Flow,
    Hangup,
    Http,
    Input,
    LanguageMenu,
    Listening,
    Menu,
    Option,
    Prompt,
    PromptPart,
    Retry,
    Return,
    Say,
    SetVars,
    Subflow,
    Text,
    Transfer,
    Where,
)
from engine.flow.problems import Problem, did_you_mean, error, sorted_problems, warning
from engine.flow.schema import (
    CASE_FIELDS,
    FLOW_FIELDS,
    LANGUAGE_OPTION_FIELDS,
    LANGUAGE_PATTERN,
    METHODS,
    NODE_ALIASES,
    NODE_FIELDS,
    OPTION_FIELDS,
    RETRY_FIELDS,
    Table,
    default,
    node_fields,
)
from engine.flow.yamlsource import Map, Scalar, YValue, describe, load_yaml

RetryKind = Literal["no_input", "no_match"]

# Built-in retry prompts, tapered: short first, then more help. The second names the
# way to a person when the retries end at one.
_BUILTIN: Mapping[tuple[RetryKind, str], Mapping[str, tuple[str, str, str]]] = {
    ("no_input", "any"): {
        "en": (
            "Sorry, I didn't hear you.",
            "Sorry, I still didn't hear anything. Please use the keys on your phone.",
            " If you need help, stay on the line and I'll connect you to a person.",
        ),
        "zh": (
            "抱歉，我没有听到您的声音。",
            "抱歉，仍然没有收到您的输入。请使用电话键盘按键。",
            "如需帮助，请不要挂机，我将为您转接人工服务。",
        ),
        "es": (
            "Disculpe, no le he oído.",
            "Disculpe, sigo sin oír nada. Use las teclas de su teléfono, por favor.",
            " Si necesita ayuda, no cuelgue y le pondré con una persona.",
        ),
        "ko": (
            "죄송합니다. 말씀을 듣지 못했습니다.",
            "죄송합니다. 아직 아무것도 들리지 않습니다. 전화기의 버튼을 눌러 주세요.",
            " 도움이 필요하시면 끊지 말고 기다려 주세요. 상담원에게 연결해 드리겠습니다.",
        ),
    },
    ("no_match", "menu"): {
        "en": (
            "Sorry, that isn't one of the choices.",
            "Sorry, I still didn't get that. Please listen to the choices and press a key.",
            " Or stay on the line and I'll connect you to a person.",
        ),
        "zh": (
            "抱歉，没有这个选项。",
            "抱歉，仍然无法识别您的选择。请听清选项后按相应的键。",
            "或者请不要挂机，我将为您转接人工服务。",
        ),
        "es": (
            "Disculpe, esa no es una de las opciones.",
            "Disculpe, sigo sin entenderle. Escuche las opciones y pulse una tecla.",
            " O no cuelgue y le pondré con una persona.",
        ),
        "ko": (
            "죄송합니다. 선택할 수 없는 항목입니다.",
            "죄송합니다. 여전히 알아듣지 못했습니다. 안내를 들으시고 버튼을 눌러 주세요.",
            " 또는 끊지 말고 기다리시면 상담원에게 연결해 드리겠습니다.",
        ),
    },
    ("no_match", "input"): {
        "en": (
            "Sorry, that entry isn't valid.",
            "Sorry, that still isn't valid. Please enter it again, slowly.",
            " Or stay on the line and I'll connect you to a person.",
        ),
        "zh": (
            "抱歉，您的输入无效。",
            "抱歉，输入仍然无效。请慢慢重新输入。",
            "或者请不要挂机，我将为您转接人工服务。",
        ),
        "es": (
            "Disculpe, ese dato no es válido.",
            "Disculpe, sigue sin ser válido. Vuelva a marcarlo despacio.",
            " O no cuelgue y le pondré con una persona.",
        ),
        "ko": (
            "죄송합니다. 입력하신 내용이 올바르지 않습니다.",
            "죄송합니다. 여전히 올바르지 않습니다. 천천히 다시 입력해 주세요.",
            " 또는 끊지 말고 기다리시면 상담원에게 연결해 드리겠습니다.",
        ),
    },
}


def builtin_prompts(kind: RetryKind, node_type: str, to_person: bool) -> tuple[Prompt, ...]:
    """The built-in tapered prompts for a retry (English, Chinese, Spanish, Korean)."""
    texts = _BUILTIN[(kind, "any" if kind == "no_input" else node_type)]
    first = {lang: (PromptPart(text=t[0]),) for lang, t in texts.items()}
    second = {
        lang: (PromptPart(text=t[1] + (t[2] if to_person else "")),) for lang, t in texts.items()
    }
    return Prompt(first), Prompt(second)


def _no_false_promise(nodes: dict[str, AnyNode]) -> None:
    """The built-in retry prompts say "stay on the line and I'll connect you to a
    person". Staying on the line is silence, which takes the no-input way out: where
    that is not a transfer, they leave the sentence out."""
    for node_id, node in nodes.items():
        if not isinstance(node, Menu | Input):
            continue
        goto = node.no_input.goto
        if goto is not None and isinstance(nodes.get(goto), Transfer):
            continue
        nodes[node_id] = replace(
            node,
            no_input=_without_person(node.no_input, "no_input"),
            no_match=_without_person(node.no_match, "no_match"),
        )


def _without_person(retry: Retry, kind: RetryKind) -> Retry:
    """``retry`` without the person sentence, if its prompts are the built-in ones."""
    for node_type in ("menu", "input"):
        if retry.prompts == builtin_prompts(kind, node_type, True):
            return replace(retry, prompts=builtin_prompts(kind, node_type, False))
    return retry


@dataclass(frozen=True, slots=True)
class _Base:
    """What every node has, read before its type-specific fields."""

    id: str
    where: Where
    title: Text
    agent_note: str | None
    goal: str | None
    type: str

    @property
    def label(self) -> str:
        return f"{self.type} '{self.id}'"

    @property
    def path(self) -> Path:
        return ("nodes", self.id)

    @property
    def head(self) -> tuple[str, Where, Text, str | None, str | None]:
        """The fields every node starts with, in order."""
        return self.id, self.where, self.title, self.agent_note, self.goal


def _retry(r: Reader, kind: RetryKind, node_type: str, node_where: Where) -> Retry:
    ctx = r.ctx
    found = r.mapping(kind)
    if found is None:
        goto = ctx.human
        return Retry(3, builtin_prompts(kind, node_type, goto is not None), goto, node_where)
    label = f"{r.label} {kind}"
    m = Reader(ctx, found, RETRY_FIELDS, label, (*r.path, kind))
    goto = m.target("goto") if "goto" in found else ctx.human
    prompts_seq = m.sequence("prompts")
    if prompts_seq is None:
        prompts = builtin_prompts(kind, node_type, goto is not None)
    else:
        prompts = tuple(
            read_prompt(ctx, item, f"{label} prompt {i + 1}", (*r.path, kind, "prompts", i))
            for i, item in enumerate(prompts_seq.items)
        )
    return Retry(m.count("max"), prompts, goto, found.where)


def _options(r: Reader, table: Table) -> tuple[Option, ...]:
    found = r.sequence("options")
    options: list[Option] = []
    for i, item in enumerate(found.items if found else ()):
        path = (*r.path, "options", i)
        if not isinstance(item, Map):
            r.ctx.error(
                item.where,
                f"{r.label} option {i + 1}: must be a mapping "
                f"(key, label, goto), not {describe(item)}",
            )
            continue
        options.append(_option(r, item, table, i, path))
    return tuple(options)


def _option(r: Reader, item: Map, table: Table, i: int, path: Path) -> Option:
    key_value = item.get("key")
    raw = key_value.text() if isinstance(key_value, Scalar) else None
    label = f"{r.label} option '{raw}'" if raw else f"{r.label} option {i + 1}"
    o = Reader(r.ctx, item, table, label, path)
    key = read_key(r.ctx, o.value("key"), label) or ""
    lang = o.string("lang") if "lang" in item else None
    return Option(
        key=key,
        label=read_text(r.ctx, o.value("label"), f"{label} label", (*path, "label")),
        phrases=read_phrases(r.ctx, o.value("phrases"), f"{label} phrases", (*path, "phrases")),
        goto=o.target("goto") or "",
        where=item.where,
        lang=lang,
        when=o.string("when") if "when" in item else None,
    )


def _prompt(r: Reader, name: str = "prompt") -> Prompt:
    return read_prompt(r.ctx, r.value(name), f"{r.label} {name}", (*r.path, name))


def _menu(r: Reader, b: _Base) -> AnyNode:
    is_language = b.type == "language"
    cls = LanguageMenu if is_language else Menu
    return cls(
        *b.head,
        prompt=_prompt(r),
        options=_options(r, LANGUAGE_OPTION_FIELDS if is_language else OPTION_FIELDS),
        no_input=_retry(r, "no_input", "menu", b.where),
        no_match=_retry(r, "no_match", "menu", b.where),
        timeout_s=r.seconds("timeout"),
        min_confidence=r.fraction("min_confidence"),
        listening=_listening(r),
    )


def _listening(r: Reader) -> Listening:
    return Listening(
        end_silence_s=r.seconds("end_silence"),
        max_speech_s=r.seconds("max_speech"),
        barge_in=r.flag("barge_in"),
        early_decision=r.flag("early_decision"),
        confirm=r.flag("confirm_speech"),
    )


def _terminator(r: Reader) -> str | None:
    if "terminator" not in r.map:
        found = default(r.table, "terminator")
        return found if isinstance(found, str) else None
    value = r.value("terminator")
    if isinstance(value, Scalar) and value.value is None:
        if not value.raw:  # "terminator: #": the rest of the line is a comment
            r.ctx.error(
                value.where,
                f'{r.label} terminator: empty (# starts a comment): write "#" in quotes, '
                "or null for no terminator",
            )
        return None
    return read_key(r.ctx, value, f"{r.label} terminator")


def _input(r: Reader, b: _Base) -> AnyNode:
    return Input(
        *b.head,
        prompt=_prompt(r),
        var=r.variable_name("var") or "",
        min_length=r.count("min_length"),
        max_length=r.count("max_length"),
        terminator=_terminator(r),
        first_digit_timeout_s=r.seconds("first_digit_timeout"),
        inter_digit_timeout_s=r.seconds("inter_digit_timeout"),
        pattern=r.string("pattern"),
        confirm=r.flag("confirm"),
        sensitive=r.flag("sensitive"),
        next=r.target("next") or "",
        no_input=_retry(r, "no_input", "input", b.where),
        no_match=_retry(r, "no_match", "input", b.where),
        options=_options(r, OPTION_FIELDS),
        min_confidence=r.fraction("min_confidence"),
        listening=_listening(r),
        hint=read_text(r.ctx, r.value("hint"), f"{r.label} hint", (*r.path, "hint")),
        letter_keys=_letter_keys(r),
    )


def _letter_keys(r: Reader) -> dict[str, str]:
    found = r.mapping("letter_keys")
    out: dict[str, str] = {}
    for entry in found.entries if found is not None else ():
        letter = entry.key
        if len(letter) != 1 or not letter.isascii() or not letter.isalpha():
            r.ctx.error(entry.key_where, f"{r.label} letter_keys: '{letter}' is not a letter")
            continue
        key = read_key(r.ctx, entry.value, f"{r.label} letter_keys '{letter}'")
        if key is not None:
            out[letter.upper()] = key
    return out


def _say(r: Reader, b: _Base) -> AnyNode:
    return Say(*b.head, prompt=_prompt(r), next=r.target("next"))


def _method(r: Reader) -> Literal["GET", "POST"]:
    text = r.string("method")
    if text is None or text.upper() == "GET":
        return "GET"
    if text.upper() == "POST":
        return "POST"
    found = r.map.get("method")
    assert found is not None
    r.ctx.error(
        found.where, f"{r.label}: 'method' must be one of {', '.join(METHODS)}, not '{text}'"
    )
    return "GET"


def _http(r: Reader, b: _Base) -> AnyNode:
    body = r.mapping("body")
    on_error = r.target("on_error") or r.ctx.human
    if "on_error" not in r.map and on_error is None:
        r.ctx.error(
            b.where,
            f"{b.label}: missing 'on_error' (where to go on failure; or set the flow's 'human')",
        )
    return Http(
        *b.head,
        method=_method(r),
        url=r.string("url") or "",
        body=None
        if body is None
        else read_templates(
            r.ctx, body, f"{b.label} body", (*b.path, "body"), names_only=False, literals=True
        ),
        timeout_s=r.seconds("timeout"),
        save_as=r.variable_name("save_as") or "",
        next=r.target("next") or "",
        on_error=on_error or "",
        hold_prompt=_prompt(r, "hold_prompt"),
        hold_after_s=r.seconds("hold_after"),
        headers=_headers(r, b),
        agent_fields=_agent_fields(r, b),
    )


def _agent_fields(r: Reader, b: _Base) -> tuple[str, ...] | None:
    found = r.sequence("agent_fields")
    if found is None:
        return None
    if "save_as" not in r.map:
        r.ctx.problems.append(
            warning(found.where, f"{b.label}: 'agent_fields' without 'save_as': the result "
                    "is not kept, so the agent sees none of it")
        )
    fields: list[str] = []
    for item in found.items:
        text = item.text() if isinstance(item, Scalar) else None
        if not text or text in fields:
            what = f"'{text}' is given twice" if text else f"{describe(item)} is not a field name"
            r.ctx.error(item.where, f"{b.label} agent_fields: {what}")
            continue
        fields.append(text)
    return tuple(fields)


_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_ENGINE_HEADERS = frozenset({"host", "content-length", "content-type", "transfer-encoding"})


def _headers(r: Reader, b: _Base) -> dict[str, str]:
    found = r.mapping("headers")
    if found is None:
        return {}
    for entry in found.entries:
        if not _HEADER_NAME.fullmatch(entry.key):
            r.ctx.error(entry.key_where, f"{b.label} headers: '{entry.key}' is not a header name")
        elif entry.key.lower() in _ENGINE_HEADERS:
            r.ctx.error(
                entry.key_where,
                f"{b.label} headers: '{entry.key}' is the engine's to send (the body is JSON)",
            )
    return read_templates(
        r.ctx, found, f"{b.label} headers", (*b.path, "headers"), names_only=False
    )


def _branch(r: Reader, b: _Base) -> AnyNode:
    found = r.sequence("cases")
    cases: list[Case] = []
    for i, item in enumerate(found.items if found else ()):
        label = f"{b.label} case {i + 1}"
        if not isinstance(item, Map):
            r.ctx.error(
                item.where, f"{label}: must be a mapping (when, goto), not {describe(item)}"
            )
            continue
        c = Reader(r.ctx, item, CASE_FIELDS, label, (*b.path, "cases", i))
        cases.append(Case(c.string("when") or "", c.target("goto") or "", item.where))
    return Branch(*b.head, cases=tuple(cases), default=r.target("default") or "")


def _set(r: Reader, b: _Base) -> AnyNode:
    values = read_templates(
        r.ctx, r.mapping("values"), f"{b.label} values", (*b.path, "values"), names_only=True
    )
    return SetVars(*b.head, values=values, next=r.target("next") or "")


def _subflow(r: Reader, b: _Base) -> AnyNode:
    return Subflow(*b.head, flow=r.flow_name("flow") or "", next=r.target("next") or "")


def _return(r: Reader, b: _Base) -> AnyNode:
    return Return(*b.head)


def _transfer(r: Reader, b: _Base) -> AnyNode:
    return Transfer(
        *b.head, queue=r.queue_name("queue") or "", prompt=_prompt(r), survey=r.flow_name("survey")
    )


def _hangup(r: Reader, b: _Base) -> AnyNode:
    return Hangup(*b.head, prompt=_prompt(r))


_BUILDERS: Mapping[str, Callable[[Reader, _Base], AnyNode]] = {
    "menu": _menu,
    "language": _menu,
    "input": _input,
    "say": _say,
    "http": _http,
    "branch": _branch,
    "set": _set,
    "subflow": _subflow,
    "return": _return,
    "transfer": _transfer,
    "hangup": _hangup,
}
assert set(_BUILDERS) == set(NODE_FIELDS)


def _node_type(ctx: Context, node_id: str, body: Map, where: Where) -> str | None:
    found = body.get("type")
    choices = sorted({*NODE_FIELDS, *NODE_ALIASES})
    if found is None:
        ctx.error(where, f"node '{node_id}': missing 'type' (one of: {', '.join(choices)})")
        return None
    text = found.text() if isinstance(found, Scalar) else None
    if text is None:
        ctx.error(found.where, f"node '{node_id}': 'type' must be one of: {', '.join(choices)}")
        return None
    text = NODE_ALIASES.get(text, text)
    if text not in NODE_FIELDS:
        hint = did_you_mean(text, choices) or f" (one of: {', '.join(choices)})"
        ctx.error(found.where, f"node '{node_id}': unknown type '{text}'{hint}")
        return None
    ctx.mark(("nodes", node_id, "type"), found.where)
    return text


def _stand_in(ctx: Context, node_id: str, where: Where) -> AnyNode:
    """What a node that could not be read becomes: a return with no 'type' recorded.
    The validator knows it (its targets, its kind are unknown), and judges nothing
    through it: not which nodes it leads to, nor whether it is a transfer."""
    ctx.locations.pop(("nodes", node_id, "type"), None)
    return Return(node_id, where, Text(), None, None)


def _node(ctx: Context, node_id: str, value: YValue, where: Where) -> AnyNode:
    ctx.mark(("nodes", node_id), where)
    if not isinstance(value, Map):
        ctx.error(
            value.where, f"node '{node_id}': must be a mapping with a 'type', not {describe(value)}"
        )
        return _stand_in(ctx, node_id, where)
    node_type = _node_type(ctx, node_id, value, where)
    if node_type is None:
        ctx.unread_sets.update(unread_variables(value))
        return _stand_in(ctx, node_id, where)
    label = f"{node_type} '{node_id}'"
    r = Reader(ctx, value, node_fields(node_type), label, ("nodes", node_id), where)
    base = _Base(
        node_id,
        where,
        read_text(ctx, r.value("title"), f"{label} title", ("nodes", node_id, "title")),
        r.string("agent_note"),
        _goal(r),
        node_type,
    )
    return _BUILDERS[node_type](r, base)


def _goal(r: Reader) -> str | None:
    goal = r.string("goal")
    found = r.map.get("goal")
    if found is not None and not (goal or "").strip():
        r.ctx.error(
            found.where,
            f"{r.label}: 'goal' is empty: say what the caller got here, e.g. balance told",
        )
        return None
    return goal.strip() if goal else None


def _languages(r: Reader) -> tuple[str, ...]:
    found = r.sequence("languages")
    if found is None:
        return ("en",)
    languages: list[str] = []
    for i, item in enumerate(found.items):
        r.ctx.mark(("languages", i), item.where)
        text = item.text() if isinstance(item, Scalar) else None
        if text is None or not re.match(LANGUAGE_PATTERN, text):
            r.ctx.error(
                item.where,
                f"languages: '{text or describe(item)}' is not a language "
                "code such as en, zh or en-US",
            )
        elif text in languages:
            r.ctx.error(item.where, f"languages: '{text}' is listed twice")
        else:
            languages.append(text)
    if not found.items:
        r.ctx.error(found.where, "languages: the list is empty; name at least one, e.g. [en]")
    return tuple(languages) or ("en",)


_NODE_FIELD_NAMES = frozenset(f.name for table in NODE_FIELDS.values() for f in table) | {"type"}


def _nodes(ctx: Context, r: Reader) -> dict[str, AnyNode] | None:
    found = r.mapping("nodes")
    if found is None:
        return None
    nodes: dict[str, AnyNode] = {}
    for e in found:
        above = next(reversed(nodes), None)
        if above is not None and _field_indented_as_node(e.key, e.value):
            ctx.error(
                e.key_where,
                f"'{e.key}' is indented as a node of its own: indent it as deep as the "
                f"fields of node '{above}' above to make it one of them",
            )
            continue
        if not e.key.strip() or e.key != e.key.strip() or "/" in e.key or not e.key.isprintable():
            ctx.error(
                e.key_where,
                f"node id {e.key!r}: an id is a name without '/' (reports write a "
                "subflow's nodes flow/node), control characters or spaces at its ends",
            )
        nodes[e.key] = _node(ctx, e.key, e.value, e.key_where)
    for e in found.repeated:
        if e.key not in nodes:
            continue
        # An id defined twice (reported as a duplicate key): which definition was meant
        # is not known, so neither stands; each is still read for its own mistakes.
        _node(ctx, e.key, e.value, e.key_where)
        for definition in (found.get(e.key), e.value):
            if isinstance(definition, Map):
                ctx.unread_sets.update(unread_variables(definition))
        nodes[e.key] = _stand_in(ctx, e.key, nodes[e.key].where)
    return nodes


def _field_indented_as_node(key: str, value: YValue) -> bool:
    """``next: agent`` written at the nodes' depth: a field name, and no node."""
    return key in _NODE_FIELD_NAMES and not (isinstance(value, Map) and "type" in value)


def flow_name(path: str) -> str:
    """A flow's name: its file name without the extension."""
    return os.path.splitext(os.path.basename(path))[0]


def parse_flow(text: str, path: str, name: str | None = None) -> tuple[Flow | None, list[Problem]]:
    """Read a flow file's text. The flow is None only when the file cannot be read as
    a flow at all (not YAML, not a mapping, no nodes); otherwise it is built even with
    errors, so :func:`~engine.flow.validate.validate` can report more."""
    value, problems = load_yaml(text, path)
    if value is None:
        return None, problems or [
            error(Where(path, 1, 1), "the file is empty; a flow needs 'start' and 'nodes'")
        ]
    if not isinstance(value, Map):
        return None, [
            *problems,
            error(
                value.where,
                "a flow file must be a mapping of fields "
                f"(title, start, nodes, ...), not {describe(value)}",
            ),
        ]
    ctx = Context(path, name or flow_name(path))
    ctx.problems.extend(problems)
    r = Reader(ctx, value, FLOW_FIELDS, "flow", (), Where(path, 1, 1))
    ctx.languages = _languages(r)
    ctx.human = r.target("human")
    title = read_text(ctx, r.value("title"), "title", ("title",))
    variables = read_templates(
        ctx, r.mapping("variables"), "variables", ("variables",), names_only=True
    )
    start = r.target("start") or ""
    caller_name = r.string("caller_name")
    hours_map = r.mapping("hours")
    hours = read_hours(ctx, hours_map) if hours_map is not None else None
    nodes = _nodes(ctx, r)
    if nodes is None:
        return None, sorted_problems(ctx.problems)
    _no_false_promise(nodes)
    flow = Flow(
        name=ctx.name,
        path=path,
        title=title if title.by_lang else Text({lang: ctx.name for lang in ctx.languages}),
        languages=ctx.languages,
        start=start,
        variables=variables,
        nodes=nodes,
        human=ctx.human,
        caller_name=caller_name,
        hours=hours,
        where=value.where,
        locations=ctx.locations,
        unread_sets=frozenset(ctx.unread_sets),
    )
    return flow, sorted_problems(ctx.problems)
