"""The zh_CN translation is complete, current and compiled; installed, window and Qt buttons are Chinese."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QSettings
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from ui import i18n

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

ROOT = Path(__file__).resolve().parents[2]
TS_FILE = ROOT / "resources" / "translations" / i18n.TS_NAME
QM_FILE = ROOT / "resources" / "translations" / i18n.QM_NAME
FIX = "run `.venv/bin/python -m ui.i18n update`, translate, then `.venv/bin/python -m ui.i18n compile`"


@dataclass(frozen=True)
class Message:
    context: str
    source: str
    comment: str
    kind: str  # the translation's type attribute: "" (finished), unfinished, vanished, obsolete
    translations: tuple[str, ...]  # one, or one per numerus form

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.context, self.source, self.comment)

    def name(self) -> str:
        return f"[{self.context}] {self.source!r}" + (f" ({self.comment})" if self.comment else "")


Messages = dict[tuple[str, str, str], Message]


def _messages(ts: Path) -> Messages:
    out: Messages = {}
    for context in ET.parse(ts).getroot().iter("context"):
        context_name = context.findtext("name", "")
        for msg in context.iter("message"):
            translation = msg.find("translation")
            assert translation is not None, f"{ts}: a message without <translation> in {context_name}"
            forms = tuple("".join(f.itertext()) for f in translation.iter("numerusform"))
            m = Message(context_name, msg.findtext("source", ""), msg.findtext("comment", "") or "",
                        translation.get("type", ""), forms or ("".join(translation.itertext()),))
            out[m.key] = m
    return out


@pytest.fixture(scope="module")
def current(tmp_path_factory: pytest.TempPathFactory) -> Messages:
    """The messages the ui/ sources use today, extracted afresh."""
    fresh = tmp_path_factory.mktemp("ts") / "fresh.ts"
    i18n.run_lupdate(ROOT, fresh)
    found = _messages(fresh)
    assert len(found) > 20, "lupdate found almost no strings: the extraction is broken"
    return found


@pytest.fixture(scope="module")
def committed() -> Messages:
    return _messages(TS_FILE)


PLACEHOLDER = re.compile(r"%(?:\d+|n)")
MNEMONIC = re.compile(r"&(?!&)\w")


def test_every_string_in_ui_is_translated(current: Messages,
                                          committed: Messages) -> None:
    problems: list[str] = []
    for key, msg in sorted(current.items()):
        done = committed.get(key)
        if done is None:
            problems.append(f"missing from {TS_FILE.name}: {msg.name()}")
        elif done.kind in {"vanished", "obsolete"}:
            problems.append(f"marked {done.kind} but still used: {msg.name()}")
        elif done.kind == "unfinished":
            problems.append(f"unfinished: {msg.name()}")
        elif not all(t.strip() for t in done.translations):
            problems.append(f"empty translation: {msg.name()}")
        else:
            for text in done.translations:
                if set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(msg.source)):
                    problems.append(f"placeholders differ ({text!r}): {msg.name()}")
                if MNEMONIC.search(msg.source) and not MNEMONIC.search(text):
                    problems.append(f"keyboard mnemonic lost ({text!r}): {msg.name()}")
    assert not problems, f"{len(problems)} translation problem(s); {FIX}:\n" + "\n".join(problems)


def test_the_committed_qm_is_compiled_from_the_committed_ts(tmp_path: Path) -> None:
    assert QM_FILE.is_file(), f"{QM_FILE} is missing; {FIX}"
    fresh = tmp_path / "fresh.qm"
    i18n.run_lrelease(TS_FILE, fresh)
    stale = f"{QM_FILE.name} is stale against {TS_FILE.name}; {FIX}"
    assert fresh.read_bytes() == QM_FILE.read_bytes(), stale


@pytest.fixture
def back_to_english(qapp: QApplication) -> Iterator[QApplication]:
    yield qapp
    i18n.install_translators(qapp, "en")


def _cancel_text() -> str:
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
    button = box.button(QDialogButtonBox.StandardButton.Cancel)
    assert button is not None
    text = button.text()
    box.deleteLater()
    return text


def test_chinese_is_installed_for_our_strings_and_qts_own(back_to_english: QApplication,
                                                          committed: Messages) -> None:
    app = back_to_english
    i18n.install_translators(app, "zh_CN")
    expected = committed["messages", "Error", ""].translations[0]
    assert QCoreApplication.translate("messages", "Error") == expected
    assert QCoreApplication.translate("messages", "Error") == "错误"
    assert _cancel_text() == "取消"
    i18n.install_translators(app, "zh_CN")  # installing again replaces, does not stack
    assert len(i18n._installed) == 2
    i18n.install_translators(app, "en")
    assert QCoreApplication.translate("messages", "Error") == "Error"
    assert _cancel_text().replace("&", "") == "Cancel"
    assert i18n._installed == []


def test_every_committed_translation_is_what_qt_returns(back_to_english: QApplication,
                                                         committed: Messages) -> None:
    """The .qm that is loaded answers each finished message with the .ts text (no stale or wrong file)."""
    i18n.install_translators(back_to_english, "zh_CN")
    wrong = []
    for (context, source, comment), msg in committed.items():
        if msg.kind or len(msg.translations) != 1:
            continue
        got = QCoreApplication.translate(context, source, comment or None)
        if got != msg.translations[0]:
            wrong.append(f"{msg.name()}: {got!r}")
    assert not wrong, "\n".join(wrong)


def test_unknown_language_is_refused(qapp: QApplication) -> None:
    with pytest.raises(i18n.I18nError, match="unknown language"):
        i18n.install_translators(qapp, "fr")


@pytest.fixture
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "workstation.ini"
    real = i18n._settings()
    assert (real.organizationName(), real.applicationName()) == ("rxws", "workstation")
    monkeypatch.setattr(i18n, "_settings", lambda: QSettings(str(path), QSettings.Format.IniFormat))
    monkeypatch.delenv(i18n.ENV_VAR, raising=False)
    return path


def test_language_is_saved_and_the_environment_overrides(settings_file: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert i18n.SUPPORTED == {"zh_CN": "简体中文", "en": "English"}
    assert i18n.saved_language() == i18n.DEFAULT == "zh_CN"
    assert i18n.current_language() == "zh_CN"
    i18n.save_language("en")
    assert settings_file.is_file() and i18n.saved_language() == "en" and i18n.current_language() == "en"
    with pytest.raises(i18n.I18nError):
        i18n.save_language("klingon")
    monkeypatch.setenv(i18n.ENV_VAR, "zh_CN")
    assert i18n.current_language() == "zh_CN" and i18n.saved_language() == "en"
    monkeypatch.setenv(i18n.ENV_VAR, "de")
    with pytest.raises(i18n.I18nError, match="RXWS_LANGUAGE"):
        i18n.current_language()


def test_a_corrupt_saved_language_falls_back_to_chinese(settings_file: Path) -> None:
    corrupt = QSettings(str(settings_file), QSettings.Format.IniFormat)
    corrupt.setValue(i18n.SETTINGS_KEY, "xx")
    corrupt.sync()
    assert i18n.saved_language() == "zh_CN"


def test_the_qt_tools_are_found() -> None:
    for tool in ("lupdate", "lrelease"):
        assert i18n.qt_tool(tool).is_file()


def _untranslatable_calls(path: Path) -> list[str]:
    """``tr(x)``/``translate(ctx, x)`` calls whose context or text is not a literal: lupdate cannot see them."""
    bad = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        literal_args = {"tr": 1, "translate": 2}.get(name, 0)
        if literal_args and not all(isinstance(a, ast.Constant) and isinstance(a.value, str)
                                    for a in node.args[:literal_args]):
            bad.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return bad


def test_every_translated_string_is_a_literal_lupdate_can_extract() -> None:
    bad = [call for path in i18n.ui_sources(ROOT) for call in _untranslatable_calls(path)]
    assert not bad, "wrap literals, not variables, in tr()/translate():\n" + "\n".join(bad)


def test_the_queue_speaks_chinese(back_to_english: QApplication) -> None:
    from ui.queue_model import column_titles, risk_text, status_text

    i18n.install_translators(back_to_english, "zh_CN")
    titles = column_titles()
    assert titles[0] == "风险" and titles[2] == "等待时长" and status_text("received") == "待审"
    assert risk_text("unchecked") == "未核验"
