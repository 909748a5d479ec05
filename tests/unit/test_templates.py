"""Notification templates: rendering, locales, the fields they read, their context and checks."""

# ruff: noqa: RUF001 - the Chinese templates use full-width punctuation, as Chinese text does

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from tests.conftest import DEFINITIONS
from tests.unit.definition_texts import MINIMAL
from workflow.definition.loader import Catalog, load_catalog
from workflow.definition.templates.templateset import (
    DEFAULT_TEMPLATES,
    NEUTRAL,
    TemplateSet,
    context_for,
    digest_context,
)
from workflow.errors import (
    TemplateError,
    TemplateNotFound,
    TemplateSecurityError,
    TemplateSyntaxProblem,
    TemplateUndefined,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 10, 12, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai

PAYLOAD: dict[str, Any] = {
    "kind": "escalation",
    "workflow": {
        "id": "enterprise_issue",
        "version": 1,
        "title": {"zh": "企業訴求問題辦理", "en": "Enterprise problem handling"},
    },
    "item": {
        "id": 12,
        "state": "handling",
        "state_label": {"zh": "承辦", "en": "Handling"},
        "created_at": "2026-09-20T01:00:00+00:00",
        "data": {"title": "園區場地租金補貼未兌現"},
    },
    "event": None,
    "level": {"name": "reminder", "label": {"zh": "逾期催辦", "en": "Overdue reminder"}},
    "deadline": {"due_at": "2026-10-09T09:30:00+00:00", "state": "handling", "provisional": False},
    "review": None,
    "urgent": False,
}
RECIPIENT = {"id": "unit.wang", "name": "王芳", "role": "unit"}
LINK = "https://office.example.gov.cn/items/"


def context(payload: Mapping[str, Any] = PAYLOAD, locale: str = "zh") -> dict[str, Any]:
    return context_for(
        payload,
        locale=locale,
        recipient=RECIPIENT,
        link_base=LINK,
        timezone="Asia/Shanghai",
        now=NOW,
    )


def where(text: str, needle: str) -> tuple[int, int]:
    """The 1-based (line, column) of the first occurrence of needle in text."""
    index = text.index(needle)
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def folder(tmp_path: Path, files: Mapping[str, str]) -> Path:
    templates = tmp_path / "_templates"
    templates.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (templates / name).write_text(text, encoding="utf-8")
    return templates


def template(subject: str, body: str) -> str:
    return (
        f"{{% block subject %}}{subject}{{% endblock %}}\n"
        f"{{% block body %}}\n{body}\n{{% endblock %}}\n"
    )


def problems_of(tmp_path: Path, text: str, name: str = "note.zh.j2") -> list[str]:
    templates = folder(tmp_path, {name: text})
    return [str(p) for p in TemplateSet.from_folders([templates]).check()]


def expect(tmp_path: Path, text: str, needle: str, fragment: str, name: str = "note.zh.j2") -> None:
    """Assert that a problem of template `name` sits at `needle` and says `fragment`."""
    found = problems_of(tmp_path, text, name)
    line, column = where(text, needle)
    prefix = f"{tmp_path / '_templates' / name}:{line}:{column}: "
    assert any(p.startswith(prefix) and fragment in p for p in found), (
        f"expected {prefix}…{fragment}… in:\n" + "\n".join(found)
    )


# -- the shipped templates ----------------------------------------------------------------------


def test_shipped_templates_are_the_defaults_in_both_languages() -> None:
    shipped = TemplateSet.shipped()
    assert shipped.names() == ("digest", "escalation", "event", "review_agenda")
    for name in shipped.names():
        assert shipped.locales(name) == ("en", "zh")
    assert shipped.check() == []
    assert set(DEFAULT_TEMPLATES.values()) <= set(shipped.names())


def test_escalation_renders_a_reminder_in_chinese() -> None:
    rendered = TemplateSet.shipped().render("escalation", "zh", context())
    assert rendered.locale == "zh"
    assert rendered.subject == "【逾期催辦】園區場地租金補貼未兌現"
    assert rendered.body.startswith(
        "王芳：\n\n企業訴求問題辦理第12號事項「園區場地租金補貼未兌現」"
    )
    assert "已觸發逾期催辦" in rendered.body
    assert "辦理時限：2026年10月9日（星期五）17:30" in rendered.body
    assert "該事項已逾期" in rendered.body
    assert rendered.body.endswith("請登錄系統查看並辦理：https://office.example.gov.cn/items/12")


def test_escalation_renders_in_english_without_a_link() -> None:
    ctx = context_for(
        PAYLOAD, locale="en", recipient=RECIPIENT, link_base=None, timezone=SHANGHAI, now=NOW
    )
    rendered = TemplateSet.shipped().render("escalation", "en", ctx)
    assert rendered.subject == "[Overdue reminder] 園區場地租金補貼未兌現"
    assert "Due: Friday 9 October 2026, 17:30" in rendered.body
    assert "overdue" in rendered.body
    assert "http" not in rendered.body


def test_event_without_a_title_field_names_the_item_and_shows_the_reason() -> None:
    payload = {
        **PAYLOAD,
        "kind": "event",
        "item": {**PAYLOAD["item"], "data": {}},
        "event": {
            "name": "return_to_office",
            "label": {"zh": "退回", "en": "Return"},
            "actor": "unit.wang",
            "role": "unit",
            "reason": "不屬於本單位職責",
            "at": "2026-10-10T01:15:00+00:00",
        },
        "level": None,
        "urgent": True,
    }
    rendered = TemplateSet.shipped().render("event", "zh", context(payload))
    assert rendered.subject == "【緊急】【退回】第12號事項"
    assert "時間：2026-10-10 09:15" in rendered.body
    assert "說明：不屬於本單位職責" in rendered.body


def test_review_agenda_and_digest_render() -> None:
    payload = {
        **PAYLOAD,
        "kind": "review",
        "review": {"name": "monthly", "label": {"zh": "每月服務工作例會"}, "period": "2026-10"},
    }
    agenda = TemplateSet.shipped().render("review_agenda", "zh", context(payload))
    assert agenda.subject == "【每月服務工作例會】園區場地租金補貼未兌現"
    assert "已列入每月服務工作例會（2026-10）議題" in agenda.body
    messages = [
        {"subject": agenda.subject, "body": agenda.body, "link": LINK + "12", "urgent": False},
        {"subject": "【交辦】b", "body": "", "link": None, "urgent": True, "item_id": 13},
    ]
    ctx = digest_context(
        messages, locale="en", recipient=RECIPIENT, channel="email", timezone=SHANGHAI, now=NOW
    )
    digest = TemplateSet.shipped().render("digest", "en", ctx)
    assert digest.subject == "[Digest] 2 items for you"
    assert "As of 2026-10-12 10:00, 2 items need your attention:" in digest.body
    assert f"1. {agenda.subject}\n   {LINK}12\n2. [URGENT] 【交辦】b" in digest.body


# -- locales ------------------------------------------------------------------------------------


def test_locale_falls_back_to_the_default_then_any(tmp_path: Path) -> None:
    templates = folder(
        tmp_path,
        {"note.zh.j2": template("中文", "正文"), "only.en.j2": template("English", "body")},
    )
    found = TemplateSet.from_folders([templates], shipped=False)
    assert found.render("note", "zh-TW", {}).locale == "zh"
    assert found.render("note", "en", {}).locale == "zh"
    assert found.locale_for("note", "en") == "zh"
    assert found.render("only", "zh", {}).subject == "English"
    assert found.render("only", "zh", {}).locale == "en"


def test_a_neutral_file_serves_every_locale_before_the_default(tmp_path: Path) -> None:
    templates = folder(
        tmp_path,
        {
            "note.zh.j2": template("中文", "x"),
            "note.j2": template("{{ locale }}", "x"),
        },
    )
    found = TemplateSet.from_folders([templates], shipped=False)
    assert found.locales("note") == (NEUTRAL, "zh")
    assert found.render("note", "en", {"locale": "en"}).subject == "en"
    assert found.render("note", "en", {"locale": "en"}).locale == "en"
    assert found.render("note", "zh", {"locale": "zh"}).subject == "中文"


def test_a_folder_replaces_a_name_in_all_its_locales(tmp_path: Path) -> None:
    templates = folder(tmp_path, {"event.en.j2": template("Mine: {{ item.id }}", "x")})
    found = TemplateSet.from_folders([templates])
    assert found.locales("event") == ("en",)
    assert found.render("event", "zh", context()).subject == "Mine: 12"
    assert found.locales("escalation") == ("en", "zh")


def test_unknown_template_is_named_with_a_suggestion() -> None:
    with pytest.raises(TemplateNotFound) as caught:
        TemplateSet.shipped().render("escalaton", "zh", {})
    assert "did you mean 'escalation'?" in str(caught.value)


# -- the fields a template reads ----------------------------------------------------------------


def test_fields_used_unites_the_locales(tmp_path: Path) -> None:
    templates = folder(
        tmp_path,
        {
            "note.zh.j2": template("{{ item.data.title }}", "{{ item.data['category'] }}"),
            "note.en.j2": template("{{ item.data.title }}", "{{ item.data.count | default(0) }}"),
        },
    )
    found = TemplateSet.from_folders([templates])
    assert found.fields_used("note") == frozenset({"title", "category", "count"})
    assert found.fields_used("nothing_here") == frozenset()
    assert TemplateSet.shipped().fields_used("escalation") == frozenset({"title"})
    assert TemplateSet.shipped().fields_used("digest") == frozenset()


@pytest.mark.parametrize(
    "body",
    [
        "{{ item.data }}",
        "{% for k, v in item.data.items() %}{{ k }}{% endfor %}",
        "{% set name = 'title' %}{{ item.data[name] }}",
        "{% macro show(i) %}{{ i.data.title }}{% endmacro %}{{ show(item) }}",
        "{{ item | string }}",
    ],
)
def test_fields_used_is_none_when_item_data_is_read_as_a_whole(tmp_path: Path, body: str) -> None:
    templates = folder(tmp_path, {"note.zh.j2": template("s", body)})
    assert TemplateSet.from_folders([templates]).fields_used("note") is None


# -- the context ---------------------------------------------------------------------------------


def test_context_resolves_texts_and_times_for_the_locale() -> None:
    ctx = context(locale="en")
    assert ctx["workflow"] == {
        "id": "enterprise_issue",
        "version": 1,
        "title": "Enterprise problem handling",
    }
    assert ctx["item"]["state_label"] == "Handling"
    assert ctx["item"]["created_at"] == dt.datetime(2026, 9, 20, 9, 0, tzinfo=SHANGHAI)
    assert ctx["item"]["created_at"].utcoffset() == dt.timedelta(hours=8)
    assert ctx["item"]["link"] == LINK + "12"
    assert ctx["item"]["data"] == {"title": "園區場地租金補貼未兌現"}
    assert ctx["deadline"]["due_at"] == dt.datetime(2026, 10, 9, 17, 30, tzinfo=SHANGHAI)
    assert ctx["level"] == {"name": "reminder", "label": "Overdue reminder"}
    assert ctx["event"] is None
    assert ctx["review"] is None
    assert ctx["recipient"] == RECIPIENT
    assert ctx["now"] == dt.datetime(2026, 10, 12, 10, 0, tzinfo=SHANGHAI)
    assert (ctx["urgent"], ctx["locale"], ctx["kind"]) == (False, "en", "escalation")


def test_context_text_fallback_and_recipient_objects() -> None:
    @dataclass
    class Contact:
        name: str

    @dataclass
    class Person:
        person: str
        role: str
        contact: Contact | None

    payload = {**PAYLOAD, "level": {"name": "x", "label": {"zh": "催辦"}}}
    ctx = context_for(
        payload,
        locale="fr",
        recipient=Person("unit.li", "unit", Contact("李明")),
        link_base=None,
        timezone=dt.UTC,
        now=dt.datetime(2026, 1, 1),  # naive: taken as UTC
    )
    assert ctx["level"]["label"] == "催辦"
    assert ctx["workflow"]["title"] == "企業訴求問題辦理"
    assert ctx["recipient"] == {"id": "unit.li", "name": "李明", "role": "unit"}
    assert ctx["now"].tzinfo is dt.UTC
    assert ctx["item"]["link"] is None
    anonymous = context_for(
        PAYLOAD,
        locale="zh",
        recipient=Person("p9", "office", None),
        link_base=None,
        timezone=dt.UTC,
        now=NOW,
    )
    assert anonymous["recipient"]["name"] == "p9"


def test_datetime_filter_styles(tmp_path: Path) -> None:
    body = (
        "{{ d | datetime }}|{{ d | datetime('date') }}|{{ d | datetime('time') }}|"
        "{{ d | datetime('long') }}|{{ d | datetime('%Y/%m/%d') }}|{{ day | datetime }}"
    )
    templates = folder(tmp_path, {"note.j2": template("s", body)})
    found = TemplateSet.from_folders([templates])
    moment = dt.datetime(2026, 12, 3, 17, 30, tzinfo=SHANGHAI)
    values = {"d": moment, "day": dt.date(2026, 12, 3)}
    zh = found.render("note", "zh", {**values, "locale": "zh"}).body
    en = found.render("note", "en", {**values, "locale": "en"}).body
    assert (
        zh == "2026-12-03 17:30|2026-12-03|17:30|2026年12月3日（星期四）17:30|2026/12/03|2026-12-03"
    )
    assert en.split("|")[3] == "Thursday 3 December 2026, 17:30"
    bad = folder(tmp_path, {"bad.j2": template("s", "{{ d | datetime('%c %10Y') }}")})
    with pytest.raises(TemplateError, match="directive '%c'"):
        TemplateSet.from_folders([bad]).render("bad", "zh", values)


# -- render errors --------------------------------------------------------------------------------


def test_undefined_variable_names_it_with_file_and_line(tmp_path: Path) -> None:
    text = template("s", "line one\n{{ item.data.title }}")
    templates = folder(tmp_path, {"note.zh.j2": text})
    payload = {**PAYLOAD, "item": {**PAYLOAD["item"], "data": {}}}
    with pytest.raises(TemplateUndefined) as caught:
        TemplateSet.from_folders([templates]).render("note", "zh", context(payload))
    error = caught.value
    assert error.variable == "title"
    assert (error.file, error.line, error.template) == (str(templates / "note.zh.j2"), 4, "note")
    assert str(error).startswith(f"{templates / 'note.zh.j2'}:4: template 'note': ")


def test_a_template_with_a_fatal_problem_is_refused_at_render(tmp_path: Path) -> None:
    templates = folder(tmp_path, {"note.zh.j2": "{% block subject %}x{% endblock %}"})
    with pytest.raises(TemplateSyntaxProblem, match="no \\{% block body %\\}"):
        TemplateSet.from_folders([templates]).render("note", "zh", {})
    broken = folder(tmp_path, {"broken.zh.j2": template("{{ x", "y")})
    with pytest.raises(TemplateSyntaxProblem) as caught:
        TemplateSet.from_folders([broken]).render("broken", "zh", {})
    assert caught.value.line == 1


def test_python_errors_become_template_errors_at_their_line(tmp_path: Path) -> None:
    templates = folder(tmp_path, {"note.zh.j2": template("s", "\n\n{{ 1 // 0 }}")})
    with pytest.raises(TemplateError) as caught:
        TemplateSet.from_folders([templates]).render("note", "zh", {})
    assert "ZeroDivisionError" in str(caught.value)
    assert caught.value.line == 5


# -- checks, each at its exact position -----------------------------------------------------------


def test_syntax_error_is_reported_at_its_line(tmp_path: Path) -> None:
    text = "{% block subject %}s{% endblock %}\n{% block body %}\n{% if x %}\n{% endblock %}\n"
    found = problems_of(tmp_path, text)
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / '_templates' / 'note.zh.j2'}:4:1: template syntax")


