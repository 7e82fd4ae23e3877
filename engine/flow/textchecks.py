"""Checks of what a flow *says*: every declared language present, recordings on disk,
templates that compile and only use variables the flow defines.

Each check walks the compiled flow and points at the exact line through
``Flow.locations`` (model paths recorded by the parser), falling back to the
nearest object's own position.
"""

from __future__ import annotations

import linecache
import os
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass

from engine.flow import templates
from engine.flow.fields import Path
from engine.flow.model import (
    HOURS_VARIABLE,
    NOWHERE,
    AnyNode,
    Branch,
    Flow,
    Hangup,
    Http,
    Input,
    LanguageMenu,
    Menu,
    Prompt,
    Say,
    SetVars,
    Subflow,
    Text,
    Transfer,
    Where,
    builtin_variables,
)
from engine.flow.problems import Problem, did_you_mean, error, warning


def at(flow: Flow, path: Path, fallback: Where) -> Where:
    """Where the value at a model path was written."""
    return flow.locations.get(path, fallback)


def label(node: AnyNode) -> str:
    return f"{node.type} '{node.id}'"


def node_path(node: AnyNode, *rest: str | int) -> Path:
    return ("nodes", node.id, *rest)


@dataclass(frozen=True, slots=True)
class PromptSite:
    prompt: Prompt
    context: str  # "menu 'main' prompt"
    path: Path


def prompts(node: AnyNode) -> Iterator[PromptSite]:
    """Every prompt a designer wrote in the node (built-in retry prompts are skipped)."""
    own = label(node)
    if isinstance(node, Menu | Input | Say | Transfer | Hangup):
        yield PromptSite(node.prompt, f"{own} prompt", node_path(node, "prompt"))
    if isinstance(node, Http):
        yield PromptSite(node.hold_prompt, f"{own} hold_prompt", node_path(node, "hold_prompt"))
    if isinstance(node, Menu | Input):
        for kind, retry in (("no_input", node.no_input), ("no_match", node.no_match)):
            for i, prompt in enumerate(retry.prompts):
                context = f"{own} {kind} prompt {i + 1}"
                yield PromptSite(prompt, context, node_path(node, kind, "prompts", i))


def _texts(flow: Flow) -> Iterator[tuple[Text, str, Path]]:
    yield flow.title, "title", ("title",)
    for node in flow.nodes.values():
        yield node.title, f"{label(node)} title", node_path(node, "title")
        if isinstance(node, Input):
            yield node.hint, f"{label(node)} hint", node_path(node, "hint")
        for i, option in enumerate(getattr(node, "options", ())):
            context = f"{label(node)} option '{option.key}' label"
            yield option.label, context, node_path(node, "options", i, "label")


def has_texts(flow: Flow) -> bool:
    """Whether the flow says or shows anything of its own (a subflow may only look
    something up and branch)."""
    spoken = any(site.prompt for node in flow.nodes.values() for site in prompts(node))
    shown = (text.by_lang for text, _, path in _texts(flow) if path in flow.locations)
    return spoken or any(shown)  # (a title not written is the flow's name)


def _language_problems(
    flow: Flow, present: list[str], context: str, path: Path, where: Where
) -> Iterator[Problem]:
    spoken = ", ".join(flow.languages)
    for lang in flow.languages:
        if lang not in present:
            yield error(where, f"{context}: no '{lang}' version (the flow speaks {spoken})")
    for lang in present:
        if lang not in flow.languages:
            hint = did_you_mean(lang, flow.languages)
            yield error(
                at(flow, (*path, lang), where),
                f"{context}: '{lang}' is not one of the flow's languages ({spoken}){hint}",
            )


