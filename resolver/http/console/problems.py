"""Registry errors in the page's language: field problems from their structured details, whole requests by class.

Sans-IO. A value check of ``registry/templates.py`` raises ``InvalidValue``
with ``field``, ``problem`` (an id of ``registry.errors.PROBLEMS``) and
``params``; :func:`field_message` words it from :data:`FIELD_MESSAGES` in the
page's language and never parses the English message (which it shows as is
for a problem it has no entry for). :func:`explain` gives a whole-request
error a complete sentence by its class (:data:`SENTENCES`), keeping the
registry's English text as the ``detail`` that pages show in a
``<details>`` "Technical detail" element (``_macros.html`` ``error``).
"""

from __future__ import annotations

from collections.abc import Collection

from idnode.registry.errors import (
    AuthenticationFailed,
    AuthenticationNeeded,
    HandleAlreadyExists,
    HandleDeleted,
    HandleError,
    HandleNotFound,
    InsufficientPermissions,
    InvalidHandle,
    InvalidValue,
    ServerBusy,
    ServerNotResponsible,
    StorageFull,
)
from idnode.resolver.http.console import i18n

__all__ = ["FIELD_MESSAGES", "SENTENCES", "Explained", "explain", "field_message", "field_of", "report_reason"]

# problem id (registry.errors.PROBLEMS) -> English catalog key; its {names} are the problem's params
FIELD_MESSAGES = {
    "required": "This field is required.",
    "too_short": "Enter at least {min} characters.",
    "too_long": "Enter at most {max} characters.",
    "not_number": "Enter a decimal number.",
    "not_integer": "Enter a whole number.",
    "not_url": "Enter an http, https or ftp URL with a host.",
    "not_date": "Enter a valid date (YYYY-MM-DD).",
    "not_datetime": "Enter a date and time (ISO 8601).",
    "not_gtin": "Enter a GTIN: 8, 12, 13 or 14 digits with a valid check digit.",
    "not_email": "Enter an email address (local@domain.tld).",
    "not_boolean": "Choose true or false.",
    "not_in_template": "The type {type} is not an item of this prefix's template.",
    "wrong_index": "This value must be at index {index}.",
    "repeated": "This item is given twice (first at value {first}).",
    # the console's own checks of its free-form value editor (not registry problems)
    "row_incomplete": "Give an index (a positive whole number), a type and the data.",
    "index_used_twice": "Index {index} is used twice.",
}

# error class -> a complete sentence; the first matching class wins (subclasses before their bases)
SENTENCES: tuple[tuple[type[HandleError], str], ...] = (
    (HandleDeleted, "This has been deleted, so nothing was changed."),
    (HandleNotFound, "Nothing was found under this name; it may have been deleted."),
    (HandleAlreadyExists, "This exists already with different content, so nothing was changed."),
    (InsufficientPermissions, "Your role may not do this; nothing was changed."),
    (AuthenticationNeeded, "Please sign in to do this."),
    (AuthenticationFailed, "The credential was not accepted: it is wrong, expired or revoked."),
    (
        StorageFull,
        "The node's storage is full: nothing can be saved now (reading still works). Please tell its operator.",
    ),
    (ServerBusy, "The node is busy and changed nothing; please try again in a moment."),
    (InvalidHandle, "This is not a valid identifier: check its prefix and suffix."),
    (ServerNotResponsible, "This node is not responsible for that prefix."),
)

# a lead for the errors without a sentence: the registry's detail follows it on the page
LEADS: tuple[tuple[type[HandleError], str], ...] = ((InvalidValue, "The input is not valid: {detail}"),)

