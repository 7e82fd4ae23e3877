"""The few sentences the engine itself says, per language.

Flows say everything else; these are what a flow cannot know in advance: reading
back an input, nudging a caller who paused while typing, waiting while the caller
reads the visual IVR's page, saying goodbye.
"""

from __future__ import annotations

_TEXTS: dict[str, dict[str, str]] = {
    "confirm": {
        "en": "You entered {digits}. If that is right, press 1. To enter it again, press 2.",
        "zh": "您输入的是 {digits}。确认请按1，重新输入请按2。",
        "es": "Ha marcado {digits}. Si es correcto, pulse 1. Para marcarlo de nuevo, pulse 2.",
    },
    "continue": {
        "en": "Please go on, and press {key} when you are done.",
        "zh": "请继续输入，完成后请按{key}键。",
        "es": "Continúe, y pulse {key} cuando termine.",
    },
    "continue_no_key": {
        "en": "Please go on.",
        "zh": "请继续输入。",
        "es": "Continúe, por favor.",
    },
    "page_hold": {
        "en": "Take your time on your screen. I'm still here.",
        "zh": "请在手机页面上慢慢操作，我一直在线。",
        "es": "Tómese su tiempo en la pantalla. Sigo aquí.",
    },
    "goodbye": {
        "en": "Thank you for calling. Goodbye.",
        "zh": "感谢您的来电，再见。",
        "es": "Gracias por llamar. Hasta luego.",
    },
}

_KEY_NAMES = {
    "#": {"en": "the pound key", "zh": "井号", "es": "la tecla almohadilla"},
    "*": {"en": "star", "zh": "星号", "es": "asterisco"},
}


def builtin_text(name: str, lang: str, **values: str) -> str:
    """The engine's own sentence ``name`` in ``lang`` (English if it has none)."""
    if name == "continue" and not values.get("key"):
        name = "continue_no_key"
    if "key" in values:
        values["key"] = _KEY_NAMES.get(values["key"], {}).get(lang, values["key"])
    texts = _TEXTS[name]
    return texts.get(lang, texts["en"]).format(**values)
