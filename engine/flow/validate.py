"""Does a parsed flow make sense as a call?

Structure: every target names a node; every node is reached from ``start``; from
every node the call can end (hang up, transfer, return); no loop goes round without
waiting for the caller; every menu can reach a person; option keys are unique, and an
input's shortcut keys cannot begin a valid entry. Content (:mod:`.textchecks`):
languages, recordings, templates, variables; whether each variable is set before it is
used (:mod:`.dataflow`); inputs a keypad can fill in (:mod:`.keypad`).

Theory of the graph checks (the graph and its searches: :mod:`.walk`): nodes are
vertices, targets are edges. "Can end" is a backward search from the ending nodes.
Loops are the strongly connected components (Tarjan) of the graph restricted to nodes
that take no input; a trap with no way out is a component of the non-ending nodes
that has no edge out of itself. Checks across flows: :mod:`.subflows`.
"""

from __future__ import annotations

import difflib
import re
import time
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping

from engine.flow import dataflow, keypad, textchecks
from engine.flow.human import check_human
from engine.flow.model import (
    AnyNode,
    Branch,
    Flow,
    Hangup,
    Http,
    Input,
    Menu,
    Return,
    Say,
    Subflow,
    Transfer,
    Where,
)
from engine.flow.problems import Problem, did_you_mean, error, sorted_problems, warning
from engine.flow.subflows import (
    check_recursion,
    check_subflows,
    flows_with_a_person,
    unreadable_subflows,
)
from engine.flow.textchecks import at, label, node_path
from engine.flow.walk import Graph, components, cycle, edges, graph, search
from engine.speech.grammar import normalise

_INPUT_TYPES = (Menu, Input)
_MAX_PROBE_LENGTH = 32
_MAX_PATTERN_LENGTH = 64
_FILLS: tuple[str, ...] = (*"0123456789", "0123456789", "9876543210", "1357924680")
_SLOW_CHECK_S = 0.02  # one entry checked against a pattern, on the loop every call shares


# What a dialplan can pass as the flow (agi://host/<flow>; the sandbox's loopback).
_DIALLABLE_NAME = re.compile(r"[0-9A-Za-z_.-]+")


def check_name(flow: Flow) -> Iterator[Problem]:
    """The flow's name (its file name) is what a dialplan asks the engine for."""
    if not _DIALLABLE_NAME.fullmatch(flow.name):
        yield error(
            Where(flow.path, 1, 1),
            f"the flow's name '{flow.name}' (its file name) cannot be asked for from a "
            "dialplan: name the file with letters, digits, '_', '-' and '.' only",
        )


def check_start_and_human(flow: Flow) -> Iterator[Problem]:
    if flow.start and flow.start not in flow.nodes:
        yield error(
            at(flow, ("start",), flow.where),
            f"start: unknown node '{flow.start}'{did_you_mean(flow.start, flow.nodes)}",
        )
    yield from check_human(flow)


_MAX_SUGGESTIONS = 100  # each compares a name with every node: a generated flow has thousands


def check_targets(flow: Flow) -> Iterator[Problem]:
    suggested = 0
    for node in flow.nodes.values():
        for edge in edges(node):
            if not edge.target.strip() or edge.target in flow.nodes:
                continue  # '' is reported where it is read
            if edge.target == flow.human:
                continue  # reported once, at 'human'
            suggested += 1
            hint = did_you_mean(edge.target, flow.nodes) if suggested <= _MAX_SUGGESTIONS else ""
            yield error(
                at(flow, edge.path, node.where),
                f"{label(node)} {edge.what}: unknown node '{edge.target}'{hint}",
            )


def _unreadable(flow: Flow, node: AnyNode) -> bool:
    """A stand-in the parser left for a node whose type it could not read."""
    return bool(flow.locations) and node_path(node, "type") not in flow.locations


def check_reachable(flow: Flow, succ: Graph) -> Iterator[Problem]:
    if flow.start not in flow.nodes:
        return
    roots = [n for n in (flow.start, flow.human) if n is not None and n in flow.nodes]
    meant = _meant_targets(flow)
    reached = search(roots, lambda n: succ[n] + meant.get(n, ()))
    for node_id, node in flow.nodes.items():
        if node_id not in reached and not _unreadable(flow, node):
            yield warning(node.where, f"{label(node)}: never reached from start '{flow.start}'")


