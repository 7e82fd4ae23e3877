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
        "ko": "입력하신 번호는 {digits}입니다. 맞으면 1번, 다시 입력하시려면 2번을 눌러 주세요.",
    },
    # Digits a caller said: a grammar of digits hears some digits in almost any
    # speech, so what it heard is always read back before it is used.
    "confirm_heard": {
        "en": "I heard {digits}. If that is right, say yes or press 1. If not, say no or press 2.",
        "zh": "我听到的是 {digits}。正确请说“是”或按1，不对请说“不是”或按2。",
        "es": "He entendido {digits}. Si es correcto, diga sí o pulse 1. Si no, diga no o pulse 2.",
        "ko": (
            "말씀하신 번호는 {digits}입니다. "
            "맞으면 네 또는 1번, 아니면 아니요 또는 2번을 눌러 주세요."
        ),
    },
    # Digits said aloud at a sensitive input (a PIN) are not taken: reading them back
    # would say them aloud again, and a PIN attempt is not spent on a guess.
    "type_it": {
        "en": "For your security, please type it on your keypad.",
        "zh": "为了您的安全，请使用电话键盘输入。",
        "es": "Por su seguridad, márquelo en el teclado del teléfono.",
        "ko": "보안을 위해 전화기 키패드로 입력해 주세요.",
    },
    "continue": {
        "en": "Please go on, and press {key} when you are done.",
        "zh": "请继续输入，完成后请按{key}键。",
        "es": "Continúe, y pulse {key} cuando termine.",
        "ko": "계속 입력하시고, 마치시면 {key} 버튼을 눌러 주세요.",
    },
    "continue_no_key": {
        "en": "Please go on.",
        "zh": "请继续输入。",
        "es": "Continúe, por favor.",
        "ko": "계속 입력해 주세요.",
    },
    "page_hold": {
        "en": "Take your time on your screen. I'm still here.",
        "zh": "请在手机页面上慢慢操作，我一直在线。",
        "es": "Tómese su tiempo en la pantalla. Sigo aquí.",
        "ko": "화면에서 천천히 진행하세요. 계속 기다리고 있겠습니다.",
    },
    "goodbye": {
        "en": "Thank you for calling. Goodbye.",
        "zh": "感谢您的来电，再见。",
        "es": "Gracias por llamar. Hasta luego.",
        "ko": "전화해 주셔서 감사합니다. 안녕히 계세요.",
    },
}

_KEY_NAMES = {
    "#": {"en": "the pound key", "zh": "井号", "es": "la tecla almohadilla", "ko": "우물 정자"},
    "*": {"en": "star", "zh": "星号", "es": "asterisco", "ko": "별표"},
}


def builtin_text(name: str, lang: str, **values: str) -> str:
    """The engine's own sentence ``name`` in ``lang`` (English if it has none)."""
    if name == "continue" and not values.get("key"):
        name = "continue_no_key"
    if "key" in values:
        values["key"] = _KEY_NAMES.get(values["key"], {}).get(lang, values["key"])
    texts = _TEXTS[name]
    return texts.get(lang, texts["en"]).format(**values)