MESSAGES = {
    "This field is required.": "此项为必填项。",
    "Enter at least {min} characters.": "请至少输入 {min} 个字符。",
    "Enter at most {max} characters.": "最多输入 {max} 个字符。",
    "Enter a decimal number.": "请输入十进制数字。",
    "Enter a whole number.": "请输入整数。",
    "Enter an http, https or ftp URL with a host.": "请输入带主机名的 http、https 或 ftp 网址。",
    "Enter a valid date (YYYY-MM-DD).": "请输入有效日期（YYYY-MM-DD）。",
    "Enter a date and time (ISO 8601).": "请输入日期和时间（ISO 8601）。",
    "Enter a GTIN: 8, 12, 13 or 14 digits with a valid check digit.": (
        "请输入 GTIN：8、12、13 或 14 位数字且校验位正确。"
    ),
    "Enter an email address (local@domain.tld).": "请输入电子邮件地址（local@domain.tld）。",
    "Choose true or false.": "请选择是或否。",
    "The type {type} is not an item of this prefix's template.": "类型 {type} 不是该前缀模板中的项。",
    "This value must be at index {index}.": "此值必须位于索引 {index}。",
    "This item is given twice (first at value {first}).": "此项重复填写（首次出现在值 {first}）。",
    "Give an index (a positive whole number), a type and the data.": "请填写索引（正整数）、类型和数据。",
    "Index {index} is used twice.": "索引 {index} 被使用了两次。",
    "This has been deleted, so nothing was changed.": "该对象已被删除，未做任何更改。",
    "Nothing was found under this name; it may have been deleted.": "未找到该名称对应的对象，它可能已被删除。",
    "This exists already with different content, so nothing was changed.": "该对象已存在且内容不同，未做任何更改。",
    "Your role may not do this; nothing was changed.": "您的角色无权执行此操作，未做任何更改。",
    "Please sign in to do this.": "请先登录再执行此操作。",
    "The credential was not accepted: it is wrong, expired or revoked.": "凭据未被接受：凭据错误、已过期或已被撤销。",
    "The node's storage is full: nothing can be saved now (reading still works). Please tell its operator.": (
        "节点存储已满：现在无法保存任何内容（查询仍然可用）。请联系节点运维人员。"
    ),
    "The node is busy and changed nothing; please try again in a moment.": "节点繁忙，未做任何更改；请稍后重试。",
    "This is not a valid identifier: check its prefix and suffix.": "这不是有效的标识：请检查其前缀和后缀。",
    "This node is not responsible for that prefix.": "本节点不负责该前缀。",
    "The input is not valid: {detail}": "输入无效：{detail}",
    "The request failed: {detail}": "请求失败：{detail}",
    "{field}: {message}": "{field}：{message}",
    "{sentence} ({detail})": "{sentence}（{detail}）",
    "Technical detail": "技术细节",
}
i18n.register(MESSAGES)


class Explained(str):
    """A message for the page (already in its language) with ``detail``: the registry's English text, or ""."""

    detail: str

    def __new__(cls, text: str, detail: str = "") -> Explained:
        self = super().__new__(cls, text)
        self.detail = detail
        return self


def field_of(exc: HandleError, names: Collection[str]) -> str:
    """The template item name ``exc`` is about when it is one of ``names``, else ""."""
    field = exc.field
    return field if isinstance(field, str) and field in names else ""


def field_message(lang: str, exc: HandleError) -> str:
    """``exc``'s problem worded for its field in ``lang``; the registry's message for a problem with no entry."""
    key = FIELD_MESSAGES.get(exc.problem)
    try:
        return i18n.translate(lang, key, **exc.params) if key else exc.message
    except (KeyError, IndexError):  # params that do not fit the entry: the registry's own words
        return exc.message


def _sentence(exc: HandleError) -> str:
    return next((text for kind, text in SENTENCES if isinstance(exc, kind)), "")


def explain(lang: str, exc: HandleError) -> Explained:
    """A whole-request error in ``lang``: its class's complete sentence with the English message as ``detail``;
    without a sentence, a lead followed by the message (which is then shown, not hidden in a detail)."""
    sentence = _sentence(exc)
    if sentence:
        return Explained(i18n.translate(lang, sentence), exc.message)
    lead = next((text for kind, text in LEADS if isinstance(exc, kind)), "The request failed: {detail}")
    return Explained(i18n.translate(lang, lead, detail=exc.message))


def report_reason(lang: str, exc: HandleError) -> str:
    """A rejected bulk-upload row's reason in ``lang`` when this module can word it: a value problem named by
    its item, or its class's sentence followed by the registry's message (a report has no folded detail, and
    that message names the row's cause); "" otherwise, and on English pages (whose reason is the message)."""
    if lang == "en":
        return ""
    if exc.problem in FIELD_MESSAGES:
        message = field_message(lang, exc)
        return i18n.translate(lang, "{field}: {message}", field=exc.field, message=message) if exc.field else message
    sentence = _sentence(exc)
    if not sentence:
        return ""
    return i18n.translate(lang, "{sentence} ({detail})", sentence=i18n.translate(lang, sentence), detail=exc.message)
