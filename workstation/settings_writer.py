"""Writing this machine's settings file (本机设置): change some keys, keep the others, never a broken file.

The new file is checked by loading it with the real loader (``workstation.settings``: unknown keys,
wrong types and bad values are refused there) before it replaces the old one atomically, so a crash
or a refusal leaves the old file as it was. Secrets never go here: a database URL carrying a password
is refused before anything is written; passwords and tokens belong in the OS keyring
(``workstation.adapters.secrets``). TOML comments in a hand-written file are not kept.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import tomli_w
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from workstation.settings import SCHEMA_VERSION, SettingsError, load_settings


def save_settings(path: Path, changes: Mapping[str, Any]) -> None:
    """Apply ``changes`` to the settings file at ``path`` (created if missing) and replace it atomically.

    Keys are ``"table.key"`` (e.g. ``"database.url"``, ``"fhir_server.base_url"``,
    ``"release.dispensing_url"``) or a top-level key (``"demo_mode"``); a value of ``None`` removes the
    key, so the default applies again (a table left empty is dropped). Raises SettingsError, naming
    the setting, when the result would not load; the file is then untouched.
    """
    path = Path(path)
    raw = _read(path)
    for dotted, value in changes.items():
        table, _, key = dotted.partition(".") if "." in dotted else ("", "", dotted)
        if not key or (table and not isinstance(raw.get(table, {}), dict)):
            raise SettingsError(f"{path}: 无法写入设置 / cannot write setting {dotted!r}")
        target: dict[str, Any] = raw if not table else raw.setdefault(table, {})
        if value is None:
            target.pop(key, None)
            if table and not target:
                raw.pop(table, None)
        else:
            if table == "database" and key == "url":
                _refuse_password(str(value))
            target[key] = _plain(value)
    raw.setdefault("schema_version", SCHEMA_VERSION)
    data = tomli_w.dumps(raw).encode("utf-8")

    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".settings-", dir=path.parent))  # same file system: os.replace is atomic
    try:
        candidate = staging / "settings.toml"
        with open(candidate, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _validate(staging, path)
        os.chmod(candidate, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(candidate, path)
        _sync_dir(path.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: 不是合法的 TOML，未修改 / not valid TOML, left unchanged: {exc}") from None


def _refuse_password(url: str) -> None:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # the loader names it as not a database URL
    if parsed.password is not None:
        raise SettingsError(
            "数据库地址中不得包含密码 / the database URL must not carry a password: remove it from the URL "
            "(e.g. postgresql://rxws@dbhost/rxws) and store the password in the OS keyring instead "
            "(the PostgreSQL password field in Settings, or `rxws db set-password`)")


def _plain(value: Any) -> Any:
    """What TOML can hold: paths as text, tuples as lists."""
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _validate(staging: Path, real: Path) -> None:
    """Load the candidate with the real loader, without environment overrides; report under the real path."""
    env = {"RXWS_CONFIG_DIR": str(staging)}
    if os.environ.get("RXWS_DATA_DIR"):
        env["RXWS_DATA_DIR"] = os.environ["RXWS_DATA_DIR"]
    try:
        load_settings(env)
    except SettingsError as exc:
        raise SettingsError(str(exc).replace(str(staging / "settings.toml"), str(real))
                            + " — 设置文件未修改 / the settings file was not changed") from None


def _sync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
