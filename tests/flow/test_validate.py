"""Snapshot tests: each broken fixture's problems, exactly as ``ivr validate`` prints
them, next to it in ``*.expected``. Run with ``UPDATE_SNAPSHOTS=1`` to rewrite the
expected files after a deliberate change, then read the diff."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.flow import load_flow_dir, load_flow_file, parse_flow_dir
from engine.flow.parse import parse_flow
from engine.flow.validate import validate
from engine.session import events as ev
from engine.session.machine import CallInfo, Session

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
BROKEN = sorted((FIXTURES / "broken").glob("*.yaml"))
GOOD_NAMES = sorted(p.stem for p in (FIXTURES / "good").glob("*.yaml"))


def _report(path: Path) -> str:
    relative = os.path.relpath(path, REPO)
    _, problems = load_flow_file(relative, GOOD_NAMES)
    return "".join(f"{p}\n" for p in problems)


def _checked(directory: Path, name: str, text: str) -> list[str]:
    """Write ``name``.yaml into ``directory`` and check it as ``ivr validate`` does,
    beside the flows there: the messages."""
    (directory / f"{name}.yaml").write_text(text, encoding="utf-8")
    known = parse_flow_dir(str(directory))
    return [p.message for p in load_flow_file(str(directory / f"{name}.yaml"), known)[1]]


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_fixture_matches_snapshot(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    expected_file = path.with_suffix(".expected")
    report = _report(path)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        expected_file.write_text(report, encoding="utf-8")
    assert report == expected_file.read_text(encoding="utf-8")
    assert any(" warning: " not in line for line in report.splitlines()), "no error"


def test_every_broken_fixture_has_a_snapshot() -> None:
    expected = {p.stem for p in (FIXTURES / "broken").glob("*.expected")}
    assert expected == {p.stem for p in BROKEN}


def test_good_fixtures_load_without_problems() -> None:
    flows, problems = load_flow_dir(str(FIXTURES / "good"))
    assert [str(p) for p in problems] == []
    assert sorted(flows) == GOOD_NAMES


def test_a_flow_name_a_dialplan_cannot_ask_for(tmp_path: Path) -> None:
    good = (FIXTURES / "good" / "lost_card.yaml").read_text(encoding="utf-8")
    for name in ("outage line", "停电"):
        (tmp_path / f"{name}.yaml").write_text(good, encoding="utf-8")
        _, problems = load_flow_file(str(tmp_path / f"{name}.yaml"))
        assert [p.message for p in problems if p.is_error] == [
            f"the flow's name '{name}' (its file name) cannot be asked for from a dialplan: "
            "name the file with letters, digits, '_', '-' and '.' only"
        ]


def test_a_pin_a_subflow_took_as_sensitive_is_not_read_out(tmp_path: Path) -> None:
    (tmp_path / "sign_in.yaml").write_text(
        "start: pin\nnodes:\n"
        "  pin: {type: input, prompt: Your PIN., var: pin, sensitive: true, next: done}\n"
        "  done: {type: return}\n",
        encoding="utf-8",
    )
    text = (
        "start: in\nhuman: agent\nnodes:\n"
        "  in: {type: subflow, flow: sign_in, next: said}\n"
        '  said: {type: say, prompt: "PIN {{ pin }}.", next: agent}\n'
        "  agent: {type: transfer, queue: support}\n"
    )
    assert _checked(tmp_path, "main", text) == [
        "say 'said' prompt: reads out 'pin', which input 'pin' of flow 'sign_in' takes as "
        "sensitive: anyone near the caller hears it, and the trail keeps the prompt's text "
        "unmasked"
    ]
    sent = text.replace(
        'type: say, prompt: "PIN {{ pin }}."', "type: http, url: 'http://x/{{ pin }}'"
    )
    assert _checked(tmp_path, "main", sent) == []  # sent to a backend, not said


def test_a_subflow_may_read_what_its_caller_sets_when_it_guards_the_use(
    tmp_path: Path,
) -> None:
    (tmp_path / "parent.yaml").write_text(
        "start: pc\nhuman: agent\nnodes:\n"
        "  pc: {type: input, prompt: Your postcode., var: postcode, min_length: 4,"
        " max_length: 6, next: child}\n"
        "  child: {type: subflow, flow: child, next: agent}\n"
        "  agent: {type: transfer, queue: support}\n",
        encoding="utf-8",
    )

    def child(prompt: str) -> list[str]:
        return _checked(
            tmp_path,
            "child",
            f"start: greet\nnodes:\n  greet: {{type: say, prompt: \"{prompt}\", next: done}}\n"
            "  done: {type: return}\n",
        )

    assert child("Postcode {{ postcode | default('') }}.") == []
    # After a branch that proves it set (the case "postcode is defined").
    proven = _checked(
        tmp_path,
        "proven",
        "start: chk\nnodes:\n"
        "  chk: {type: branch, cases: [{when: postcode is defined, goto: say}], default: done}\n"
        "  say: {type: say, prompt: \"Postcode {{ postcode }}.\", next: done}\n"
        "  done: {type: return}\n",
    )
    assert proven == []
    assert child("{% if postcode is defined %}{{ postcode }}{% endif %}") == []
    assert child("Postcode {{ postcode }}.") == [
        "say 'greet' prompt: unknown variable 'postcode' (if a flow that calls this one "
        "sets it, give it a default under 'variables', or write '| default(...)')"
    ]
    # A guarded name that no flow sets is a typo all the same.
    assert child("Postcode {{ postcod | default('') }}.") == [
        "say 'greet' prompt: unknown variable 'postcod'"
    ]


def test_a_flow_that_calls_itself(tmp_path: Path) -> None:
    (tmp_path / "loopy.yaml").write_text(
        "start: sub\nhuman: agent\nnodes:\n"
        "  sub: {type: subflow, flow: loopy, next: agent}\n"
        "  agent: {type: transfer, queue: support}\n",
        encoding="utf-8",
    )
    (tmp_path / "a.yaml").write_text(
        "start: menu\nhuman: agent\nnodes:\n"
        "  menu: {type: menu, prompt: Hi, options: [{key: 1, label: B, goto: callb},"
        " {key: 0, label: Person, goto: agent}]}\n"
        "  callb: {type: subflow, flow: b, next: menu}\n"
        "  agent: {type: transfer, queue: support}\n",
        encoding="utf-8",
    )
    (tmp_path / "b.yaml").write_text(
        "start: back\nnodes:\n"
        "  back: {type: subflow, flow: a, next: done}\n  done: {type: return}\n",
        encoding="utf-8",
    )
    known = parse_flow_dir(str(tmp_path))

    def found(name: str) -> list[str]:
        return [str(p) for p in load_flow_file(str(tmp_path / f"{name}.yaml"), known)[1]]

    assert found("loopy") == [
        f"{tmp_path}/loopy.yaml:4:30: subflow 'sub': calls back into 'loopy' (loopy -> loopy) "
        "before the caller is asked anything, so the call goes round for ever: a called flow "
        "goes back with a return",
        f"{tmp_path}/loopy.yaml:4:30: warning: subflow 'sub': flow 'loopy' has no return node, "
        "so the call never comes back to 'agent'",
    ]
    # a -> b -> a waits at a's menu each time round: a warning, in each flow.
    assert found("a") == [
        f"{tmp_path}/a.yaml:5:32: warning: subflow 'callb': calls back into 'a' (a -> b -> a): "
        "every time round adds a frame; go back with a return, or a goto in this flow"
    ]
    assert [p.is_error for p in load_flow_file(str(tmp_path / "b.yaml"), known)[1]] == [False] * 2


def test_validate_says_what_the_engine_will_do_with_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """x.yaml and x.yml: the engine serves x.yaml; a subflow that never returns."""
    monkeypatch.setenv("IVR_SPEECH", "off")  # the phrases are not what this is about
    lost = (FIXTURES / "good" / "lost_card.yaml").read_text(encoding="utf-8")
    (tmp_path / "lost_card.yaml").write_text(lost, encoding="utf-8")
    (tmp_path / "lost_card.yml").write_text(lost, encoding="utf-8")
    assert main(["validate", str(tmp_path)]) == 1
    assert capsys.readouterr().out == (
        f"{tmp_path}/lost_card.yml:1:1: another file already defines the flow 'lost_card' "
        f"({tmp_path}/lost_card.yaml); this one is ignored\n"
    )
    flows, problems = load_flow_dir(str(tmp_path))
    assert flows["lost_card"].path == str(tmp_path / "lost_card.yaml")
    assert [str(p) for p in problems] == [
        f"{tmp_path}/lost_card.yml:1:1: another file already defines the flow 'lost_card' "
        f"({tmp_path}/lost_card.yaml); this one is ignored"
    ]


def test_an_unknown_subflow_is_one_error_not_a_cascade(tmp_path: Path) -> None:
    problems = _checked(
        tmp_path,
        "main",
        "start: who\nhuman: agent\nnodes:\n"
        "  who: {type: subflow, flow: verify_idd, next: hello}\n"
        '  hello: {type: say, prompt: "Hello {{ customer_no }}.", next: agent}\n'
        "  agent: {type: transfer, queue: support}\n",
    )
    assert problems == ["subflow 'who': unknown flow 'verify_idd'"]


def test_a_prompt_written_but_empty_in_a_language(tmp_path: Path) -> None:
    problems = _checked(
        tmp_path,
        "e",
        "languages: [en, zh]\nstart: main\nhuman: agent\nnodes:\n"
        '  main: {type: menu, prompt: {en: "Press 0.", zh: ""},'
        " options: [{key: 0, label: {en: Person, zh: 人工}, goto: agent}]}\n"
        '  agent: {type: transfer, queue: q, prompt: {en: "Hi.", zh: "好。"}}\n',
    )
    assert load_flow_file(str(tmp_path / "e.yaml"))[0] is not None  # a warning: may be meant
    assert problems == [
        "menu 'main' prompt (zh): empty, so its callers hear nothing before the wait for a key"
    ]


def test_a_broken_file_does_not_stop_the_others(tmp_path: Path) -> None:
    good = (FIXTURES / "good" / "lost_card.yaml").read_text(encoding="utf-8")
    (tmp_path / "lost_card.yaml").write_text(good, encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("start: [\n", encoding="utf-8")
    flows, problems = load_flow_dir(str(tmp_path))
    assert list(flows) == ["lost_card"]
    assert [p.where.file for p in problems] == [str(tmp_path / "broken.yaml")]


def test_validate_reads_each_file_of_a_directory_once_or_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A designer's folder of many flows: each is parsed for its own check, and once
    more at most when another flow calls it, not once per file checked."""
    import engine.flow

    for i in range(12):
        (tmp_path / f"flow{i}.yaml").write_text((FIXTURES / "good" / "bank.yaml").read_text())
    shutil.copy(FIXTURES / "good" / "lost_card.yaml", tmp_path / "lost_card.yaml")
    parsed: list[str] = []
    parse = engine.flow.parse_flow_file

    def counting(path: str) -> Any:
        parsed.append(os.path.basename(path))
        return parse(path)

    monkeypatch.setattr(engine.flow, "parse_flow_file", counting)
    assert main(["validate", str(tmp_path)]) == 0
    assert "ok: 13 flows" in capsys.readouterr().err
    assert max(parsed.count(name) for name in set(parsed)) == 2
    assert parsed.count("lost_card.yaml") == 2 and parsed.count("flow0.yaml") == 1

    # One file: the others' names are known without reading them.
    parsed.clear()
    assert main(["validate", str(tmp_path / "flow3.yaml")]) == 0
    assert sorted(parsed) == ["flow3.yaml", "lost_card.yaml"]