def _meant_targets(flow: Flow) -> dict[str, tuple[str, ...]]:
    """Per node, the nodes its unknown targets most likely mean ('mian' for 'main'),
    and every node for one the parser could not read: one mistake is one error, not
    also a warning for each node behind it."""
    meant: dict[str, tuple[str, ...]] = {}
    guesses = 0
    for node_id, node in flow.nodes.items():
        if _unreadable(flow, node):  # its targets are unknown: it may lead to any node
            meant[node_id] = tuple(flow.nodes)
        for edge in edges(node):
            if edge.target in flow.nodes or guesses >= _MAX_SUGGESTIONS:
                continue
            guesses += 1
            close = difflib.get_close_matches(edge.target, list(flow.nodes), n=1, cutoff=0.6)
            meant[node_id] = meant.get(node_id, ()) + tuple(close)
    return meant


def _ends(flow: Flow, node: AnyNode) -> bool:
    """The call (or subflow) can stop at this node. A node naming an unknown node
    counts too: that mistake is reported on its own."""
    if any(e.target not in flow.nodes for e in edges(node)):
        return True
    if isinstance(node, Hangup | Transfer | Return):
        return True
    if isinstance(node, Say):
        return node.next is None
    if isinstance(node, Menu | Input):
        return node.no_input.goto is None or node.no_match.goto is None
    return False


def _predecessors(succ: Graph) -> dict[str, list[str]]:
    pred: dict[str, list[str]] = {n: [] for n in succ}
    for node, targets in succ.items():
        for target in targets:
            pred[target].append(node)
    return pred


def check_exits(flow: Flow, succ: Graph) -> Iterator[Problem]:
    pred = _predecessors(succ)
    ending = [n for n, node in flow.nodes.items() if _ends(flow, node)]
    can_end = search(ending, lambda n: pred[n])
    stuck = [n for n in flow.nodes if n not in can_end]
    for component in components(stuck, succ):
        members = set(component)
        if any(t not in members for n in component for t in succ[n]):
            continue  # it leads into another trap, reported there
        if not any(isinstance(flow.nodes[n], Menu | Input | Branch | Subflow) for n in component):
            continue  # a plain loop without input: check_loops reports it
        node = flow.nodes[component[0]]
        around = f"goes round {', '.join(component)} and " if len(component) > 1 else ""
        yield error(
            node.where,
            f"{label(node)}: no way out: the call {around}never reaches a "
            "hangup, transfer or return",
        )


def check_loops(flow: Flow, succ: Graph) -> Iterator[Problem]:
    """Cycles through nodes that never wait for the caller."""
    quiet = [n for n, node in flow.nodes.items() if not isinstance(node, _INPUT_TYPES)]
    for component in components(quiet, succ):
        first = component[0]
        if len(component) == 1 and first not in succ[first]:
            continue
        way = " -> ".join(cycle(first, set(component), succ))
        node = flow.nodes[first]
        message = f"{label(node)}: a loop that never waits for the caller: {way}"
        if any(isinstance(flow.nodes[n], Branch | Subflow) for n in component):
            yield warning(node.where, message + " (make sure a case or the subflow leaves it)")
        else:
            yield error(node.where, message)


def check_people(
    flow: Flow, succ: Graph, flows: Mapping[str, Flow | None] | None = None
) -> Iterator[Problem]:
    """Every menu can lead to a person: a transfer, or a subflow whose flow can reach
    one (``flows``: the known flows); a return hands back to the caller."""
    person = flows_with_a_person(flows)

    def helps(node: AnyNode) -> bool:
        return isinstance(node, Transfer | Return) or (
            isinstance(node, Subflow) and person(node.flow)
        )

    # Backwards from every node that helps: what can reach one (once, not per menu).
    pred: dict[str, list[str]] = {}
    for source, targets in succ.items():
        for target in targets:
            pred.setdefault(target, []).append(source)
    helping = [node_id for node_id, node in flow.nodes.items() if helps(node)]
    leads_to_one = search(helping, lambda n: pred.get(n, ()))
    for node_id, node in flow.nodes.items():
        if isinstance(node, Menu) and node_id not in leads_to_one:
            fix = (
                "add an option that leads to one, or leave out a retry's goto so that it "
                f"ends at the flow's 'human' ('{flow.human}')"
                if isinstance(flow.nodes.get(flow.human or ""), Transfer | Branch)
                else "add an option for one or set the flow's 'human'"
            )
            yield error(
                node.where,
                f"{label(node)}: no way to reach a person from this menu "
                f"(no path to a transfer); {fix}",
            )


