"""What the agent reads, from trails the real session writes on the demo flows."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.flow.model import Flow, Http
from engine.handoff.facts import FactCollector, mask
from engine.handoff.summary import Facts, Handoff, JourneyMeta, build_handoff
from tests.handoff.journeys import Journey, lookup

BALANCE_THEN_PERSON = "11" + "123456#" + "1234" + "0"


def handoff_of(journey: Journey, facts: Facts | None = None) -> Handoff:
    session = journey.session
    meta = JourneyMeta(
        session.call.call_id,
        "service_line",
        session.call.caller_id,
        session.call.channel,
        1000.0,
        session.outcome,
    )
    return build_handoff(meta, journey.trail, lookup, facts)


def collected(keys: str) -> tuple[Journey, Facts]:
    collector = FactCollector(lookup)
    journey = Journey(keys, listeners=(collector,))
    return journey, collector.get(journey.session.call.call_id) or Facts()


def asked(handoff: Handoff) -> dict[str, Any]:
    return {item["ask"]: item["answer"] for item in handoff.dont_ask}


def test_a_verified_caller_who_asked_for_a_person() -> None:
    journey, facts = collected(BALANCE_THEN_PERSON)
    assert journey.session.outcome == "transfer:support"
    h = handoff_of(journey, facts)
    assert h.verification["status"] == "verified"
    assert h.verification["label"] == "Verified: Account number + PIN checked"
    assert h.why["node"] == "agent" and h.why["reason"] == "chosen"
    assert h.why["source"] == "key" and h.why["queue"] == "support"
    assert [s["node"] for s in h.why["path"]] == [
        "welcome",
        "main",
        "balance_identify",
        "account",
        "pin",
        "verify",
        "say_balance",
        "anything_else",
        "agent",
    ]
    assert h.summary == (
        "Verified caller (account number 123456), chose Check my balance, done: balance"
        " told, asked for a person at “Anything else?” by key; on the phone."
    )
    assert h.agent_note.startswith("Check the badge first: a verified caller need not")
    assert h.caller_name == "Alex"  # the flow's caller_name over the backend's answer
    assert asked(h) == {
        "Language": "English",
        "What they want": "Check my balance",
        "Identity / security questions": "Verified: Account number + PIN checked",
        "Account number": "123456",
        "PIN": "given (****)",
        "customer name": "Alex",
        "customer balance": "1520.75",
        "customer bill due": "89.9",
    }
    pin = next(c for c in h.captured if c["name"] == "pin")
    assert pin["value"] == "****" and pin["masked"]
    assert h.trail == tuple(journey.trail) and h.channels == ("voice",)


def test_without_the_facts_the_check_is_known_but_not_its_answer() -> None:
    h = handoff_of(Journey(BALANCE_THEN_PERSON))
    assert h.verification["status"] == "unknown"
    assert h.verification["by"] == ["account", "pin"]
    assert h.summary.startswith("Caller (verification answer unknown) (account number 123456)")
    assert h.caller_name == ""  # the backend's answer is not known: no name, and no error


def test_a_caller_in_and_out_of_a_menu_reads_as_a_loop_not_a_list() -> None:
    journey, facts = collected("1" + "1*" * 8 + "0")  # balance, then back, eight times
    h = handoff_of(journey, facts)
    assert asked(h)["What they want"] == "(Check my balance → Back) 8 times"
    assert "chose (Check my balance → Back) 8 times, asked for a person" in h.summary
    looped = [s for s in h.why["path"] if s.get("times")]
    assert [s["times"] for s in looped] == [8]
    assert len(h.why["path"]) < 10  # not the 30 steps walked


def test_a_wrong_pin_is_a_failed_verification() -> None:
    journey, facts = collected("11" + "123456#" + "0000")
    h = handoff_of(journey, facts)
    assert h.verification["status"] == "failed"
    assert h.why["reason"] == "not_verified"
    assert "failing verification" in h.summary
    assert "Identity / security questions" not in asked(h)
    # What the failed check took must be asked again: it is data, not proof.
    assert "PIN" not in asked(h) and "Account number" not in asked(h)
    assert {c["name"] for c in h.captured} >= {"account", "pin"}


def test_a_backend_that_fails_is_why() -> None:
    journey, facts = collected("11" + "000000#" + "1111")
    h = handoff_of(journey, facts)
    assert h.why["reason"] == "backend_error"
    assert "status 503" in h.why["detail"]
    assert h.verification["status"] == "failed"
    assert h.verification["label"].endswith("the backend did not answer")


def test_backend_fields_read_as_words_and_a_failed_request_is_no_fact() -> None:
    """The agent saw "True", "None" and a failed request's "error" and "status" among
    what not to ask again."""
    journey, _ = collected(BALANCE_THEN_PERSON)
    results = {
        "outage": {"ok": True, "planned": True, "crew": False, "eta": None, "area": "N1"},
        "meter": {"ok": False, "error": "timeout", "status": 0},
        "crm": {"ok": False, "error": "status 404", "status": 404, "body": {"why": "none"}},
    }
    h = handoff_of(journey, Facts(results=results))
    said = asked(h)
    assert (said["outage planned"], said["outage crew"], said["outage area"]) == ("yes", "no", "N1")
    assert not {"outage eta", "meter error", "meter status", "crm error", "crm why"} & set(said)


def test_retries_running_out_is_why_and_the_subflow_note_is_shown() -> None:
    journey, facts = collected("11" + "12#" * 3)
    assert journey.session.outcome == "transfer:support"
    h = handoff_of(journey, facts)
    assert h.why["node"] == "agent" and h.why["flow"] == "identify"
    assert h.why["reason"] == "no_match_exhausted"
    assert h.why["detail"] == "no valid input at Account number after 2 retries"
    assert h.agent_note == "The caller could not enter a valid account number or PIN."
    assert h.verification["status"] == "not_verified"
    assert "Account number" not in asked(h)  # nothing valid was entered


def test_the_page_s_link_is_not_what_they_want() -> None:
    """"What they want" read "Get this menu on my phone → Go back → Check my
    balance": choices about the link are not about why they called."""
    journey = Journey("1" + "9" + "2" + "1" + "123456#" + "1234" + "0")
    h = handoff_of(journey)
    assert asked(h)["What they want"] == "Check my balance"
    assert "chose Check my balance," in h.summary