def test_missing_block_is_reported(tmp_path: Path) -> None:
    text = "{% block body %}x{% endblock %}\n"
    found = problems_of(tmp_path, text)
    assert found == [
        f"{tmp_path / '_templates' / 'note.zh.j2'}:1:1: the template has no {{% block subject %}}; "
        "every template defines {% block subject %} and {% block body %}"
    ]


def test_content_outside_the_blocks_is_reported(tmp_path: Path) -> None:
    text = template("s", "b") + "  stray text\n"
    expect(tmp_path, text, "stray", "only {% block subject %} and {% block body %} may stand")


def test_nested_block_is_reported(tmp_path: Path) -> None:
    text = template("s", "{% block inner %}x{% endblock %}")
    expect(tmp_path, text, "inner", "block 'inner' inside another block")


def test_unknown_variable_is_reported_at_its_column(tmp_path: Path) -> None:
    text = template("s", "Dear {{ recipient.name }}, {{ evnt.label }}")
    expect(tmp_path, text, "evnt", "unknown variable 'evnt'; did you mean 'event'?")


def test_unknown_attribute_of_a_context_variable(tmp_path: Path) -> None:
    text = template("{{ deadline.due }}", "x")
    expect(tmp_path, text, "deadline.due", "`deadline.due`: deadline has no attribute 'due'")