def check_languages(flow: Flow) -> Iterator[Problem]:
    """Prompts and labels exist in every declared language, and in no other."""
    for node in flow.nodes.values():
        for site in prompts(node):
            if site.prompt.where is NOWHERE or not site.prompt:
                continue
            present = [lang for lang, parts in site.prompt.by_lang.items() if parts]
            yield from _language_problems(flow, present, site.context, site.path, site.prompt.where)
        for i, option in enumerate(getattr(node, "options", ())):
            path = node_path(node, "options", i, "phrases")
            for lang in option.phrases:
                if lang not in flow.languages:
                    hint = did_you_mean(lang, flow.languages)
                    where = at(flow, (*path, lang), option.where)
                    yield error(
                        where,
                        f"{label(node)} option '{option.key}' phrases: '{lang}' "
                        f"is not one of the flow's languages{hint}",
                    )
            if option.lang is not None and option.lang not in flow.languages:
                where = at(flow, node_path(node, "options", i, "lang"), option.where)
                yield error(
                    where,
                    f"{label(node)} option '{option.key}': '{option.lang}' is not "
                    f"one of the flow's languages ({', '.join(flow.languages)})"
                    f"{did_you_mean(option.lang, flow.languages)}",
                )
        if isinstance(node, LanguageMenu) and all(o.lang is None for o in node.options):
            yield warning(node.where, f"{label(node)}: no option sets a language")
    for text, context, path in _texts(flow):
        if text.by_lang:
            where = at(flow, path, flow.where)
            yield from _language_problems(flow, list(text.by_lang), context, path, where)


BUILTIN_LANGUAGES = frozenset({"en", "zh", "es", "ko"})


def check_builtin_prompts(flow: Flow) -> Iterator[Problem]:
    """Built-in retry prompts exist in English, Chinese, Spanish and Korean only:
    say so, once, when a flow in another language relies on them."""
    others = [lang for lang in flow.languages if lang not in BUILTIN_LANGUAGES]
    if not others:
        return
    for node in flow.nodes.values():
        if isinstance(node, Menu | Input) and any(
            p.where is NOWHERE for r in (node.no_input, node.no_match) for p in r.prompts
        ):
            yield warning(
                node.where,
                f"{label(node)}: no built-in retry prompts in {', '.join(others)}; "
                "give no_input and no_match prompts (callers would hear English)",
            )
            return


def check_files(flow: Flow, base_dir: str | None) -> Iterator[Problem]:
    """Recorded prompts exist, relative to the flow file (or ``base_dir``)."""
    base = base_dir if base_dir is not None else os.path.dirname(flow.path)
    for node in flow.nodes.values():
        for site in prompts(node):
            for lang, parts in site.prompt.by_lang.items():
                for i, part in enumerate(parts):
                    if part.file is None:
                        continue
                    full = os.path.join(base, part.file)
                    where = at(flow, (*site.path, lang, i), site.prompt.where)
                    inside = os.path.abspath(full).startswith(os.path.abspath(base) + os.sep)
                    if not inside:
                        yield warning(
                            where,
                            f"{site.context}: recorded file '{part.file}' is outside the "
                            "flow's folder, so it does not go where the flows go: keep "
                            "recordings beside the flows (e.g. recordings/welcome.wav)",
                        )
                    if not os.path.isfile(full):
                        yield error(
                            where,
                            f"{site.context}: recorded file '{part.file}' not "
                            f"found (looked for {os.path.normpath(full)})",
                        )


@dataclass(frozen=True, slots=True)
class TemplateSite:
    text: str
    context: str
    where: Where
    expression: bool = False
    node: str | None = None  # the node it is in (None: the flow's variables)
    names: frozenset[str] = frozenset()  # what it may use besides the flow's variables


def template_sites(flow: Flow) -> Iterator[TemplateSite]:
    """Every template and expression in the flow, with where it was written."""
    for name, text in flow.variables.items():
        yield TemplateSite(text, f"variables '{name}'", at(flow, ("variables", name), flow.where))
    if flow.caller_name:
        yield TemplateSite(flow.caller_name, "caller_name", at(flow, ("caller_name",), flow.where))
    for node in flow.nodes.values():
        yield from node_templates(flow, node)


def prompt_templates(flow: Flow, node: AnyNode) -> Iterator[TemplateSite]:
    """The texts of the node's prompts, per language."""
    for site in prompts(node):
        many = len(site.prompt.by_lang) > 1
        for lang, parts in site.prompt.by_lang.items():
            context = f"{site.context} ({lang})" if many else site.context
            for i, part in enumerate(parts):
                if part.text is not None:
                    where = at(flow, (*site.path, lang, i), site.prompt.where)
                    yield TemplateSite(part.text, context, where, node=node.id)


