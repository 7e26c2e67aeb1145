"""Console languages (resolver/http/console/i18n.py): the choice of language, and a Chinese entry for every message.

The catalog test reads every template (Jinja2's own parser) and every module
(Python's ``ast``) of the console folder, so a new page or area is checked
as soon as it lands.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest
from jinja2 import nodes

import idnode.resolver.http.console as console_package
from idnode.resolver.http.console import i18n
from idnode.resolver.http.console import web as cw

CONSOLE = Path(console_package.__file__).parent


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("zh", "zh"),
        ("zh-Hans-CN", "zh"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("en;q=0.5, zh;q=0.8", "zh"),
        ("fr-FR,zh;q=0.3", "zh"),
        ("zh;q=0, en;q=0.1", "en"),
        ("zh;q=abc", "zh"),
        ("fr-FR, de", None),
        ("", None),
        (",,;;q=", None),
    ],
)
def test_accept_language_picks_the_most_preferred_supported_language(header, expected):
    assert i18n.from_accept_language(header) == expected


def test_query_then_cookie_then_browser_then_english():
    assert i18n.choose("en", "zh", "zh-CN") == ("en", True)
    assert i18n.choose("zh-CN", None, "en") == ("zh", True)
    assert i18n.choose("xx", "zh", "en") == ("zh", False)  # an unknown ?lang= is ignored
    assert i18n.choose(None, "en", "zh-CN") == ("en", False)
    assert i18n.choose(None, "bogus", "zh-CN") == ("zh", False)
    assert i18n.choose(None, None, "de") == ("en", False)


def test_translate_fills_fields_and_falls_back_to_english():
    i18n.register({"Hello {name}": "你好 {name}"})
    assert i18n.translate("zh", "Hello {name}", name="张三") == "你好 张三"
    assert i18n.translate("en", "Hello {name}", name="Zhang") == "Hello Zhang"
    assert i18n.translate("zh", "Not in any catalog") == "Not in any catalog"
    i18n.register({"Hello {name}": "您好 {name}"})  # two areas disagree: the first stays, the conflict is kept
    assert i18n.translate("zh", "Hello {name}", name="张三") == "你好 张三"
    assert ("Hello {name}", "你好 {name}", "您好 {name}") in i18n.conflicts()
    i18n._CONFLICTS.remove(("Hello {name}", "你好 {name}", "您好 {name}"))  # this test's own, not an area's


def _template_messages() -> dict[str, set[str]]:
    env = cw.environment()
    found: dict[str, set[str]] = {}
    for path in sorted((CONSOLE / "templates").rglob("*.html")):
        name = path.relative_to(CONSOLE / "templates").as_posix()
        tree = env.parse(path.read_text(encoding="utf-8"))
        for call in tree.find_all(nodes.Call):
            if isinstance(call.node, nodes.Name) and call.node.name == "_" and call.args:
                first = call.args[0]
                if isinstance(first, nodes.Const) and isinstance(first.value, str):
                    found.setdefault(first.value, set()).add(name)
    return found


# call name -> the positional argument holding an English catalog key
_MESSAGE_ARGS = {"_": 0, "gettext": 1, "error_page": 2, "redirect": 1, "flash": 1}
_MESSAGE_KEYWORDS = {"title", "reason", "label"}


def _module_messages() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(CONSOLE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            texts = []
            position = _MESSAGE_ARGS.get(name)
            if position is not None and len(call.args) > position:
                texts.append(call.args[position])
            if name in _MESSAGE_ARGS or name in ("render", "add_nav", "HTTPForbidden", "HTTPBadRequest"):
                texts += [k.value for k in call.keywords if k.arg in _MESSAGE_KEYWORDS]
            if name == "add_nav" and len(call.args) > 1:
                texts.append(call.args[1])
            for text in texts:
                if isinstance(text, ast.Constant) and isinstance(text.value, str) and text.value:
                    found.setdefault(text.value, set()).add(path.name)
    return found


def test_every_console_message_has_a_chinese_entry():
    for info in pkgutil.iter_modules([str(CONSOLE)]):  # every area registers its catalog at import
        importlib.import_module(f"{console_package.__name__}.{info.name}")
    catalog = i18n.translations()
    templates, modules = _template_messages(), _module_messages()
    assert "Sign in" in templates and "You are signed out." in modules  # the scan finds what it should
    missing = {text: where for text, where in (templates | modules).items() if not catalog.get(text)}
    assert not missing, f"messages without a Chinese entry: {missing}"
    assert not i18n.conflicts(), f"areas registered one English message with different Chinese: {i18n.conflicts()}"
    same = {text for text in templates | modules if catalog.get(text) == text}
    assert not same, f"Chinese entries equal to the English text: {same}"
