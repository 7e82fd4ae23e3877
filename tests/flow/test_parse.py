"""Reading flow files: the model built, defaults, prompt forms, positions, and that no
input whatever makes the loader raise."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from engine.flow import load_flow_file
from engine.flow.model import (
    Flow,
    Http,
    Input,
    LanguageMenu,
    Menu,
    PromptPart,
    Say,
    Subflow,
    Where,
)
from engine.flow.parse import builtin_prompts, parse_flow
from engine.flow.validate import validate
from engine.flow.yamlsource import Map, Scalar, Seq, decode, load_yaml, to_plain

GOOD = Path(__file__).parent / "fixtures" / "good"
BROKEN = Path(__file__).parent / "fixtures" / "broken"

MINIMAL = """\
start: main
human: agent
nodes:
  main:
    type: menu
    prompt: Press 0.
    options: [{key: 0, label: Person, goto: agent}]
  agent: {type: transfer, queue: help}
"""


def _parse(text: str) -> tuple[object, list[str]]:
    flow, problems = parse_flow(text, "t.yaml")
    return flow, [str(p) for p in problems]


def test_the_bank_example_is_built_as_written() -> None:
    flow, problems = load_flow_file(str(GOOD / "bank.yaml"))
    assert problems == [] and flow is not None
    assert flow.name == "bank"
    assert flow.languages == ("en", "zh")
    assert flow.title.get("zh") == "演示银行"
    assert flow.start == "welcome" and flow.human == "agent"
    welcome = flow.node("welcome")
    assert isinstance(welcome, LanguageMenu)
    assert [(o.key, o.lang, o.goto) for o in welcome.options] == [
        ("1", "en", "main"),
        ("2", "zh", "main"),
    ]
    assert welcome.options[1].label.get("en") == "中文"  # plain text: every language
    main = flow.node("main")
    assert isinstance(main, Menu) and main.type == "menu"
    assert main.option_for_key("1") is not None
    assert main.options[0].phrases["zh"] == ("余额", "查询余额")
    assert main.no_input.max == 3 and main.no_input.goto == "agent"
    assert main.no_input.prompt_for(5).parts("en") == (
        PromptPart(text="Please press a key, or say what you need."),
    )
    assert main.no_match.max == 2
    assert main.agent_note == "Caller reached the main menu."


def test_input_and_http_fields() -> None:
    flow, _ = load_flow_file(str(GOOD / "bank.yaml"))
    assert flow is not None
    account = flow.node("account")
    assert isinstance(account, Input)
    assert (account.var, account.min_length, account.max_length) == ("account", 6, 10)
    assert (account.terminator, account.pattern) == ("#", "^[0-9]{6,10}$")
    assert [o.key for o in account.options] == ["*"]
    lookup = flow.node("lookup")
    assert isinstance(lookup, Http)
    assert (lookup.method, lookup.url, lookup.timeout_s) == ("POST", "{{ backend }}/balance", 4.0)
    assert lookup.body == {"account": "{{ account }}"}
    assert lookup.agent_fields == ("amount", "currency")
    assert list(lookup.targets()) == [("check", lookup.where), ("backend_down", lookup.where)]
    assert isinstance(flow.node("sorry"), Say)  # "play" is an alias of "say"
    lost = flow.node("lost")
    assert isinstance(lost, Subflow) and lost.flow == "lost_card"


def test_defaults() -> None:
    text = MINIMAL + (
        "  pin: {type: input, prompt: PIN, var: pin, next: agent}\n"
        "  get: {type: http, url: 'http://x', save_as: r, next: agent}\n"
    )
    flow, problems = _parse(text)
    assert problems == []
    main = flow.node("main")  # type: ignore[attr-defined]
    assert (main.timeout_s, main.min_confidence) == (5.0, 0.5)
    assert main.no_input.goto == "agent"  # the flow's human
    pin = flow.node("pin")  # type: ignore[attr-defined]
    assert (pin.min_length, pin.max_length, pin.terminator) == (1, 20, "#")
    assert (pin.first_digit_timeout_s, pin.inter_digit_timeout_s) == (8.0, 5.0)
    assert (pin.confirm, pin.sensitive, pin.pattern) == (False, False, None)
    get = flow.node("get")  # type: ignore[attr-defined]
    assert (get.method, get.timeout_s, get.hold_after_s, get.on_error) == ("GET", 5.0, 1.5, "agent")
    assert flow.title.get("en") == "t"  # type: ignore[attr-defined]


def test_builtin_retry_prompts_taper_and_name_a_person_only_when_there_is_one() -> None:
    with_person = builtin_prompts("no_input", "menu", to_person=True)
    without = builtin_prompts("no_match", "input", to_person=False)
    first, second = (p.parts("en")[0].text or "" for p in with_person)
    assert len(first) < len(second) and "person" in second
    assert all("person" not in (p.parts("en")[0].text or "") for p in without)
    assert all(p.parts("zh")[0].text for p in with_person)
    assert "persona" in (with_person[1].parts("es")[0].text or "")


def test_retry_goto_null_hangs_up_even_with_a_human() -> None:
    text = MINIMAL.replace("    options:", "    no_input: {goto: null}\n    options:")
    flow, problems = _parse(text)
    assert problems == []
    assert flow.node("main").no_input.goto is None  # type: ignore[attr-defined]


def test_prompt_forms() -> None:
    text = """\