def test_digest_template_has_its_own_variables(tmp_path: Path) -> None:
    text = template("{{ count }}", "{{ item.id }}")
    expect(tmp_path, text, "item.id", "unknown variable 'item'", name="digest.zh.j2")
    clean = template("{{ count }}", "{{ messages | length }}")
    assert problems_of(tmp_path / "other", clean, "digest.j2") == []


def test_reusing_a_context_name_is_reported(tmp_path: Path) -> None:
    text = template("s", "{% for item in range(3) %}{{ item }}{% endfor %}")
    expect(tmp_path, text, "item in", "'item' is a variable of the notification")


@pytest.mark.parametrize(
    ("body", "needle", "fragment"),
    [
        ("{% include 'other' %}", "include", "may not extend, include or import"),
        ("{% import 'other' as o %}", "import", "may not extend, include or import"),
        ("{{ item._secret }}", "_secret", "names starting with _ are Python internals"),
        ("{{ item['__class__'] }}", "__class__", "names starting with _"),
        ("{{ 'x' | attr('upper') }}", "attr", "the filter 'attr' is not available"),
        ("{{ 'x' | tojson }}", "tojson", "the filter 'tojson' is not available"),
        ("{{ 'x' | uper }}", "uper", "unknown filter 'uper'; did you mean 'upper'?"),
        ("{{ 1 is evn }}", "evn", "unknown test 'evn'; did you mean 'even'?"),
    ],
)
def test_forbidden_and_unknown_constructs(
    tmp_path: Path, body: str, needle: str, fragment: str
) -> None:
    expect(tmp_path, template("s", body), needle, fragment)