def test_a_call_the_fallback_queued_says_so() -> None:
    journey = Journey("11" + "123456#")  # the engine died while the PIN was asked for
    trail = journey.trail
    meta = JourneyMeta("j" * 32, "service_line", "+15550001111", "", 1000.0, None)
    h = build_handoff(meta, trail, lookup)
    assert h.why["reason"] == "fallback"
    assert h.why["node"] == "pin"
    assert asked(h)["Account number"] == "123456"


def test_a_journey_that_asked_for_no_person_is_not_said_to_have() -> None:
    """An agent looks up a journey by the reference its page shows: one that ended
    in self-service was "sent to a person by the flow", one still running "stopped
    (the engine failed)"."""
    done = Journey("11" + "123456#" + "1234" + "9")  # balance told, then "no, goodbye"
    assert done.session.outcome == "hangup"
    for outcome, live, reason in (
        ("hangup", False, "self_service_ended"),
        ("caller_hangup", False, "left"),
        (None, True, "in_self_service"),
        (None, False, "fallback"),  # no session, no ending: the engine was stopped
    ):
        meta = JourneyMeta("j" * 32, "service_line", "", "", 1000.0, outcome, live)
        h = build_handoff(meta, done.trail, lookup)
        assert h.why["reason"] == reason, (outcome, live)
        if reason != "fallback":
            assert "no person asked for" in h.summary and "sent" not in h.why["detail"]


def test_a_journey_on_the_page_reads_as_such() -> None:
    journey = Journey(BALANCE_THEN_PERSON)
    trail = [{**e, "source": "web"} if e["kind"] == "input" else e for e in journey.trail]
    meta = JourneyMeta("j" * 32, "service_line", "", "", 1000.0, "transfer:support")
    facts = Facts(callback_number="+15550002222")
    h = build_handoff(meta, trail, lookup, facts)
    assert h.channels == ("web",)
    assert h.caller == "+15550002222"
    assert h.summary.endswith("“Anything else?” on the page.")  # said once


def test_the_flow_chooses_which_of_a_backends_fields_the_agent_sees() -> None:
    """identify.yaml's verify node with ``agent_fields: [balance]``: the name and the
    bill are neither listed nor kept, and the caller's name (the flow's caller_name,
    read by the running session) still heads the desktop."""
    identify = lookup("identify")
    assert identify is not None
    verify = identify.nodes["verify"]
    assert isinstance(verify, Http)
    verify = replace(verify, agent_fields=("balance",))
    narrowed = replace(identify, nodes={**identify.nodes, "verify": verify})

    def flows(name: str) -> Flow | None:
        return narrowed if name == "identify" else lookup(name)

    collector = FactCollector(flows)
    journey = Journey(BALANCE_THEN_PERSON, listeners=(collector,))
    facts = collector.get(journey.session.call.call_id)
    assert facts is not None and facts.results["customer"] == {"ok": True, "balance": 1520.75}
    h = handoff_of(journey, facts)
    assert h.caller_name == "Alex"
    assert asked(h)["customer balance"] == "1520.75"
    assert "customer name" not in asked(h) and "customer bill due" not in asked(h)
    stored = Facts.from_json(facts.as_json())  # as an engine restarted after a crash reads it
    assert handoff_of(journey, stored).caller_name == "Alex"
    assert h.verification["status"] == "verified"  # from the answer, not the fields shown


def test_masking_the_backends_answers() -> None:
    answer = {"ok": True, "name": "Alex", "pin": "1234", "echo": "1234", "cards": [{"cvv": 1}]}
    assert mask(answer, {"1234"}) == {
        "ok": True,
        "name": "Alex",
        "pin": "***",
        "echo": "***",
        "cards": [{"cvv": "***"}],
    }


def test_journeys_left_without_an_end_do_not_pile_up(monkeypatch: Any) -> None:
    """A web journey its person left never ends: the collector's reading of it goes
    once newer journeys pass the limit, least recently read first."""
    from types import SimpleNamespace

    import engine.handoff.facts as facts_module

    monkeypatch.setattr(facts_module, "KEEP_JOURNEYS", 3)
    collector = FactCollector(lookup)

    def step(journey: str) -> None:
        call, flow = SimpleNamespace(call_id=journey), SimpleNamespace(name="f")
        session = SimpleNamespace(call=call, flow=flow)
        collector(session, [])  # type: ignore[arg-type]

    for journey in ("a", "b", "c"):
        step(journey)
    step("a")  # still in use
    step("d")
    step("e")
    assert list(collector._reading) == ["a", "d", "e"]