languages: [en, zh]
start: a
nodes:
  a: {type: say, prompt: {file: hi.wav}, next: b}
  b: {type: say, prompt: {en: [Hello, {file: x.wav}], zh: {file: y.wav}}, next: c}
  c: {type: say, prompt: [One, 2]}
"""
    flow, _ = _parse(text)
    a, b, c = (flow.node(n).prompt for n in "abc")  # type: ignore[attr-defined]
    assert a.by_lang == {"en": (PromptPart(file="hi.wav"),), "zh": (PromptPart(file="hi.wav"),)}
    assert b.by_lang["en"] == (PromptPart(text="Hello"), PromptPart(file="x.wav"))
    assert b.by_lang["zh"] == (PromptPart(file="y.wav"),)
    assert c.by_lang == {"en": (PromptPart(text="One"), PromptPart(text="2"))}


def test_numbers_and_booleans_as_text_stay_as_written() -> None:
    flow, _ = _parse(MINIMAL.replace("label: Person", "label: No"))
    assert flow.node("main").options[0].label.get("en") == "No"  # type: ignore[attr-defined]


def test_positions_are_recorded_for_model_paths() -> None:
    flow, _ = load_flow_file(str(GOOD / "bank.yaml"))
    assert flow is not None
    where = flow.locations[("nodes", "main", "options", 0, "goto")]
    assert (where.line, where.col) == (30, 15)
    assert flow.locations[("nodes", "say_balance", "prompt", "zh", 0)].line == 87
    assert flow.node("main").where.line == 17


def test_type_and_field_errors_point_at_the_key() -> None:
    _, problems = _parse(MINIMAL.replace("type: menu", "type: menuu").replace("queue:", "qeue:"))
    assert problems == [
        "t.yaml:5:11: node 'main': unknown type 'menuu' (did you mean 'menu'?)",
        "t.yaml:8:3: transfer 'agent': missing 'queue' (the agents' queue)",
        "t.yaml:8:27: transfer 'agent': unknown field 'qeue' (did you mean 'queue'?)",
    ]


def test_a_goal_is_kept_and_an_empty_one_said() -> None:
    with_goal = MINIMAL.replace("    type: menu\n", "    type: menu\n    goal: ' helped '\n")
    flow, problems = _parse(with_goal)
    assert problems == []
    assert isinstance(flow, Flow) and flow.node("main").goal == "helped"
    _, problems = _parse(MINIMAL.replace("    type: menu\n", "    type: menu\n    goal:\n"))
    assert problems == [
        "t.yaml:6:10: menu 'main': 'goal' is empty: say what the caller got here, e.g. balance told"
    ]


def test_only_language_menu_options_set_a_language() -> None:
    text = MINIMAL.replace("{key: 0, label", "{key: 0, lang: en, label")
    _, problems = _parse(text)
    assert problems == [
        "t.yaml:7:24: menu 'main' option '0': unknown field 'lang' "
        "(expected one of: key, label, phrases, goto, when)"
    ]
    flow, problems = parse_flow(MINIMAL.replace("type: menu", "type: language"), "t.yaml")
    assert problems == [] and flow is not None  # no lang: keeps the language (0: a person)
    assert [str(p) for p in validate(flow)] == [
        "t.yaml:4:3: warning: language 'main': no option sets a language"
    ]


def test_missing_on_error_without_a_human() -> None:
    text = "start: g\nnodes:\n  g: {type: http, url: u, save_as: r, next: g}\n"
    _, problems = _parse(text)
    assert problems == [
        "t.yaml:3:3: http 'g': missing 'on_error' (where to go on failure; or set the flow's "
        "'human')"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "t.yaml:1:1: the file is empty; a flow needs 'start' and 'nodes'"),
        ("# only a comment\n", "t.yaml:1:1: the file is empty; a flow needs 'start' and 'nodes'"),
        (
            "just text",
            "t.yaml:1:1: a flow file must be a mapping of fields (title, start, nodes, "
            "...), not text ('just text')",
        ),
        ("start: a\nnodes: [a, b]\n", "t.yaml:2:8: flow: 'nodes' must be a mapping, not a list"),
    ],
)
def test_files_that_are_not_flows(text: str, message: str) -> None:
    flow, problems = _parse(text)
    assert flow is None and problems == [message]


def test_loader_keeps_positions_and_block_text_lines() -> None:
    value, problems = load_yaml("a: 1\nb:\n  - x\nc: |\n  one\n  two\n", "f")
    assert problems == [] and isinstance(value, Map)
    assert value.entry("b").key_where == Where("f", 2, 1)  # type: ignore[union-attr]
    b = value.get("b")
    assert isinstance(b, Seq) and b.items[0].where == Where("f", 3, 5)
    c = value.get("c")
    assert isinstance(c, Scalar) and c.where == Where("f", 5, 3)  # the text, not the "|"
    assert to_plain(value) == {"a": 1, "b": ["x"], "c": "one\ntwo\n"}


def test_loader_merge_keys_and_anchors() -> None:
    value, problems = load_yaml("x: &p {a: 1}\ny:\n  <<: *p\n  b: 2\nz: *p\n", "f")
    assert problems == []
    assert to_plain(value) == {"x": {"a": 1}, "y": {"a": 1, "b": 2}, "z": {"a": 1}}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &x [*x]\n", "f:1:4: invalid YAML: an alias that contains itself"),
        ("[" * 200, "f:1:65: document too large: nested more than 64 levels"),
        (
            "a: !!python/object:os.system x\n",
            "f:1:4: YAML tag 'tag:yaml.org,2002:python/object:os.system' is not supported here",
        ),
        ("a: \x00\n", "f:1:4: invalid character U+0000 in the file"),
        (
            "- key: *  # star\n",
            'f:1:8: invalid YAML: a bare * starts an alias: write "*" (quoted) for the key',
        ),
        ("a: *b\n", "f:1:4: invalid YAML: found undefined alias 'b'"),
        ("? [1]\n: 2\n", "f:1:3: a key must be a plain name, not a list or mapping"),
        (
            "a: 1\n---\nb: 2\n",
            "f:2:1: invalid YAML: but found another document (expected a "
            "single document in the stream at line 1)",
        ),
    ],
)
def test_loader_refuses_without_raising(text: str, message: str) -> None:
    _, problems = load_yaml(text, "f")
    assert [str(p) for p in problems] == [message]


def test_decoding_reports_the_first_bad_byte() -> None:
    text, problems = decode(b"a: 1\nb: \xff\n", "f")
    assert text is None and [str(p) for p in problems] == ["f:2:4: not UTF-8 text (a binary file?)"]
    assert decode("\ufeffa: 1".encode(), "f") == ("a: 1", [])
    gbk = decode("a: 1\nb: 您好\n".encode("gbk"), "f")[1]
    assert [str(p) for p in gbk] == [
        "f:2:4: not UTF-8 text (it reads as a Chinese encoding such as GBK: save it as UTF-8)"
    ]
    utf16 = decode("a: 您好".encode("utf-16"), "f")[1]
    assert "it is UTF-16: save it as UTF-8" in str(utf16[0])


def test_unreadable_file(tmp_path: Path) -> None:
    flow, problems = load_flow_file(str(tmp_path / "nope.yaml"))
    assert flow is None
    assert [p.message for p in problems] == ["cannot read the file: No such file or directory"]


def _never_raises(text: str) -> None:
    flow, problems = parse_flow(text, "fuzz.yaml")
    assert flow is not None or problems
    if flow is not None:
        validate(flow, known_flows=["bank"])


def test_random_bytes_never_raise() -> None:
    rng = random.Random(1234)
    for _ in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        text, _ = decode(data, "fuzz.yaml")
        if text is not None:
            _never_raises(text)


def test_truncated_and_mangled_flows_never_raise() -> None:
    sources = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(GOOD.glob("*.yaml"))]
    sources += [
        p.read_text(encoding="utf-8", errors="replace") for p in sorted(BROKEN.glob("*.yaml"))
    ]
    rng = random.Random(99)
    for source in sources:
        for cut in range(0, len(source), max(len(source) // 20, 1)):
            _never_raises(source[:cut])
        for _ in range(15):
            chars = list(source)
            for _ in range(rng.randrange(1, 6)):
                if chars:
                    chars[rng.randrange(len(chars))] = rng.choice(" :-[]{}#&*!|>'\"\t\n0a")
            _never_raises("".join(chars))


def test_yes_and_no_are_words_where_text_is_expected() -> None:
    flow, _ = load_flow_file(str(GOOD / "lost_card.yaml"))
    assert flow is not None
    options = flow.node("ask").options  # type: ignore[union-attr]
    assert options[0].phrases["en"] == ("block it", "yes")
    assert options[1].phrases["en"] == ("go back", "no")
    value, _ = load_yaml("a: yes\nb: true\n", "f")
    assert value is not None and to_plain(value) == {"a": "yes", "b": True}


def test_built_in_retries_offer_a_person_only_where_silence_leads_to_one() -> None:
    """"Stay on the line and I'll connect you to a person": staying on the line is
    silence, so only where the no-input way out is a transfer."""
    text = (
        "start: a\nhuman: agent\nnodes:\n"
        "  a: {type: menu, prompt: A., options: [{key: 1, label: B, goto: b}]}\n"
        "  b:\n    type: menu\n    prompt: B.\n    options: [{key: 1, label: A, goto: a}]\n"
        "    no_input: {goto: bye}\n"
        "  bye: {type: hangup, prompt: Bye.}\n"
        "  agent: {type: transfer, queue: q}\n"
    )
    flow, problems = parse_flow(text, "p.yaml")
    assert flow is not None and not [p for p in problems if p.is_error]

    def second(node: str, kind: str) -> str:
        retry = getattr(flow.nodes[node], kind)
        return str(retry.prompts[1].by_lang["en"][0].text)

    assert second("a", "no_input").endswith("I'll connect you to a person.")
    assert second("a", "no_match").endswith("I'll connect you to a person.")
    assert second("b", "no_input") == (
        "Sorry, I still didn't hear anything. Please use the keys on your phone."
    )
    assert "person" not in second("b", "no_match")


def test_a_full_width_key_is_named_as_such() -> None:
    """A Chinese keyboard types full-width keys: "not text" did not say what was wrong."""
    text = (
        "start: m\nhuman: p\nnodes:\n  m:\n    type: menu\n    prompt: hi\n    options:\n"
        "      - {key: \uff11, label: One, goto: p}\n"
        '      - {key: "\uff03", label: Two, goto: p}\n'
        "  p: {type: transfer, queue: q}\n"
    )
    _, problems = parse_flow(text, "f.yaml")
    assert [str(p) for p in problems] == [
        "f.yaml:8:15: menu 'm' option '\uff11': '\uff11' is a full-width character: type "
        "the key '1'",
        "f.yaml:9:15: menu 'm' option '\uff03': '\uff03' is a full-width character: type "
        "the key '#'",
    ]


def test_a_full_width_space_before_a_blank_line_is_found() -> None:
    """Indenting a node's last field with U+3000, then a blank line: the parser fails
    at the next node, which said "indented more than the field above it"."""
    text = (
        "start: a\nnodes:\n  a:\n    type: say\n    prompt: hi\n\u3000\u3000next: b\n\n"
        "  b:\n    type: hangup\n"
    )
    _, problems = parse_flow(text, "f.yaml")
    assert [str(p) for p in problems] == [
        "f.yaml:6:1: invalid YAML: this is a full-width space (U+3000), which YAML takes for "
        "text: type a plain space"
    ]
