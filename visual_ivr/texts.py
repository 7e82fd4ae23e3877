"""What the pages (and the text with the link) say, in each language of the demo.

Flows say everything about the service itself; these are the page's own words:
buttons, notices, the ends of a journey, the link pages. A language missing here
falls back to English.
"""

from __future__ import annotations

from typing import Any

LANG_TAGS = {"en": "en", "zh": "zh-CN"}
# Each language named in itself, for the page's language buttons (else its code).
LANG_NAMES = {
    "en": "English", "zh": "中文", "yue": "粵語", "ko": "한국어", "ja": "日本語",
    "vi": "Tiếng Việt", "th": "ไทย", "id": "Bahasa Indonesia", "ms": "Bahasa Melayu",
    "hi": "हिन्दी", "bn": "বাংলা", "ar": "العربية", "he": "עברית", "fa": "فارسی",
    "ur": "اردو", "tr": "Türkçe", "ru": "Русский", "uk": "Українська", "pl": "Polski",
    "de": "Deutsch", "fr": "Français", "es": "Español", "pt": "Português",
    "it": "Italiano", "nl": "Nederlands", "tl": "Tagalog",
}
RTL = frozenset({"ar", "he", "fa", "ur", "yi", "ps", "sd", "ug", "dv"})  # written right to left


