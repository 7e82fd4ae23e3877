from engine.agi.ending import ending
from engine.session import events as ev


def test_a_hang_up_after_prompts_is_one_command_with_the_prompts() -> None:
    commands = ending(ev.Hangup(), ["/var/cache/ivr/prompts/ab12", "/p/cd34"])
    assert commands == [
        ("EXEC", "MSet", "IVR_FINAL=/var/cache/ivr/prompts/ab12&/p/cd34,IVR_RESULT=hangup")
    ]


def test_a_transfer_names_its_queue_in_the_same_command() -> None:
    assert ending(ev.Transfer("cards-team", "j1"), ["/p/x"]) == [
        ("EXEC", "MSet", "IVR_FINAL=/p/x,IVR_QUEUE=cards-team,IVR_RESULT=transfer")
    ]
    assert ending(ev.Transfer("support", "j1")) == [
        ("EXEC", "MSet", "IVR_QUEUE=support,IVR_RESULT=transfer")
    ]


def test_a_transfer_with_a_survey_names_it_and_the_language() -> None:
    assert ending(ev.Transfer("support", "j1", "csat_survey", "zh"), ["/p/x"]) == [
        (
            "EXEC",
            "MSet",
            "IVR_FINAL=/p/x,IVR_QUEUE=support,IVR_SURVEY=csat_survey,IVR_LANG=zh,"
            "IVR_RESULT=transfer",
        )
    ]


def test_prompts_mset_cannot_carry_stay_with_the_engine() -> None:
    for path in ["/my prompts/x", "/p/a,b", "/p/a&b", "/p/a|b", '/p/"x"', "/p/a:b"]:
        assert ending(ev.Hangup(), [path]) is None, path


def test_a_queue_name_mset_cannot_carry_is_set_with_quoting() -> None:
    assert ending(ev.Transfer("sales,east", "j1")) == [
        ("SET VARIABLE", "IVR_QUEUE", "sales,east"),
        ("SET VARIABLE", "IVR_RESULT", "transfer"),
    ]
    assert ending(ev.Transfer("sales,east", "j1"), ["/p/x"]) is None