def test_a_subflow_to_a_broken_flow_is_a_warning(tmp_path: Path) -> None:
    caller = (FIXTURES / "good" / "bank.yaml").read_text(encoding="utf-8")
    (tmp_path / "bank.yaml").write_text(caller, encoding="utf-8")
    (tmp_path / "lost_card.yaml").write_text("start: x\nnodes: {x: {type: meun}}\n", "utf-8")
    flows, problems = load_flow_dir(str(tmp_path))
    assert list(flows) == ["bank"]
    line = caller.splitlines().index("    flow: lost_card") + 1
    messages = [str(p) for p in problems if p.where.file.endswith("bank.yaml")]
    assert messages == [
        f"{tmp_path}/bank.yaml:{line}:11: warning: subflow 'lost': flow 'lost_card' has errors "
        "(see its own messages)"
    ]


def test_a_subflow_without_return_is_a_warning(tmp_path: Path) -> None:
    caller = (FIXTURES / "good" / "bank.yaml").read_text(encoding="utf-8")
    (tmp_path / "bank.yaml").write_text(caller, encoding="utf-8")
    (tmp_path / "lost_card.yaml").write_text(
        "start: x\nhuman: x\nnodes: {x: {type: transfer, queue: q}}\n", "utf-8"
    )
    _, problems = load_flow_dir(str(tmp_path))
    assert [p.message for p in problems] == [
        "subflow 'lost': flow 'lost_card' has no return node, so the call never comes back "
        "to 'main'"
    ]