def check_keys(flow: Flow) -> Iterator[Problem]:
    for node in flow.nodes.values():
        if not isinstance(node, Menu | Input):
            continue
        if isinstance(node, Menu) and not node.options:
            yield error(node.where, f"{label(node)}: a menu needs at least one option")
        first: dict[str, int] = {}
        for i, option in enumerate(node.options):
            if not option.key:
                continue
            where = at(flow, node_path(node, "options", i, "key"), option.where)
            if option.key in first:
                other = node.options[first[option.key]].where.line
                yield error(
                    where,
                    f"{label(node)} option '{option.key}': key '{option.key}' is "
                    f"already used at line {other}",
                )
            else:
                first[option.key] = i
        yield from _same_phrases(flow, node)


def _same_phrases(flow: Flow, node: Menu | Input) -> Iterator[Problem]:
    """A phrase two options share is heard as the first of them, always."""
    first: dict[tuple[str, str], int] = {}
    for i, option in enumerate(node.options):
        for lang, phrases in option.phrases.items():
            for phrase in phrases:
                said = (lang, normalise(phrase))
                j = first.setdefault(said, i)
                if j == i:
                    continue
                other = node.options[j]
                yield error(
                    at(flow, node_path(node, "options", i, "phrases", lang), option.where),
                    f"{label(node)} option '{option.key}': option '{other.key}' (line "
                    f"{other.where.line}) already has the {lang} phrase '{phrase}', so a "
                    f"caller saying it always gets option '{other.key}'; give each option "
                    "its own words",
                )


def _probe(node: Input, key: str, pattern: re.Pattern[str] | None) -> str | None:
    """An entry starting with ``key`` that the input would accept, if any."""
    if pattern is None:
        return key + "0" * max(node.min_length - 1, 0) if key.isdigit() else None
    shortest = max(node.min_length, 1)
    for length in range(shortest, min(node.max_length, _MAX_PROBE_LENGTH) + 1):
        for fill in _FILLS:
            candidate = key + (fill * length)[: length - 1]
            if pattern.fullmatch(candidate):
                return candidate
    return None


def _slow(pattern: re.Pattern[str], max_length: int) -> bool:
    """Some entry of up to ``max_length`` keys takes the pattern long to check
    (nested repetition such as ``(\\d+)+`` backtracks exponentially on an entry
    that almost matches). Lengths are tried from the shortest, so a pattern of that
    kind is caught before it takes long; a slow time is measured three times, so
    that the machine being busy for a moment does not count."""
    for length in range(1, min(max_length, _MAX_PROBE_LENGTH * 2) + 1):
        for last in "0*#":
            entry = "0" * (length - 1) + last
            if min(_timed(pattern, entry) for _ in range(3)) > _SLOW_CHECK_S:
                return True
    return False


def _timed(pattern: re.Pattern[str], entry: str) -> float:
    started = time.perf_counter()
    pattern.fullmatch(entry)
    return time.perf_counter() - started


def _compiled(pattern: str | None) -> tuple[re.Pattern[str] | None, str | None, str | None]:
    """The pattern compiled, why it does not compile, and what Python warns of it
    ("[[0-9]": a set inside a set may mean something else in a later Python)."""
    if pattern is None:
        return None, None, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # read by pattern_warning
            compiled = re.compile(pattern)
    except re.error as exc:
        return None, exc.msg, None
    except (OverflowError, RecursionError) as exc:  # "\\d{4294967296}", 2000 nested groups
        return None, str(exc) if isinstance(exc, OverflowError) else "nested too deeply", None
    return compiled, None, keypad.pattern_warning(pattern)


