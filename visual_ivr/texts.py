"""What the pages (and the text with the link) say, in each language of the demo.

Flows say everything about the service itself; these are the page's own words:
buttons, notices, the ends of a journey, the link pages. A language missing here
falls back to English.
"""

from __future__ import annotations

from typing import Any

LANG_TAGS = {"en": "en", "zh": "zh-CN"}
LANG_NAMES = {"en": "English", "zh": "中文"}

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
        "moved": "Your call has moved on. This is where you are now.",
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
        "moved": "您的通话已进入下一步，这是您现在的位置。",
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
        "sms": "{title}：在手机上查看您的菜单：{url}（仅可打开一次，{minutes}分钟内有效）",
    },
}


def text(lang: str, name: str, **values: Any) -> str:
    texts = TEXTS.get(lang, TEXTS["en"])
    return texts.get(name, TEXTS["en"][name]).format(**values)