def test_a_flow_called_in_a_language_it_does_not_speak(tmp_path: Path) -> None:
    """A Spanish caller sent into an English-only subflow (or survey) would hear English
    beside the Spanish of the flow and the page; one that says nothing is fine."""
    _write_flows(
        tmp_path,
        {
            "travel": "languages: [en, es]\nstart: book\nhuman: agent\nnodes:\n"
            "  book: {type: subflow, flow: booking, next: look}\n"
            "  look: {type: subflow, flow: lookup, next: agent}\n"
            "  agent: {type: transfer, queue: q, survey: rate}\n",
            "booking": "start: ask\nnodes:\n  ask: {type: say, prompt: Your reference, "
            "next: back}\n  back: {type: return}\n",
            "lookup": "start: back\nnodes:\n  back: {type: return}\n",
            "rate": "start: bye\nnodes:\n  bye: {type: hangup, prompt: Bye}\n",
        },
    )
    _, problems = load_flow_dir(str(tmp_path))
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'travel.yaml'}:5:31: subflow 'book': flow 'booking' has no 'es' "
        "version (it speaks en; this flow speaks en, es)",
        f"{tmp_path / 'travel.yaml'}:7:45: transfer 'agent': survey: flow 'rate' has no 'es' "
        "version (it speaks en; this flow speaks en, es)",
    ]


def test_subflow_names_are_unchecked_without_known_flows() -> None:
    text = (FIXTURES / "broken" / "subflow_unknown.yaml").read_text(encoding="utf-8")
    flow, problems = parse_flow(text, "subflow_unknown.yaml")
    assert flow is not None and problems == []
    assert validate(flow) == []
    assert [p.message for p in validate(flow, known_flows=["bank"])] == [
        "subflow 'lost': unknown flow 'lost_crad'",
        "transfer 'agent': survey: unknown flow 'bnak' (did you mean 'bank'?)",
    ]


def test_recordings_are_looked_for_in_base_dir() -> None:
    text = (FIXTURES / "broken" / "missing_file.yaml").read_text(encoding="utf-8")
    flow, _ = parse_flow(text, "missing_file.yaml")
    assert flow is not None
    problems = validate(flow, base_dir=str(FIXTURES / "good"))
    assert [p.message.split(" (")[0] for p in problems] == [
        "say 'hello' prompt: recorded file 'audio/missing.wav' not found",
        "transfer 'agent' prompt: recorded file 'audio/hold.wav' not found",
    ]
    assert str(FIXTURES / "good" / "audio" / "hold.wav") in problems[1].message