def direction(lang: str) -> str:
    return "rtl" if lang.replace("_", "-").split("-")[0].lower() in RTL else "ltr"

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "live": "Following your call",
        "back": "Back",
        "home": "Home",
        "human": "Talk to a person",
        "continue": "Continue",
        "nav": "Navigation",
        "reference": "Reference",
        "one_moment": "One moment…",
        "digits": "{n} digits",
        "digits_range": "{a} to {b} digits",
        "typed": "{n} digits typed on your phone so far.",
        "typed_one": "1 digit typed on your phone so far.",
        "moved": "Your call has moved on. This is where you are now.",
        "moved_web": "That page was out of date. This is where you are now.",
        "invalid": "That doesn't look right. Please check it and try again.",
        "unknown option": "That choice isn't available here.",
        "nowhere": "There is no earlier menu to go back to.",
        "no human": "No one can be reached from here.",
        "transfer_call": "You're being connected to a person on your call. "
        "They can see what you did here, so you won't need to repeat it.",
        "transfer_web": "To talk to a person, call {phone} and give this reference: {ref}. "
        "They will see what you did here.",
        "transfer_web_no_phone": "To talk to a person, call us and give this reference: "
        "{ref}. They will see what you did here.",
        "call_ended": "Your call has ended.",
        "hangup": "Thank you. Goodbye.",
        "error": "Sorry, something went wrong on our side.",
        "start_again": "Start again on this page",
        "ended": "This session has ended",
        "person": "Talk to a person",
        # the handoff: the queue, call-backs, pages an agent pushed
        "hf_place": "You are number {n} in line.",
        "hf_place_wait": "You are number {n} in line, about {m} minutes.",
        "hf_place_wait_one": "You are number {n} in line, about 1 minute.",
        "hf_connected": "You are through to a person now.",
        "hf_calling": "We will call you at {number} shortly.",
        "hf_failed": "We could not reach you at {number}. You can try again.",
        "cb_intro": "Or we can call you back:",
        "cb_label": "Your phone number",
        "cb_button": "Call me back",
        "cb_invalid_number": "That does not look like a phone number we can call.",
        "cb_too_many": "We have already called you back for this visit.",
        "cb_too_soon": "We are calling you already.",
        "cb_number_busy": "That number was called a moment ago. Please try again later.",
        "pf_required": "Please fill this in.",
        "pf_too_long": "This is too long.",
        "pf_not_in_the_expected_form": "This doesn't look right. Please check it.",
        "pf_not_an_email": "Please enter an email address, such as name@example.com.",
        "pf_not_a_phone_number": "Please enter a phone number.",
        "pf_not_a_number": "Please enter a number.",
        "pf_not_a_date": "Please enter a date.",
        "push_send": "Send",
        "push_seen": "Got it",
        "push_sent": "Sent. Thank you.",
        "optional": "optional",
        # link and error pages
        "open_heading": "Your menu",
        "open_line": "This opens the menu of your call on this phone.",
        "open_button": "Open the menu",
        "used": "This link has already been used",
        "expired": "This link has expired",
        "invalid_link": "This link isn't valid",
        "link_help": "A link works once, for a few minutes, on the phone it was sent to. "
        "You can ask for a new one on your call.",
        "no_session": "This page needs a link",
        "no_session_line": "Open the link we texted you, or start from our service page.",
        "not_found": "There is no such service",
        "busy": "Please try again in a minute",
        "sms": "{title}: your menu on your phone: {url} (opens once, within {minutes} min)",
    },
    "zh": {
        "live": "与您的通话同步",
        "back": "返回",
        "home": "首页",
        "human": "人工服务",
        "continue": "继续",
        "nav": "导航",
        "reference": "参考号",
        "one_moment": "请稍候…",
        "digits": "{n}位数字",
        "digits_range": "{a}至{b}位数字",
        "typed": "您已在电话上输入{n}位。",
        "typed_one": "您已在电话上输入1位。",
        "moved": "您的通话已进入下一步，这是您现在的位置。",
        "moved_web": "该页面已过时，这是您现在的位置。",
        "invalid": "输入有误，请检查后重试。",
        "unknown option": "此处没有该选项。",
        "nowhere": "没有可以返回的上一级菜单。",
        "no human": "此处无法转接人工服务。",
        "transfer_call": "正在通过您的通话为您转接人工服务。客服能看到您在此页面的操作，无需重复。",
        "transfer_web": "如需人工服务，请致电 {phone} 并提供参考号：{ref}。"
        "客服能看到您在此页面的操作。",
        "transfer_web_no_phone": "如需人工服务，请致电我们并提供参考号：{ref}。"
        "客服能看到您在此页面的操作。",
        "call_ended": "您的通话已结束。",
        "hangup": "谢谢，再见。",
        "error": "抱歉，我们这边出了点问题。",
        "start_again": "在此页面重新开始",
        "ended": "本次服务已结束",
        "person": "人工服务",
        "hf_place": "您排在第{n}位。",
        "hf_place_wait": "您排在第{n}位，大约需等待{m}分钟。",
        "hf_place_wait_one": "您排在第{n}位，大约需等待1分钟。",
        "hf_connected": "已为您接通人工客服。",
        "hf_calling": "我们将很快致电 {number}。",
        "hf_failed": "未能接通 {number}，您可以重试。",
        "cb_intro": "或者由我们给您回电：",
        "cb_label": "您的电话号码",
        "cb_button": "给我回电",
        "cb_invalid_number": "这似乎不是我们可以拨打的电话号码。",
        "cb_too_many": "本次访问我们已为您回电。",
        "cb_too_soon": "我们正在给您回电。",
        "cb_number_busy": "该号码刚刚被拨打过，请稍后再试。",
        "pf_required": "请填写此项。",
        "pf_too_long": "内容过长。",
        "pf_not_in_the_expected_form": "格式不正确，请检查。",
        "pf_not_an_email": "请输入电子邮箱地址，例如 name@example.com。",
        "pf_not_a_phone_number": "请输入电话号码。",
        "pf_not_a_number": "请输入数字。",
        "pf_not_a_date": "请输入日期。",
        "push_send": "提交",
        "push_seen": "知道了",
        "push_sent": "已提交，谢谢。",
        "optional": "选填",
        "open_heading": "您的菜单",
        "open_line": "在此手机上打开您通话中的菜单。",
        "open_button": "打开菜单",
        "used": "此链接已被使用",
        "expired": "此链接已过期",
        "invalid_link": "此链接无效",
        "link_help": "链接只能在收到它的手机上使用一次，且几分钟内有效。您可以在通话中重新获取。",
        "no_session": "此页面需要通过链接打开",
        "no_session_line": "请打开我们发送给您的短信链接，或从服务页面开始。",
        "not_found": "没有此项服务",
        "busy": "请稍后再试",
        "sms": "{title}：在手机上查看您的菜单：{url} （仅可打开一次，{minutes}分钟内有效）",
    },
}


PAGE_LANGS = tuple(TEXTS)  # the languages the page's own words are written in


def text(lang: str, name: str, **values: Any) -> str:
    texts = TEXTS.get(lang, TEXTS["en"])
    return texts.get(name, TEXTS["en"][name]).format(**values)
