"""Amounts of money as a caller should hear them, and as a screen shows them.

``{{ balance | say_money }}`` (US dollars unless a currency code is given:
``say_money("EUR")``) says "1520 dollars and 75 cents" in English and "1520 dólares
con 75 centavos" in Spanish, where TTS would read "1520.75 dollars" as "one thousand
five hundred twenty point seven five dollars". Chinese and Korean take the amount as
numerals ("1520.75美元"), which the prompt's renderer writes out for the language
(engine/spoken_numbers.py: 一千五百二十点七五美元). On the visual IVR the same template shows
"$1,520.75". The language is the caller's (the ``lang`` variable).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from jinja2 import pass_context
from jinja2.runtime import Context

# currency -> (symbol, minor units, {language: words}); words in English and Spanish
# are (one unit, units, one cent, cents); in Chinese and Korean, the unit's name.
_CURRENCIES: dict[str, tuple[str, int, dict[str, tuple[str, ...]]]] = {
    "USD": ("$", 2, {
        "en": ("dollar", "dollars", "cent", "cents"),
        "es": ("dólar", "dólares", "centavo", "centavos"),
        "zh": ("美元",), "ko": ("달러",),
    }),
    "EUR": ("€", 2, {
        "en": ("euro", "euros", "cent", "cents"),
        "es": ("euro", "euros", "céntimo", "céntimos"),
        "zh": ("欧元",), "ko": ("유로",),
    }),
    "GBP": ("£", 2, {
        "en": ("pound", "pounds", "penny", "pence"),
        "es": ("libra", "libras", "penique", "peniques"),
        "zh": ("英镑",), "ko": ("파운드",),
    }),
    "CNY": ("¥", 2, {
        "en": ("yuan", "yuan", "fen", "fen"),
        "es": ("yuan", "yuanes", "fen", "fen"),
        "zh": ("元",), "ko": ("위안",),
    }),
    "KRW": ("₩", 0, {
        "en": ("won", "won", "", ""), "es": ("won", "wones", "", ""),
        "zh": ("韩元",), "ko": ("원",),
    }),
}
_AND = {"en": "and", "es": "con"}
_MINUS = {"en": "minus", "es": "menos", "zh": "负", "ko": "마이너스"}


def _amount(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def spoken_money(value: object, currency: str = "USD", lang: str = "en") -> str:
    """``value`` of ``currency`` in words TTS reads as money, in ``lang``."""
    number = _amount(value)
    if number is None or currency not in _CURRENCIES:
        return f"{value} {currency}"
    _, places, words = _CURRENCIES[currency]
    base = lang.split("-")[0].split("_")[0].lower()
    sign = f"{_MINUS.get(base, _MINUS['en'])} " if number < 0 else ""
    number = abs(number).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    if base in ("zh", "ko"):
        text = f"{number:f}".rstrip("0").rstrip(".") if places else f"{number:f}"
        return f"{sign.strip() if base == 'zh' else sign}{text}{words[base][0]}"
    one, many, cent, cents = words.get(base, words["en"])
    whole = int(number)
    minor = int((number - whole) * (10**places))
    parts = [f"{whole} {one if whole == 1 else many}"] if whole or not minor else []
    if minor:
        parts.append(f"{minor} {cent if minor == 1 else cents}")
    return sign + f" {_AND.get(base, _AND['en'])} ".join(parts)


def shown_money(value: object, currency: str = "USD") -> str:
    """``value`` as a screen shows it: "$1,520.75"."""
    number = _amount(value)
    if number is None or currency not in _CURRENCIES:
        return f"{value} {currency}"
    symbol, places, _ = _CURRENCIES[currency]
    sign = "-" if number < 0 else ""
    return f"{sign}{symbol}{abs(number):,.{places}f}"


@pass_context
def say_money(context: Context, value: object, currency: str = "USD") -> str:
    """The filter: :func:`spoken_money` in the caller's language."""
    lang = context.get("lang")
    return spoken_money(value, currency, lang if isinstance(lang, str) else "en")