# Variable names that hold what only the caller should know.
_SECRET_NAME = re.compile(
    r"(^|[_\W\d])(pin|pins|passcode|password|passwd|cvv|cvc|cvv2|ssn|secret)([_\W\d]|$)"
    r"|pincode|passcode|password",
    re.IGNORECASE,
)


def _sounds_secret(var: str) -> bool:
    """``pin``, ``card_pin``, ``cardPin``, ``cvv2``, ``password`` (not ``spinner``)."""
    return _SECRET_NAME.search(re.sub("([a-z])([A-Z])", r"\1_\2", var)) is not None


def check_inputs(flow: Flow) -> Iterator[Problem]:
    for node in flow.nodes.values():
        if not isinstance(node, Input):
            continue
        pattern, bad, doubtful = _compiled(node.pattern)
        if bad is not None:
            where = at(flow, node_path(node, "pattern"), node.where)
            yield error(where, f"{label(node)} pattern: not a valid regular expression: {bad}")
        if doubtful is not None:
            where = at(flow, node_path(node, "pattern"), node.where)
            yield warning(where, f"{label(node)} pattern: {doubtful} (write '\\[' for a "
                          "bracket in a set, or check the brackets)")
        if node.min_length > node.max_length:
            where = at(flow, node_path(node, "min_length"), node.where)
            yield error(
                where,
                f"{label(node)}: min_length {node.min_length} is more than "
                f"max_length {node.max_length}",
            )
        if pattern is not None and _slow(pattern, node.max_length):
            where = at(flow, node_path(node, "pattern"), node.where)
            yield error(
                where,
                f"{label(node)} pattern: an entry that almost matches takes over "
                f"{_SLOW_CHECK_S * 1000:.0f} ms to check, and every call waits meanwhile; "
                "nested repetition such as (\\d+)+ is the usual cause: write \\d+",
            )
            continue
        yield from _never_accepted(flow, node, bad)
        if not node.sensitive and _sounds_secret(node.var):
            where = at(flow, node_path(node, "var"), node.where)
            yield warning(
                where,
                f"{label(node)}: '{node.var}' sounds like a secret, but the input is not "
                "sensitive: what the caller enters is shown to the agent, kept in the "
                "trail and read back aloud (add sensitive: true)",
            )
        for i, option in enumerate(node.options):
            example = _probe(node, option.key, pattern) if option.key and not bad else None
            if example is not None:
                where = at(flow, node_path(node, "options", i, "key"), option.where)
                yield error(
                    where,
                    f"{label(node)} option '{option.key}': key '{option.key}' can "
                    f"also begin a valid entry (e.g. '{example}'); use a key the input "
                    "never starts with, such as * or #",
                )


def _never_accepted(flow: Flow, node: Input, bad: str | None) -> Iterator[Problem]:
    """Inputs a caller cannot fill in: a digit terminator, a pattern no entry of
    digits, * and # of an allowed length matches (warnings: the flow still runs)."""
    if node.terminator is not None and node.terminator.isdigit():
        where = at(flow, node_path(node, "terminator"), node.where)
        yield warning(
            where,
            f"{label(node)} terminator '{node.terminator}': a digit ends the entry the "
            f"moment it is pressed, so no entry can contain {node.terminator} (use '#' or "
            "'*', or terminator: null)",
        )
    if node.pattern is None or bad is not None or node.min_length > node.max_length:
        return
    lengths = keypad.entry_lengths(node.pattern, min(node.max_length, _MAX_PATTERN_LENGTH))
    if lengths is not None and not any(n >= node.min_length for n in lengths):
        where = at(flow, node_path(node, "pattern"), node.where)
        yield warning(
            where,
            f"{label(node)} pattern: no entry of {_keys(node)} (digits, * and #) "
            "matches it, so every entry is refused",
        )


def _keys(node: Input) -> str:
    if node.min_length == node.max_length:
        return f"{node.min_length} key{'s' if node.min_length != 1 else ''}"
    return f"{node.min_length} to {node.max_length} keys"


def check_http(flow: Flow) -> Iterator[Problem]:
    for node in flow.nodes.values():
        if isinstance(node, Http) and node.body is not None and node.method == "GET":
            where = at(flow, node_path(node, "body"), node.where)
            yield warning(where, f"{label(node)}: a body is only sent with method POST")


