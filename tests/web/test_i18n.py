"""Plain language and translations: every kind the gateway raises has a label and an instruction in zh-CN and en,
every string of the console and ``edge watch`` is in the Chinese catalog, and the browser's language is honoured."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge.core.kinds import GATE_ALARM_KINDS, LIFT_ALARM_KINDS, OUTBOX_FULL
from edge.web.i18n import gettext_for, messages, negotiate, translations
from edge.web.plain import FIELDS, KINDS, describe, kind_text

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "edge" / "web" / "static"


def kinds_in_the_contract() -> set[str]:
    """Every alarm kind the topic contract lists (docs/mqtt-api.md, table 'Kinds in use')."""
    text = (ROOT / "docs" / "mqtt-api.md").read_text()
    table = text[text.index("| source | kinds |") :].split("\n\n")[0]
    kinds = set(re.findall(r"`([a-z_.]+)`", table))
    return {k for k in kinds if not k.startswith(("access.", "lift.", "alarm.note"))}


def source_strings() -> set[str]:
    js = (STATIC / "app.js").read_text()
    html = (STATIC / "index.html").read_text()
    found = set(re.findall(r'\b(?:t|fmt)\("((?:[^"\\]|\\.)*)"', js))
    found |= {m.strip() for m in re.findall(r"data-i18n[^>]*>([^<]+)<", html)}
    for pair in re.findall(r'\[\s*"([^"]+)",\s*"([^"]+)"\s*\]', js):
        found |= set(pair)
    for module in ("watch.py", "watch_history.py"):
        watch = (ROOT / "edge" / "platform" / module).read_text()
        found |= set(re.findall(r'_\("((?:[^"\\]|\\.)*)"\)', watch))
    found |= set(re.findall(r'N_\("((?:[^"\\]|\\.)*)"\)', (ROOT / "edge" / "web" / "plain.py").read_text()))
    return found - {"English source"}


def test_every_kind_the_gateway_raises_has_a_label_and_an_instruction() -> None:
    raised = kinds_in_the_contract() | GATE_ALARM_KINDS | LIFT_ALARM_KINDS | {OUTBOX_FULL}
    assert "smoke_concentration" in raised and "door.forced" in raised
    missing = sorted(raised - set(KINDS))
    assert not missing, f"no default label/instruction for {missing} (edge/web/plain.py)"


def test_the_chinese_catalog_translates_every_string() -> None:
    catalog = messages("zh-CN")
    missing = sorted(s for s in source_strings() if s not in catalog)
    assert not missing, f"not in edge/web/locale/zh_CN/LC_MESSAGES/console.po: {missing}"
    for text in (*[k.label for k in KINDS.values()], *FIELDS.values()):
        assert re.search(r"[\u4e00-\u9fff]", catalog[text]), f"{text!r} is not translated to Chinese"
    # the dynamic values the page translates: states, steps, roles, device health, gate results
    for word in (
        "raised",
        "acknowledged",
        "in_handling",
        "resolved",
        "cleared",
        "reminded",
        "escalated",
        "note",
        "reset",
        "guard",
        "supervisor",
        "installer",
        "online",
        "offline",
        "granted",
        "stranger",
    ):
        assert word in catalog, word


def test_placeholders_survive_translation() -> None:
    catalog = messages("zh-CN")
    for source, text in catalog.items():
        assert set(re.findall(r"\{\w+\}", source)) == set(re.findall(r"\{\w+\}", text)), source


def test_details_for_people_in_both_languages() -> None:
    details = {"field": "concentration", "value": 684, "threshold": 300}
    assert describe(details, "ppm", gettext_for("zh-CN")) == "烟雾浓度 684 ppm，超过报警值 300 ppm"
    assert describe(details, "ppm", gettext_for("en")) == "smoke concentration 684 ppm, alarm above 300 ppm"
    assert describe({"field": "lid_open", "value": True}, None, gettext_for("zh-CN")) == "井盖：是"
    assert describe({"reason": "no answer", "reminder": 2}, None, gettext_for("en")) == "reason: no answer; reminder: 2"


def test_a_site_overrides_a_kind_and_keeps_the_default_for_the_rest() -> None:
    from edge.web.config import KindOverride

    overrides = {"smoke": KindOverride(instruction="派人到车棚，电话 8888-1234")}
    zh = gettext_for("zh-CN")
    assert kind_text("smoke", overrides, zh) == {"label": "烟雾报警", "instruction": "派人到车棚，电话 8888-1234"}
    assert kind_text("bin_full", overrides, zh)["label"] == "垃圾桶已满"
    assert kind_text("new.kind", overrides, zh)["label"] == "new.kind"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("en-US,en;q=0.9", "en"),
        ("zh", "zh-CN"),
        ("fr-FR", "zh-CN"),
        ("en;q=0.5,zh-CN;q=0.9", "zh-CN"),
        ("", "zh-CN"),
        (None, "en-default"),
    ],
)
def test_the_browser_language_is_negotiated(header: str | None, expected: str) -> None:
    default = "en" if expected == "en-default" else "zh-CN"
    assert negotiate(header, default=default) == expected.replace("-default", "")


def test_the_catalogs_are_compiled_by_babel_from_the_po_files() -> None:
    assert translations("zh-CN").gettext("Acknowledge") == "确认"
    assert translations("en").gettext("Acknowledge") == "Acknowledge"
    with pytest.raises(ValueError, match="no catalog"):
        translations("de")