def test_a_recording_outside_the_flows_folder_is_named(tmp_path: Path) -> None:
    """Flows are deployed as a folder: a recording elsewhere stays behind."""
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "hi.wav").write_bytes(b"")
    (tmp_path / "flows").mkdir()
    text = (
        "start: a\nhuman: b\nnodes:\n"
        "  a: {type: say, prompt: {file: ../rec/hi.wav}, next: c}\n"
        "  c: {type: say, prompt: {file: /etc/hostname}, next: b}\n"
        "  b: {type: transfer, queue: q, prompt: {file: ../flows/../rec/hi.wav}}\n"
    )
    messages = _checked(tmp_path / "flows", "f", text)
    assert len(messages) == 3 and all("is outside the flow's folder" in m for m in messages)
    inside = text.replace("../rec/hi.wav", "rec/hi.wav").replace("/etc/hostname", "rec/hi.wav")
    (tmp_path / "flows" / "rec").mkdir()
    (tmp_path / "flows" / "rec" / "hi.wav").write_bytes(b"")
    assert _checked(tmp_path / "flows", "f", inside) == []


def test_a_name_in_a_folded_prompt_is_found_on_its_own_line(tmp_path: Path) -> None:
    """A folded text (>-, or a quoted one over several lines) has lost its line
    breaks: the error still points at the line and column of the name."""
    text = (
        "start: a\nhuman: t\nnodes:\n  a:\n    type: say\n    prompt: >-\n"
        "      Hello there.\n      And {{ nope }} on line three.\n    next: b\n"
        '  b:\n    type: say\n    prompt: "first line\n      second {{ alsonope }} line"\n'
        "    next: t\n  t: {type: transfer, queue: support}\n"
    )
    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    _, problems = load_flow_file(str(path), ["f"])
    assert [str(p) for p in problems] == [
        f"{path}:8:14: say 'a' prompt: unknown variable 'nope'",
        f"{path}:13:17: say 'b' prompt: unknown variable 'alsonope'",
    ]


def test_node_ids_and_queue_names_that_would_break_elsewhere() -> None:
    """A '/' in a node id makes the report's flow/node ambiguous; a queue name goes into
    the dialplan's Queue() as it is, where a comma starts its options."""
    text = (
        'start: a\nhuman: q\nnodes:\n  a: {type: say, prompt: hi, next: "t/x"}\n'
        '  "t/x": {type: say, prompt: hi, next: q}\n'
        '  q: {type: transfer, queue: "support,t,,,,,1"}\n'
    )
    _, problems = parse_flow(text, "f.yaml")
    assert [str(p) for p in problems] == [
        "f.yaml:5:3: node id 't/x': an id is a name without '/' (reports write a subflow's "
        "nodes flow/node), control characters or spaces at its ends",
        "f.yaml:6:30: transfer 'q': 'support,t,,,,,1' is not a queue name (letters, digits, "
        "'_', '-' and '.', as in queues.conf)",
    ]
    fine = text.replace("t/x", "t_x").replace("support,t,,,,,1", "support-en.2")
    assert parse_flow(fine, "f.yaml")[1] == []


def test_ivr_validate_prints_problems_and_fails_on_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    broken = "tests/flow/fixtures/broken/unknown_target.yaml"
    assert main(["validate", broken]) == 1
    out, err = capsys.readouterr()
    assert out == (FIXTURES / "broken" / "unknown_target.expected").read_text(encoding="utf-8")
    assert err == "2 errors, 0 warnings in 1 flow\n"