def test_bad_files_in_the_folder_are_reported(tmp_path: Path) -> None:
    templates = folder(tmp_path, {"Event.ZH.j2": template("s", "b"), "notes.txt": "ignored"})
    (templates / "latin.zh.j2").write_bytes(b"{% block subject %}\xff{% endblock %}")
    (templates / "huge.zh.j2").write_text("x" * 70_000, encoding="utf-8")
    found = sorted(str(p) for p in TemplateSet.from_folders([templates]).check())
    assert found == [
        f"{templates / 'Event.ZH.j2'}:1:1: not a template file name: expected NAME.LOCALE.j2 or "
        "NAME.j2 (NAME: lower-case letters, digits and _, starting with a letter; LOCALE: zh, "
        "en, zh-TW, ...)",
        f"{templates / 'huge.zh.j2'}:1:1: a template file may hold at most 65,536 bytes",
        f"{templates / 'latin.zh.j2'}:1:1: template files are UTF-8; byte 19 is not",
    ]


# -- checks against the definitions that use a template -------------------------------------------

WORKFLOW = MINIMAL.replace(
    "    roles: office\n  - name: finish",
    "    roles: office\n    notify:\n      - to: unit\n        template: remind\n  - name: finish",
).replace("    roles: [office, unit]\n", "    roles: [office, unit]\n    notify: [office]\n")