def node_templates(flow: Flow, node: AnyNode) -> Iterator[TemplateSite]:
    """The node's templates and expressions, in the order the node renders them."""
    own = label(node)
    for i, option in enumerate(getattr(node, "options", ())):
        if option.when is not None:
            where = at(flow, node_path(node, "options", i, "when"), option.where)
            yield TemplateSite(
                option.when, f"{own} option '{option.key}' when", where, expression=True,
                node=node.id,
            )
    yield from prompt_templates(flow, node)
    if isinstance(node, Http):
        where = at(flow, node_path(node, "url"), node.where)
        yield TemplateSite(node.url, f"{own} url", where, node=node.id)
        for key, text in (node.body or {}).items():
            where = at(flow, node_path(node, "body", key), node.where)
            yield TemplateSite(text, f"{own} body '{key}'", where, node=node.id)
        for key, text in node.headers.items():
            where = at(flow, node_path(node, "headers", key), node.where)
            yield TemplateSite(
                text, f"{own} header '{key}'", where, node=node.id, names=SECRETS_NAMES
            )
    if isinstance(node, SetVars):
        for key, text in node.values.items():
            where = at(flow, node_path(node, "values", key), node.where)
            yield TemplateSite(text, f"{own} values '{key}'", where, node=node.id)
    if isinstance(node, Branch):
        for i, case in enumerate(node.cases):
            where = at(flow, node_path(node, "cases", i, "when"), case.where)
            yield TemplateSite(
                case.when, f"{own} case {i + 1}", where, expression=True, node=node.id
            )


def node_sets(node: AnyNode) -> set[str]:
    """The variables the node itself sets (an input's var, an http result, set values)."""
    if isinstance(node, Input):
        return {node.var}
    if isinstance(node, Http):
        return {node.save_as} - {""}  # "": fire and forget
    if isinstance(node, SetVars):
        return set(node.values)
    return set()


SECRETS = "secrets"  # the engine's secrets, by name: {{ secrets.billing_token }}
SECRETS_NAMES = frozenset({SECRETS})
SECRETS_ONLY_IN_HEADERS = (
    "'secrets' can be read only in an http node's headers (a secret must not be spoken, "
    "shown on the page, kept in the trail or put into a URL a server logs)"
)

_BUILTIN_MEANING = {
    "caller_id": "the caller's number",
    "called": "the number called",
    "call_id": "the journey's id",
    "lang": "the caller's language",
    "flow": "the flow's name",
    "channel": "the call's channel",
    "engine_url": "the engine's web address",
    "open": "whether the hours say the line is open",
}


def check_empty_prompts(flow: Flow) -> Iterator[Problem]:
    """A menu's or input's prompt written but empty in a language (``zh: ""``): its
    callers hear nothing and wait for a timeout they were never told of."""
    for node in flow.nodes.values():
        if not isinstance(node, Menu | Input) or not node.prompt.by_lang:
            continue
        for lang, parts in node.prompt.by_lang.items():
            if all(part.file is None and not (part.text or "").strip() for part in parts):
                yield warning(
                    node.prompt.where if node.prompt.where.line else node.where,
                    f"{label(node)} prompt ({lang}): empty, so its callers hear nothing "
                    "before the wait for a key",
                )


def check_plain_texts(flow: Flow) -> Iterator[Problem]:
    """Titles and labels are shown as written (on the page, in the agent's trail):
    a template in one would show its braces, so say so where it is written."""
    for text, context, path in _texts(flow):
        told: set[Where] = set()  # a plain text stands for every language: once
        for lang, value in text.by_lang.items():
            where = at(flow, (*path, lang), at(flow, path, flow.where))
            if ("{{" in value or "{%" in value) and where not in told:
                told.add(where)
                yield warning(
                    where,
                    f"{context}: titles and labels are shown as written, braces and "
                    "all; a value belongs in a say node's prompt",
                )