def test_ivr_validate_a_directory_of_good_flows(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    assert main(["validate", "tests/flow/fixtures/good"]) == 0
    out, err = capsys.readouterr()
    assert err == f"ok: {len(GOOD_NAMES)} flows, 2 warnings\n"
    # No Chinese speech model comes from a package registry: those callers use keys.
    assert [line.split(": ", 1)[1] for line in out.splitlines()] == [
        "warning: menu 'main' option '1': no speech model for 'zh' here, so its callers use "
        "keys only (name one in [speech] models or IVR_SPEECH_MODELS, e.g. "
        "zh=vosk:/path/to/model)",
        "warning: menu 'ask' option '1': no speech model for 'zh' here, so its callers use "
        "keys only (name one in [speech] models or IVR_SPEECH_MODELS, e.g. "
        "zh=vosk:/path/to/model)",
    ]


def test_ivr_validate_checks_phrases_against_the_configured_speech(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Phrases in a language no model serves are said once per flow; with speech
    off, phrases are not checked; a broken speech setting is an error."""
    flow = tmp_path / "es.yaml"
    flow.write_text(
        "languages: [es]\nstart: main\nhuman: agent\nnodes:\n"
        '  main: {type: menu, prompt: "Pulse 1 o 0.", options: ['
        "{key: 1, label: Saldo, phrases: {es: [saldo]}, goto: agent},"
        " {key: 0, label: Persona, phrases: {es: [agente]}, goto: agent}]}\n"
        '  agent: {type: transfer, queue: q, prompt: "Hola."}\n',
        encoding="utf-8",
    )
    assert main(["validate", str(flow)]) == 0
    out = capsys.readouterr().out
    assert out.count("no speech model for 'es' here") == 1 and out.startswith(f"{flow}:5:")
    monkeypatch.setenv("IVR_SPEECH", "off")
    assert main(["validate", str(flow)]) == 0
    assert capsys.readouterr() == ("", "ok: 1 flow\n")
    monkeypatch.setenv("IVR_SPEECH", "auto")
    monkeypatch.setenv("IVR_SPEECH_MODELS", "es=whisper")
    assert main(["validate", str(flow)]) == 1
    assert "ivr validate: speech model 'es=whisper'" in capsys.readouterr().err


def test_variables_set_by_a_subflow_are_known_to_its_caller(tmp_path: Path) -> None:
    (tmp_path / "main.yaml").write_text(
        "start: who\nhuman: agent\nnodes:\n"
        "  who: {type: subflow, flow: identify, next: hi}\n"
        "  hi: {type: say, prompt: 'Hello {{ customer.name }}', next: agent}\n"
        "  agent: {type: transfer, queue: q}\n",
        "utf-8",
    )
    (tmp_path / "identify.yaml").write_text(
        "start: look\nhuman: agent\nnodes:\n"
        "  look: {type: http, url: 'http://x', save_as: customer, next: done}\n"
        "  done: {type: return}\n"
        "  agent: {type: transfer, queue: q}\n",
        "utf-8",
    )
    flows, problems = load_flow_dir(str(tmp_path))
    assert problems == [] and sorted(flows) == ["identify", "main"]
    alone, problems = load_flow_file(str(tmp_path / "main.yaml"))
    assert alone is None
    assert [p.message for p in problems] == ["say 'hi' prompt: unknown variable 'customer'"]


def _write_flows(directory: Path, flows: dict[str, str]) -> None:
    for name, text in flows.items():
        (directory / f"{name}.yaml").write_text(text, "utf-8")


def test_a_variable_a_subflow_sets_on_every_way_back_is_set_after_it(tmp_path: Path) -> None:
    _write_flows(
        tmp_path,
        {
            "main": "start: who\nhuman: agent\nnodes:\n"
            "  who: {type: subflow, flow: child, next: hi}\n"
            "  hi: {type: say, prompt: 'Code {{ code }}, {{ name }}', next: agent}\n"
            "  agent: {type: transfer, queue: q}\n",
            "child": "start: ask\nhuman: agent\nnodes:\n"
            "  ask: {type: input, prompt: Code, var: code, pattern: '^[0-9]{4}$', next: pick,"
            " options: [{key: '*', label: Back, goto: done}]}\n"
            "  pick: {type: branch, cases: [{when: 'code == \"1234\"', goto: name}],"
            " default: done}\n"
            "  name: {type: set, values: {name: Ann}, next: done}\n"
            "  done: {type: return}\n"
            "  agent: {type: transfer, queue: q}\n",
        },
    )
    _, problems = load_flow_dir(str(tmp_path))
    assert [str(p) for p in problems] == [
        f"{tmp_path}/main.yaml:5:36: say 'hi' prompt: 'code' may not be set yet on the way "
        "here (who -> hi); it is set by subflow 'who'",
        f"{tmp_path}/main.yaml:5:48: say 'hi' prompt: 'name' may not be set yet on the way "
        "here (who -> hi); it is set by subflow 'who'",
    ]


def test_a_branch_on_what_a_subflow_set_proves_what_was_set_with_it(tmp_path: Path) -> None:
    # As in the demo: identify sets customer after account; "customer is not
    # defined" false means the caller signed in, so account is set too.
    _write_flows(
        tmp_path,
        {
            "main": "start: who\nhuman: agent\nnodes:\n"
            "  who: {type: subflow, flow: child, next: check}\n"
            "  check: {type: branch, cases: [{when: customer is not defined, goto: agent}],"
            " default: hi}\n"
            "  hi: {type: say, prompt: '{{ customer.ok }} {{ account }}', next: agent}\n"
            "  agent: {type: transfer, queue: q}\n",
            "child": "start: ask\nhuman: agent\nnodes:\n"
            "  ask: {type: input, prompt: Account, var: account, next: look,"
            " options: [{key: '*', label: Back, goto: done}]}\n"
            "  look: {type: http, url: 'http://x/{{ account }}', save_as: customer, next: done}\n"
            "  done: {type: return}\n"
            "  agent: {type: transfer, queue: q}\n",
        },
    )
    flows, problems = load_flow_dir(str(tmp_path))
    assert problems == [] and sorted(flows) == ["child", "main"]


def test_the_designers_use_before_set_is_an_error(tmp_path: Path) -> None:
    _write_flows(
        tmp_path,
        {
            "flow": "start: main\nhuman: agent\nnodes:\n"
            "  main:\n    type: menu\n    prompt: 'Account {{ account }}. Press 1.'\n"
            "    options: [{key: 1, label: Enter, goto: acct}, {key: 0, label: P, goto: agent}]\n"
            "  acct: {type: input, prompt: Account, var: account, next: main}\n"
            "  agent: {type: transfer, queue: desk}\n"
        },
    )
    flow, problems = load_flow_file(str(tmp_path / "flow.yaml"))
    assert flow is None
    assert [str(p) for p in problems] == [
        f"{tmp_path}/flow.yaml:6:25: menu 'main' prompt: 'account' may not be set yet on the "
        "way here (main); it is set by input 'acct'"
    ]


PERSON_VIA_SUBFLOW = (
    "start: main\nnodes:\n"
    "  main: {type: menu, prompt: Press 1, options: [{key: 1, label: Someone, goto: reach}]}\n"
    "  reach: {type: subflow, flow: desk, next: main}\n"
)


def test_a_menu_reaches_a_person_through_a_subflow_that_transfers(tmp_path: Path) -> None:
    _write_flows(
        tmp_path,
        {
            "main": PERSON_VIA_SUBFLOW,
            "desk": "start: hop\nnodes:\n"  # through a subflow of its own
            "  hop: {type: subflow, flow: agent, next: bye}\n  bye: {type: hangup}\n",
            "agent": "start: go\nnodes:\n  go: {type: transfer, queue: q}\n",
        },
    )
    flows, problems = load_flow_dir(str(tmp_path))
    assert sorted(flows) == ["agent", "desk", "main"]
    assert [p.message for p in problems] == [  # warnings only
        "subflow 'hop': flow 'agent' has no return node, so the call never comes back to 'bye'",
        "subflow 'reach': flow 'desk' has no return node, so the call never comes back to 'main'",
    ]
    flow, problems = load_flow_file(str(tmp_path / "main.yaml"), ["desk", "agent"])
    assert flow is None  # names only: what the flows do is unknown, as before
    assert [p.message for p in problems] == [NO_PERSON]


@pytest.mark.parametrize(
    "desk",
    [
        "start: bye\nnodes:\n  bye: {type: hangup}\n",
        "start: [\n",
        "start: hop\nnodes:\n  hop: {type: subflow, flow: main, next: bye}\n"
        "  bye: {type: hangup}\n",
    ],
    ids=["no_transfer", "unreadable", "calls_back"],
)
def test_a_subflow_without_a_transfer_is_no_person(tmp_path: Path, desk: str) -> None:
    _write_flows(tmp_path, {"main": PERSON_VIA_SUBFLOW, "desk": desk})
    _, problems = load_flow_dir(str(tmp_path))
    assert NO_PERSON in [p.message for p in problems if p.where.file.endswith("main.yaml")]


NO_PERSON = (
    "menu 'main': no way to reach a person from this menu (no path to a transfer); "
    "add an option for one or set the flow's 'human'"
)


FIRE_AND_FORGET = (
    "start: log\nhuman: agent\nnodes:\n"
    "  log: {type: http, method: POST, url: 'http://x/log', body: {c: '{{ caller_id }}'},"
    " next: bye, on_error: bye}\n"
    "  bye: {type: say, prompt: Bye, next: agent}\n"
    "  agent: {type: transfer, queue: desk}\n"
)


def test_an_http_node_without_save_as_is_fire_and_forget() -> None:
    flow, problems = parse_flow(FIRE_AND_FORGET, "fire.yaml")
    assert flow is not None and problems == [] and validate(flow) == []
    session = Session(flow, CallInfo("c1"))
    request = next(a for a in session.start() if isinstance(a, ev.HttpRequest))
    session.feed(ev.HttpDone(request.request_id, False, 0, None, "timeout"))
    assert [e.node for e in session.trail if e.kind == "node"] == ["log", "bye", "agent"]
    assert "" not in session.vars


def test_ivr_validate_an_empty_directory_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out == f"{tmp_path}:1:1: no flow files (*.yaml, *.yml) in this directory\n"
    assert err == "1 error, 0 warnings in 0 flows\n"


def test_ivr_validate_skips_a_fifo_next_to_the_flow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "flow.yaml").write_text(FIRE_AND_FORGET, "utf-8")
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "dir.yaml").mkdir()
    assert main(["validate", str(tmp_path / "flow.yaml")]) == 0  # would block reading it
    assert main(["validate", str(tmp_path / "pipe.yaml")]) == 1
    out, _ = capsys.readouterr()
    assert out == f"{tmp_path}/pipe.yaml:1:1: cannot read: not a regular file\n"


@pytest.mark.parametrize(
    "child",
    ["start: [\n", "", "start: r\nnodes:\n  r: {type: retrun}\n"],
    ids=["yaml_error", "empty", "unknown_type"],
)
def test_a_subflow_that_cannot_be_read_is_one_error_at_the_node(
    tmp_path: Path, child: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_flows(
        tmp_path,
        {
            "main": "start: signin\nhuman: agent\nnodes:\n"
            "  signin: {type: subflow, flow: child, next: hi}\n"
            "  hi: {type: say, prompt: 'Hello {{ customer_name }}', next: agent}\n"
            "  agent: {type: transfer, queue: q}\n",
            "child": child,
        },
    )
    assert main(["validate", str(tmp_path / "main.yaml")]) == 1
    out, _ = capsys.readouterr()
    assert out == (
        f"{tmp_path}/main.yaml:4:33: subflow 'signin': flow 'child' has errors "
        f"(see {tmp_path}/child.yaml)\n"
    )
    flows, problems = load_flow_dir(str(tmp_path))  # the engine: a warning, main serves
    assert list(flows) == ["main"]
    assert [p.message for p in problems if p.where.file.endswith("main.yaml")] == [
        "subflow 'signin': flow 'child' has errors (see its own messages)"
    ]


def test_a_file_the_checks_fail_on_is_left_out_and_the_others_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a check (one file makes it raise) costs that file alone, as an error
    at its first line: the engine's reload keeps the other flows serving."""
    import engine.flow as flow_package

    _write_flows(tmp_path, {
        "good": "start: bye\nnodes:\n  bye: {type: hangup, prompt: Bye.}\n",
        "odd": "start: bye\nnodes:\n  bye: {type: hangup, prompt: Odd.}\n",
    })
    real = flow_package.validate

    def failing(flow: Any, known: Any = None) -> Any:
        if flow.name == "odd":
            raise KeyError("maybe")
        return real(flow, known)

    monkeypatch.setattr(flow_package, "validate", failing)
    flows, problems = load_flow_dir(str(tmp_path))
    assert list(flows) == ["good"]
    assert [str(p) for p in problems] == [
        f"{tmp_path}/odd.yaml:1:1: this file could not be checked (KeyError: 'maybe') and "
        "is left out; this is a bug in ivr: please report it with the file"
    ]


def test_a_merge_key_gives_defaults_that_the_keys_written_override() -> None:
    text = (
        "start: main\nhuman: agent\nnodes:\n"
        "  main:\n    type: menu\n    prompt: Press 1 or 0.\n    options:\n"
        "      - &one {key: 1, label: One, goto: agent}\n"
        "      - <<: *one\n        key: 0\n        label: Person\n"
        "  agent: {type: transfer, queue: q}\n"
    )
    flow, problems = parse_flow(text, "merge.yaml")
    assert flow is not None and problems == [] and validate(flow) == []
    options = flow.nodes["main"].options  # type: ignore[union-attr]
    assert [(o.key, o.label.get("en"), o.goto) for o in options] == [
        ("1", "One", "agent"), ("0", "Person", "agent")
    ]


def _input_problems(fields: str) -> list[str]:
    text = (
        "start: acct\nhuman: agent\nnodes:\n"
        f"  acct: {{type: input, prompt: Account, var: account, next: agent, {fields}}}\n"
        "  agent: {type: transfer, queue: q}\n"
    )
    flow, problems = parse_flow(text, "input.yaml")
    assert flow is not None and problems == []
    return [str(p) for p in validate(flow)]


def test_a_digit_terminator_is_a_warning() -> None:
    assert _input_problems("terminator: '5'") == [
        "input.yaml:4:79: warning: input 'acct' terminator '5': a digit ends the entry the "
        "moment it is pressed, so no entry can contain 5 (use '#' or '*', or terminator: null)"
    ]
    assert _input_problems("terminator: '*'") == []


@pytest.mark.parametrize(
    ("fields", "keys"),
    [
        ("min_length: 4, max_length: 8, pattern: '^[0-9]{2}$'", "4 to 8 keys"),
        ("min_length: 4, max_length: 4, pattern: '^[A-Z]{4}$'", "4 keys"),
        ("pattern: '^(abc|x+)$'", "1 to 20 keys"),
    ],
)
def test_a_pattern_no_keypad_entry_matches_is_a_warning(fields: str, keys: str) -> None:
    [problem] = _input_problems(fields)
    assert problem.endswith(
        f"warning: input 'acct' pattern: no entry of {keys} (digits, * and #) matches it, "
        "so every entry is refused"
    )


@pytest.mark.parametrize(
    "pattern",
    [
        "^12(34)?$",
        "^[0-9]{6,10}$",
        "^[*#]?\\\\d+$",
        "^(?=1)\\\\d+$",
        "^[^a-z]{2}$",
        "(?i)^\\\\d{4}$",
    ],
)
def test_a_pattern_some_keypad_entry_matches_is_fine(pattern: str) -> None:
    assert _input_problems(f'min_length: 2, max_length: 10, pattern: "{pattern}"') == []


def test_a_template_in_a_title_or_label_is_a_warning(tmp_path: Path) -> None:
    """Titles and labels are not rendered: braces there would show on the page."""
    problems = _checked(
        tmp_path,
        "t",
        'languages: [en, zh]\ntitle: "Bank of {{ town }}"\nstart: main\nhuman: agent\nnodes:\n'
        '  main: {type: menu, prompt: {en: "Press 0.", zh: "按0"}, title: "Hi {{ name }}",'
        ' options: [{key: 0, label: {en: "Person {% if vip %}", zh: 人工}, goto: agent}]}\n'
        '  agent: {type: transfer, queue: q, prompt: {en: "Hi.", zh: "好。"}}\n',
    )
    shown = "titles and labels are shown as written, braces and all; "
    shown += "a value belongs in a say node's prompt"
    assert problems == [
        f"title: {shown}",
        f"menu 'main' title: {shown}",
        f"menu 'main' option '0' label: {shown}",
    ]


@pytest.mark.parametrize(("lang", "warned"), [("es", False), ("ko", False), ("fr", True)])
def test_built_in_retry_prompts_cover_their_languages_only(
    tmp_path: Path, lang: str, warned: bool
) -> None:
    problems = _checked(
        tmp_path,
        "b",
        f"languages: [en, {lang}]\nstart: main\nhuman: agent\nnodes:\n"
        f'  main: {{type: menu, prompt: {{en: "Press 0.", {lang}: "Pulse 0."}},'
        f" options: [{{key: 0, label: {{en: Person, {lang}: Persona}}, goto: agent}}]}}\n"
        f'  agent: {{type: transfer, queue: q, prompt: {{en: "Hi.", {lang}: "Hola."}}}}\n',
    )
    assert problems == (
        [f"menu 'main': no built-in retry prompts in {lang}; give no_input and no_match "
         "prompts (callers would hear English)"]
        if warned else []
    )


def test_an_input_named_like_a_secret_but_not_sensitive(tmp_path: Path) -> None:
    flow = (
        "start: pin\nhuman: agent\nnodes:\n"
        "  pin:\n    type: input\n    prompt: Your PIN.\n    var: {var}\n"
        "    max_length: 4\n    next: spin\n"
        "  spin:\n    type: input\n    prompt: Spin.\n    var: spinner\n    next: agent\n"
        "  agent: {{type: transfer, queue: q}}\n"
    )
    problems = _checked(tmp_path, "p", flow.format(var="cardPin"))
    assert problems == [
        "input 'pin': 'cardPin' sounds like a secret, but the input is not sensitive: what "
        "the caller enters is shown to the agent, kept in the trail and read back aloud "
        "(add sensitive: true)"
    ]
    problem = load_flow_file(str(tmp_path / "p.yaml"))[1][0]
    assert str(problem).startswith(f"{tmp_path / 'p.yaml'}:7:10: warning:")
    flow = flow.replace("    max_length: 4\n", "    max_length: 4\n    sensitive: true\n")
    assert _checked(tmp_path, "p", flow.format(var="pin")) == []


SECRET_FLOW = """\
start: look
human: agent
nodes:
  look:
    type: http
    url: "https://api.example.com/outages?area={{ caller_id }}"
    headers:
      Authorization: "Bearer {{ secrets.outage_token }}"
      X-Journey: "{{ call_id }}"
    save_as: outage
    next: tell
  tell: {type: say, prompt: "Outages: {{ outage.count }}.", next: agent}
  agent: {type: transfer, queue: q}
"""


def test_secrets_are_read_in_http_headers_and_nowhere_else() -> None:
    """An API token kept out of the YAML: {{ secrets.NAME }} from the engine's
    settings, in headers only (a prompt, the page, the trail or a URL's log would
    show it)."""
    flow, problems = parse_flow(SECRET_FLOW, "api.yaml")
    assert flow is not None and problems == [] and validate(flow) == []
    look = flow.nodes["look"]
    assert look.headers["Authorization"] == "Bearer {{ secrets.outage_token }}"  # type: ignore[union-attr]
    spoken = SECRET_FLOW.replace("{{ outage.count }}", "{{ secrets.outage_token }}")
    flow, _ = parse_flow(spoken, "api.yaml")
    assert flow is not None
    assert [str(p) for p in validate(flow)] == [
        "api.yaml:12:29: say 'tell' prompt: 'secrets' can be read only in an http node's "
        "headers (a secret must not be spoken, shown on the page, kept in the trail or put "
        "into a URL a server logs)"
    ]
    wrong = SECRET_FLOW.replace("X-Journey", "Content-Type").replace("Authorization", "Auth or")
    _, problems = parse_flow(wrong, "api.yaml")
    assert [str(p) for p in problems] == [
        "api.yaml:8:7: http 'look' headers: 'Auth or' is not a header name",
        "api.yaml:9:7: http 'look' headers: 'Content-Type' is the engine's to send (the body "
        "is JSON)",
    ]


def test_a_subflow_that_fails_its_checks_fails_its_caller(tmp_path: Path) -> None:
    """The engine does not load a flow with errors: a call into it as a subflow
    fails. Checking only the caller said 'ok' (the subflow parsed)."""
    (tmp_path / "main.yaml").write_text(
        "start: menu\nhuman: agent\nnodes:\n"
        "  menu: {type: menu, prompt: Hi, options: [{key: 1, label: N, goto: nurse},"
        " {key: 0, label: Person, goto: agent}]}\n"
        "  nurse: {type: subflow, flow: nurse, next: menu}\n"
        "  agent: {type: transfer, queue: support}\n",
        encoding="utf-8",
    )
    (tmp_path / "nurse.yaml").write_text(
        "start: check\nnodes:\n"
        "  check: {type: branch, cases: [{when: 'open', goto: done}], default: done}\n"
        "  done: {type: return}\n",
        encoding="utf-8",
    )
    flow, problems = load_flow_file(str(tmp_path / "main.yaml"), parse_flow_dir(str(tmp_path)))
    assert flow is None
    assert [str(p) for p in problems] == [
        f"{tmp_path}/main.yaml:5:32: subflow 'nurse': flow 'nurse' has errors "
        f"(see {tmp_path}/nurse.yaml)"
    ]