def test_catalog_reports_unknown_template_names_at_the_notify_entry(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(WORKFLOW, encoding="utf-8")
    catalog, found = load_catalog([str(tmp_path)])
    line, column = where(WORKFLOW, "remind")
    assert [str(p) for p in found] == [
        f"{tmp_path / 'wf.yaml'}:{line}:{column}: no notification template 'remind' (add "
        "_templates/remind.zh.j2 beside the definitions); templates: digest, escalation, event, "
        "review_agenda"
    ]
    assert catalog.ids() == ("mini",)


def test_catalog_reads_the_templates_beside_the_definitions(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(WORKFLOW, encoding="utf-8")
    text = template(
        "{{ item.data.unit }} {{ item.data.titel }}", "{{ item.data.title | default('') }}"
    )
    folder(tmp_path, {"remind.zh.j2": text, "event.j2": template("{{ item.data.nope }}", "x")})
    catalog, found = load_catalog([str(tmp_path / "wf.yaml")])
    assert catalog.templates.has("remind")
    assert catalog.templates.fields_used("remind") == frozenset({"unit", "titel", "title"})
    remind = tmp_path / "_templates" / "remind.zh.j2"
    event = tmp_path / "_templates" / "event.j2"
    line, column = where(text, "item.data.titel")
    # `unit` is a field of the workflow; `title` is tested with default(); the default
    # `event` template is used by the `finish` event's notify: [office].
    assert [str(p) for p in found] == [
        f"{event}:1:23: `item.data.nope`: workflow 'mini' (whose notifications use template "
        "'event') has no field 'nope'; test it with `is defined` if only some workflows have it",
        f"{remind}:{line}:{column}: `item.data.titel`: workflow 'mini' (whose notifications use "
        "template 'remind') has no field 'titel'; test it with `is defined` if only some "
        "workflows have it",
    ]


def test_notify_may_not_name_the_digest_template(tmp_path: Path) -> None:
    text = WORKFLOW.replace("template: remind", "template: digest")
    (tmp_path / "wf.yaml").write_text(text, encoding="utf-8")
    _catalog, found = load_catalog([str(tmp_path)])
    line, column = where(text, "digest")
    assert [str(p) for p in found] == [
        f"{tmp_path / 'wf.yaml'}:{line}:{column}: the 'digest' template lays out digests; name "
        "a message template (default: 'event')"
    ]


def test_the_shipped_catalog_is_clean_and_a_code_built_catalog_has_the_defaults() -> None:
    catalog, found = load_catalog([str(DEFINITIONS)])
    assert found == []
    assert catalog.templates.fields_used("event") == frozenset({"title"})
    assert Catalog().templates.names() == TemplateSet.shipped().names()


def test_validate_command_prints_template_problems(tmp_path: Path) -> None:
    from workflow.cli.main import main

    (tmp_path / "wf.yaml").write_text(WORKFLOW, encoding="utf-8")
    text = template("{{ evnt }}", "x")
    folder(tmp_path, {"remind.zh.j2": text})
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    line, column = where(text, "evnt")
    expected = (
        f"{tmp_path / '_templates' / 'remind.zh.j2'}:{line}:{column}: unknown variable 'evnt'"
    )
    assert expected in result.output


def test_security_errors_are_template_errors() -> None:
    assert issubclass(TemplateSecurityError, TemplateError)


def test_another_default_locale_shares_the_files_and_leaves_the_set_alone() -> None:
    shipped = TemplateSet.shipped()
    english = shipped.with_default_locale("en")
    assert english.locale_for("event", "fr") == "en"
    assert shipped.locale_for("event", "fr") == "zh"
    assert english.names() == shipped.names()
    assert shipped.with_default_locale("zh") is shipped