def check_builtin_overwrites(flow: Flow) -> Iterator[Problem]:
    """A node that sets a built-in variable: every later use reads its value instead
    of what the engine says (``var: caller_id`` loses the caller's number)."""
    lost = (
        "; the hours set it again at every node, so this value is lost: choose another name"
    )
    for node in flow.nodes.values():
        for name in sorted(node_sets(node) & builtin_variables(flow)):
            field = {Input: ("var",), Http: ("save_as",)}.get(type(node), ("values", name))
            yield warning(
                at(flow, node_path(node, *field), node.where),
                f"{label(node)}: sets '{name}', a built-in variable ("
                f"{_BUILTIN_MEANING.get(name, 'set by the engine')})"
                + (lost if name == HOURS_VARIABLE else
                   "; later uses read this instead: choose another name"),
            )
    if flow.hours is not None and HOURS_VARIABLE in flow.variables:
        yield warning(
            at(flow, ("variables", HOURS_VARIABLE), flow.where),
            f"variables: '{HOURS_VARIABLE}' is {_BUILTIN_MEANING[HOURS_VARIABLE]}{lost}",
        )


def check_sensitive_readback(
    flow: Flow, flows: Mapping[str, Flow | None] | None = None
) -> Iterator[Problem]:
    """A prompt that reads out what a ``sensitive`` input took (a PIN, of this flow or
    of a subflow it calls): whoever is near the caller hears it, and the trail, which
    masks the input everywhere, keeps the prompt's text as it was spoken."""
    secrets = _sensitive_inputs(flow, "")
    for name in called_flows(flow, flows or {}):
        called = (flows or {}).get(name)
        if called is not None:
            secrets = _sensitive_inputs(called, f" of flow '{name}'") | secrets
    if not secrets:
        return
    for node in flow.nodes.values():
        for site in prompt_templates(flow, node):
            for name in sorted(templates.referenced_names(site.text) & secrets.keys()):
                yield warning(
                    name_where(site, name),
                    f"{site.context}: reads out '{name}', which {secrets[name]} takes as "
                    "sensitive: anyone near the caller hears it, and the trail keeps the "
                    "prompt's text unmasked",
                )


def _sensitive_inputs(flow: Flow, of: str) -> dict[str, str]:
    return {
        node.var: f"{label(node)}{of}"
        for node in flow.nodes.values()
        if isinstance(node, Input) and node.sensitive
    }


def defined_variables(flow: Flow) -> set[str]:
    """Names a template may use: built-ins, declared, and those nodes set."""
    names = set(builtin_variables(flow)) | set(flow.variables)
    for node in flow.nodes.values():
        names |= node_sets(node)
    return names


def _shift(where: Where, text: str, line: int) -> Where:
    """The position of the template's ``line`` (1-based) in the file."""
    if line <= 1 or where is NOWHERE:
        return where
    return Where(where.file, where.line + min(line, text.count("\n") + 1) - 1, where.col)


def name_where(site: TemplateSite, name: str) -> Where:
    """Where the template uses ``name``: its line, and its column read from the
    file's line (the text's own offsets differ from the file's by quotes, escapes
    and folding). A folded text (``>-``, or a quoted one over several lines) has
    lost its line breaks: its file lines are read on until the name is found, for
    no more of the file than the text is long."""
    where = _shift(site.where, site.text, _line_of(site.text, name))
    if where is NOWHERE:
        return where
    linecache.checkcache(where.file)
    number, budget = where.line, len(site.text) + 1
    start = where.col - 1 if where.line == site.where.line else 0
    while budget > 0 and (line := linecache.getline(where.file, number)):
        column = _use_in(line, start, name, site.expression)
        if column is not None:
            return Where(where.file, number, column)
        budget -= len(line[start:].strip()) + 1
        number, start = number + 1, 0
    return where


def _use_in(line: str, start: int, name: str, expression: bool) -> int | None:
    """The column of ``name`` used in a template on this file line, from ``start``."""
    for found in re.finditer(rf"\b{re.escape(name)}\b", line[start:]):
        before = line[start : start + found.start()]
        opened = before.count("{{") + before.count("{%") - before.count("}}") - before.count("%}")
        if expression or opened > 0:
            return start + found.start() + 1
    return None


