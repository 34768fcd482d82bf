"""The window's language: Qt's own and the workstation's translators (简体中文 by default, or English).

English is the source language (every string goes through ``tr()``); ``zh_CN`` loads two
``QTranslator``s, Qt's ``qtbase_zh_CN.qm`` (standard buttons, dialogs) and ours,
``resources/translations/rxws_zh_CN.qm``. ``python -m ui.i18n update`` re-extracts the strings
from ``ui/*.py`` into the ``.ts`` (keeping what is translated); ``python -m ui.i18n compile``
makes the ``.qm``. Both are committed; ``tests/ui/test_translations.py`` fails when they lag.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QSettings, QTranslator

SUPPORTED: dict[str, str] = {"zh_CN": "简体中文", "en": "English"}
DEFAULT = "zh_CN"
ENV_VAR = "RXWS_LANGUAGE"  # overrides the saved choice (tests, screenshots)
SETTINGS_ORG = "rxws"
SETTINGS_APP = "workstation"
SETTINGS_KEY = "ui/language"
TS_NAME = "rxws_zh_CN.ts"
QM_NAME = "rxws_zh_CN.qm"

# QCoreApplication.installTranslator does not keep the Python wrapper alive: without these
# references the translators are garbage-collected and the window silently falls back to English.
_installed: list[QTranslator] = []


class I18nError(RuntimeError):
    """A language was asked for that cannot be loaded (unknown code, missing or unreadable .qm)."""


def _check(code: str, origin: str) -> str:
    if code not in SUPPORTED:
        raise I18nError(f"unknown language {code!r} from {origin}; supported: {', '.join(SUPPORTED)}")
    return code


def _settings() -> QSettings:
    return QSettings(SETTINGS_ORG, SETTINGS_APP)


def saved_language() -> str:
    """The language saved in QSettings; the default (zh_CN) when none, or an unknown one, is saved."""
    value = _settings().value(SETTINGS_KEY, DEFAULT)
    return value if isinstance(value, str) and value in SUPPORTED else DEFAULT


def save_language(code: str) -> None:
    """Remember ``code`` (a key of SUPPORTED) for the next start."""
    settings = _settings()
    settings.setValue(SETTINGS_KEY, _check(code, "save_language()"))
    settings.sync()


def current_language() -> str:
    """What the window should start in: ``RXWS_LANGUAGE`` if set, else the saved choice."""
    override = os.environ.get(ENV_VAR, "").strip()
    return _check(override, f"${ENV_VAR}") if override else saved_language()


def translations_dir() -> Path:
    """The workstation's resources/translations directory on disk."""
    resource = files("resources.translations")
    if not isinstance(resource, Path):
        raise I18nError(f"resources/translations is not on disk ({resource!r}): install rxws unzipped")
    return resource


def _load(translator: QTranslator, path: Path) -> None:
    if not path.is_file():
        raise I18nError(f"translation file missing: {path}")
    if not translator.load(str(path)):
        raise I18nError(f"Qt could not load the translation file {path}")


def install_translators(app: QCoreApplication, language: str) -> None:
    """Switch ``app`` to ``language``: remove the translators installed before, install the new ones.

    ``"en"`` installs none (the source strings are English). Raises :class:`I18nError` for an
    unknown code or a translation file that is missing or unreadable, rather than half-translating.
    """
    _check(language, "install_translators()")
    for old in _installed:
        app.removeTranslator(old)
    _installed.clear()
    if language == "en":
        return
    qt_own = QTranslator(app)
    qt_dir = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath))
    _load(qt_own, qt_dir / f"qtbase_{language}.qm")
    ours = QTranslator(app)
    _load(ours, translations_dir() / f"rxws_{language}.qm")
    for translator in (qt_own, ours):
        if not app.installTranslator(translator):
            raise I18nError(f"Qt refused the translator {translator.filePath()}")
        _installed.append(translator)


# --- maintenance commands (python -m ui.i18n update | compile) --------------------------------------


def qt_tool(name: str) -> Path:
    """The ``pyside6-<name>`` wrapper beside this Python, or Qt's own ``<name>`` in the PySide6 package."""
    exe = ".exe" if sys.platform == "win32" else ""
    here = Path(sys.executable).parent
    candidates = [here / f"pyside6-{name}{exe}", here / "Scripts" / f"pyside6-{name}{exe}"]
    import PySide6  # the package directory holds the Qt tool binaries themselves

    package = Path(PySide6.__file__).parent
    candidates += [package / f"{name}{exe}", package / "Qt" / "bin" / f"{name}{exe}"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    found = shutil.which(f"pyside6-{name}")
    if found:
        return Path(found)
    raise I18nError(f"cannot find pyside6-{name}; looked in {', '.join(str(c) for c in candidates)} and PATH")


def ui_sources(root: Path) -> list[Path]:
    """The Python files whose strings are translated: every ``ui/*.py`` under ``root``."""
    return sorted((root / "ui").glob("*.py"))


def run_lupdate(root: Path, ts_file: Path, *, extra: Sequence[str] = ()) -> None:
    """Extract the strings of ``ui/*.py`` into ``ts_file``, merging with what it already holds."""
    sources = [str(p.relative_to(root)) for p in ui_sources(root)]
    # No source locations: line numbers would change the .ts on every edit of every ui/ file.
    cmd = [str(qt_tool("lupdate")), "-silent", "-locations", "none", *extra, *sources,
           "-source-language", "en", "-target-language", "zh_CN", "-ts", str(ts_file)]
    subprocess.run(cmd, cwd=root, check=True)


def run_lrelease(ts_file: Path, qm_file: Path) -> None:
    """Compile ``ts_file`` to ``qm_file``; unfinished messages are left out (they show in English)."""
    subprocess.run([str(qt_tool("lrelease")), "-silent", "-nounfinished", str(ts_file), "-qm", str(qm_file)],
                   check=True)


def _project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ui.i18n", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["update", "compile"],
                        help="update: re-extract ui/*.py into the .ts; compile: make the .qm from the .ts")
    args = parser.parse_args(argv)
    root = _project_root()
    out = root / "resources" / "translations"
    if args.command == "update":
        run_lupdate(root, out / TS_NAME)
        print(f"updated {out / TS_NAME}")
    else:
        run_lrelease(out / TS_NAME, out / QM_NAME)
        print(f"compiled {out / QM_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