# (language, phrase) -> the phrase's words the speech model for that language cannot
# recognise, or None when no model serves the language.
Vocabulary = Callable[[str, str], list[str] | None]


def check_phrases(flow: Flow, vocabulary: Vocabulary) -> Iterator[Problem]:
    """Spoken phrases with words the configured speech model does not know: the
    recogniser could never hear them (pocketsphinx leaves them out of the grammar).
    Phrases in a language no model serves are said once: its callers use keys."""
    unserved: set[str] = set()
    for node in flow.nodes.values():
        if not isinstance(node, _INPUT_TYPES):
            continue
        for i, option in enumerate(node.options):
            for lang, phrases in option.phrases.items():
                for phrase in phrases:
                    unknown = vocabulary(lang, phrase)
                    path = node_path(node, "options", i, "phrases", lang)
                    if unknown is None and lang not in unserved:
                        unserved.add(lang)
                        yield warning(
                            at(flow, path, option.where),
                            f"{label(node)} option '{option.key}': no speech model for "
                            f"'{lang}' here, so its callers use keys only (name one in "
                            "[speech] models or IVR_SPEECH_MODELS, e.g. "
                            f"{lang}=vosk:/path/to/model)",
                        )
                    if not unknown:
                        continue
                    words = ", ".join(f"'{w}'" for w in unknown)
                    yield warning(
                        at(flow, path, option.where),
                        f"{label(node)} option '{option.key}': the {lang} speech model cannot "
                        f"recognise {words} in '{phrase}' (callers saying it will not be "
                        "understood; use other words)",
                    )


def _set_by_other_flows(
    flow: Flow, flows: Mapping[str, Flow | None] | None
) -> Callable[[str], bool]:
    """Whether another known flow sets a name (read only when a guarded use asks:
    the other flows are then parsed, once)."""
    names: set[str] | None = None

    def sets(name: str) -> bool:
        nonlocal names
        if names is None:
            others = (f for n, f in (flows or {}).items() if n != flow.name and f is not None)
            names = set().union(*(textchecks.defined_variables(other) for other in others))
        return name in names

    return sets


def validate(
    flow: Flow,
    known_flows: Collection[str] | None = None,
    base_dir: str | None = None,
    vocabulary: Vocabulary | None = None,
) -> list[Problem]:
    """Every problem found in the flow, in file order.

    ``known_flows``: the names a subflow may call (unchecked when None); a mapping
    name -> parsed flow (or None for one that could not be read) also makes the
    variables those flows set known here. ``base_dir``: where recordings are looked
    for (default: the flow file's directory). ``vocabulary``: checks spoken phrases
    against the speech models (skipped when None)."""
    from_subflows: set[str] = set()
    flows = known_flows if isinstance(known_flows, Mapping) else None
    if flows is not None:
        from_subflows = textchecks.subflow_variables(flow, flows)
    succ = graph(flow)
    after_unreadable = search(
        [n.next for n in unreadable_subflows(flow, flows) if n.next in succ], lambda n: succ[n]
    )
    defined = frozenset(textchecks.defined_variables(flow) | from_subflows)
    problems = [
        *check_name(flow),
        *check_start_and_human(flow),
        *check_targets(flow),
        *check_reachable(flow, succ),
        *check_exits(flow, succ),
        *check_loops(flow, succ),
        *check_people(flow, succ, flows),
        *check_keys(flow),
        *check_inputs(flow),
        *check_http(flow),
        *textchecks.check_languages(flow),
        *textchecks.check_builtin_prompts(flow),
        *textchecks.check_builtin_overwrites(flow),
        *textchecks.check_empty_prompts(flow),
        *textchecks.check_plain_texts(flow),
        *textchecks.check_sensitive_readback(flow, flows),
        *textchecks.check_files(flow, base_dir),
        *textchecks.check_templates(
            flow, from_subflows, after_unreadable, _set_by_other_flows(flow, flows)
        ),
        *dataflow.check_use_before_set(flow, defined, flows),
    ]
    if known_flows is not None:
        problems.extend(check_subflows(flow, known_flows))
        problems.extend(check_recursion(flow, flows))
    if vocabulary is not None:
        problems.extend(check_phrases(flow, vocabulary))
    return sorted_problems(problems)