def _line_of(text: str, name: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if re.search(rf"\b{re.escape(name)}\b", line):
            return number
    return 1


def called_flows(flow: Flow, flows: Mapping[str, Flow | None]) -> list[str]:
    """The names of the flows this one calls, and the flows they call (an unknown or
    unreadable one is named, but what it would call is not)."""
    seen: list[str] = []
    stack = [n.flow for n in flow.nodes.values() if isinstance(n, Subflow)]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.append(name)
        called = flows.get(name)
        if called is not None:
            stack.extend(n.flow for n in called.nodes.values() if isinstance(n, Subflow))
    return seen


def subflow_variables(flow: Flow, flows: Mapping[str, Flow | None]) -> set[str]:
    """Variables set by the flows this one calls, and the flows they call: a subflow
    shares the call's variables, so what it sets is there when it returns."""
    names: set[str] = set()
    for name in called_flows(flow, flows):
        called = flows.get(name)
        if called is not None:
            names |= defined_variables(called)
    # 'open' is each flow's own, from its own hours: a subflow's is not this one's.
    return names - {HOURS_VARIABLE} if flow.hours is None else names


_BRACES = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)


def _braced_expression(site: TemplateSite) -> str | None:
    """An expression written as a template (``when: "{{ hours.open }}"``), which does
    not compile: what to write instead. (A branch case's and an option's 'when' are
    the fields that are expressions.)"""
    if not site.expression or "{{" not in site.text:
        return None
    bare = " ".join(_BRACES.sub(r"\1", site.text).split())
    return f"a 'when' is an expression: write it without {{{{ }}}}, e.g. when: {bare}"


def check_templates(
    flow: Flow,
    also_defined: Collection[str] = (),
    unchecked: Collection[str] = (),
    set_elsewhere: Callable[[str], bool] = lambda name: False,
) -> Iterator[Problem]:
    """Templates compile, and use only variables the flow defines (or
    ``also_defined``: those its subflows set). Names in the nodes ``unchecked`` are
    not looked up (they come after a subflow that could not be read). A use guarded
    with ``is defined`` or ``| default`` may read a name another flow sets (one that
    calls this flow): ``set_elsewhere`` says whether one does; a name no flow sets is
    a typo, guarded or not. A name in ``flow.unread_sets`` is not reported: a field
    that would set it was misspelled, and that is the mistake said."""
    defined = defined_variables(flow) | set(also_defined)
    returns = any(node.type == "return" for node in flow.nodes.values())
    # Names a branch proves set ("x is defined"): the use-before-set check follows
    # where they are read, as for a guarded use.
    proven = {
        name
        for node in flow.nodes.values()
        if isinstance(node, Branch)
        for case in node.cases
        for name in templates.expression_names(case.when)
        - templates.required_names(case.when, expression=True)
    }
    subflow_hint = (
        " (if a flow that calls this one sets it, give it a default under 'variables', "
        "or write '| default(...)')"
    )
    for site in template_sites(flow):
        if site.expression:
            issue = templates.expression_issue(site.text)
        elif "{" in site.text:
            issue = templates.template_issue(site.text)
        else:
            continue
        if issue is not None:
            message = _braced_expression(site) or f"template error: {issue.message}"
            yield error(_shift(site.where, site.text, issue.line), f"{site.context}: {message}")
            continue
        if site.node in unchecked:
            continue
        used = (templates.expression_names if site.expression else templates.referenced_names)(
            site.text
        )
        required = templates.required_names(site.text, site.expression)
        for name in sorted(used - defined - flow.unread_sets - site.names):
            elsewhere = name != HOURS_VARIABLE and set_elsewhere(name)  # 'open' is its own
            if (name not in required or name in proven) and elsewhere:
                continue
            where = name_where(site, name)
            if name == SECRETS and name not in defined:
                yield error(where, f"{site.context}: {SECRETS_ONLY_IN_HEADERS}")
                continue
            hint = did_you_mean(name, defined) or (
                subflow_hint if returns and name in required else ""
            )
            if name == HOURS_VARIABLE and flow.hours is None:
                hint = " (it is set from the flow's 'hours', which this flow does not give)"
            yield error(where, f"{site.context}: unknown variable '{name}'{hint}")
