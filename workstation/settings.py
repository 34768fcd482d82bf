"""The workstation's settings: one typed object, from a TOML file in the platform config directory.

Where things live (Linux paths shown; macOS and Windows use their own conventions):
- settings file: ``$XDG_CONFIG_HOME/rxws/settings.toml`` (``RXWS_CONFIG_DIR`` overrides the folder);
- data: ``$XDG_DATA_HOME/rxws/`` (``RXWS_DATA_DIR`` overrides) holding ``rxws.sqlite3`` and ``inbox/``;
- database: ``RXWS_DATABASE_URL`` overrides ``[database] url``.
Secrets never appear here: a database URL carrying a password is refused (passwords live in the
OS keyring, see ``rxws db set-password``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from workstation.domain.errors import DomainError

SCHEMA_VERSION = 1
APP_NAME = "rxws"


class SettingsError(DomainError):
    """The settings file or an environment variable holds something the workstation cannot use."""


@dataclass(frozen=True, slots=True)
class FhirServerSettings:
    """The internet hospital's FHIR server that `rxws pull` reads from."""

    base_url: str | None = None
    page_size: int = 50
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_retries: int = 5
    backoff_seconds: float = 1.0
    token_name: str = "fhir-server-token"  # the keyring entry that holds the bearer token


@dataclass(frozen=True, slots=True)
class Settings:
    config_dir: Path
    data_dir: Path
    database_url: str
    inbox_dir: Path
    schema_version: int = SCHEMA_VERSION
    demo_mode: bool = True
    pharmacy_time_zone: str = "Asia/Shanghai"
    special_drugs_path: Path | None = None
    max_bundle_bytes: int = 20 * 1024 * 1024
    fhir_server: FhirServerSettings = field(default_factory=FhirServerSettings)

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.toml"

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"


# Which TOML keys exist, and what type each takes: unknown keys are typos and are refused.
_TABLES: dict[str, dict[str, type | tuple[type, ...]]] = {
    "": {"schema_version": int, "demo_mode": bool},
    "database": {"url": str},
    "intake": {"inbox_dir": str, "max_bundle_bytes": int},
    "pharmacy": {"time_zone": str},
    "regulatory": {"special_drugs_path": str},
    "fhir_server": {
        "base_url": str, "page_size": int, "connect_timeout": (int, float), "read_timeout": (int, float),
        "max_retries": int, "backoff_seconds": (int, float), "token_name": str,
    },
}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings file (if any) and apply environment overrides. Raises SettingsError."""
    env = os.environ if env is None else env
    config_dir = Path(env.get("RXWS_CONFIG_DIR") or platformdirs.user_config_dir(APP_NAME, appauthor=False))
    data_dir = Path(env.get("RXWS_DATA_DIR") or platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path = config_dir / "settings.toml"
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path}: 不是合法的 TOML / not valid TOML: {exc}") from None
    _check_shape(path, raw)

    version = raw.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise SettingsError(f"{path}: schema_version {version} is not supported (this version reads {SCHEMA_VERSION})")
    db = raw.get("database", {})
    intake = raw.get("intake", {})
    fhir = raw.get("fhir_server", {})
    settings = Settings(
        config_dir=config_dir,
        data_dir=data_dir,
        database_url=db.get("url") or f"sqlite:///{data_dir / 'rxws.sqlite3'}",
        inbox_dir=Path(intake["inbox_dir"]) if "inbox_dir" in intake else data_dir / "inbox",
        demo_mode=raw.get("demo_mode", True),
        pharmacy_time_zone=raw.get("pharmacy", {}).get("time_zone", "Asia/Shanghai"),
        special_drugs_path=Path(p) if (p := raw.get("regulatory", {}).get("special_drugs_path")) else None,
        max_bundle_bytes=intake.get("max_bundle_bytes", 20 * 1024 * 1024),
        fhir_server=replace(FhirServerSettings(), **fhir),
    )
    if env.get("RXWS_DATABASE_URL"):
        settings = replace(settings, database_url=env["RXWS_DATABASE_URL"])
    if env.get("RXWS_FHIR_BASE_URL"):
        settings = replace(settings, fhir_server=replace(settings.fhir_server, base_url=env["RXWS_FHIR_BASE_URL"]))
    _check_values(path, settings)
    return settings


def _check_shape(path: Path, raw: Mapping[str, Any]) -> None:
    for key, value in raw.items():
        if isinstance(value, dict) and key in _TABLES and key != "":
            _check_keys(path, key, value, _TABLES[key])
        elif key in _TABLES[""]:
            _check_keys(path, "", {key: value}, _TABLES[""])
        else:
            raise SettingsError(f"{path}: 未知设置 / unknown setting {key!r} (known: {', '.join(sorted(k for k in _TABLES if k) + sorted(_TABLES['']))})")


def _check_keys(path: Path, table: str, values: Mapping[str, Any], schema: Mapping[str, type | tuple[type, ...]]) -> None:
    for key, value in values.items():
        name = f"{table}.{key}" if table else key
        if key not in schema:
            raise SettingsError(f"{path}: 未知设置 / unknown setting {name!r} (known in [{table}]: {', '.join(sorted(schema))})")
        expected = schema[key]
        if isinstance(value, bool) and expected is not bool or not isinstance(value, expected):
            want = {int: "an integer", bool: "true or false", str: "a string"}.get(expected, "a number") \
                if isinstance(expected, type) else "a number"
            raise SettingsError(f"{path}: {name} 类型错误 / {name} must be {want}, got {value!r}")


def _check_values(path: Path, s: Settings) -> None:
    try:
        url = make_url(s.database_url)
    except ArgumentError:
        raise SettingsError(f"database url {s.database_url!r} is not a database URL (e.g. postgresql://rxws@dbhost/rxws)") from None
    if url.password is not None:
        raise SettingsError(
            "数据库密码不得写入设置或环境变量 / the database URL carries a password; remove it and store the "
            "password in the OS keyring with `rxws db set-password`"
        )
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise SettingsError(f"database {url.get_backend_name()!r} is not supported: use SQLite (default) or PostgreSQL")
    try:
        ZoneInfo(s.pharmacy_time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{path}: pharmacy.time_zone {s.pharmacy_time_zone!r} is not a known time zone (e.g. Asia/Shanghai)") from None
    if s.max_bundle_bytes <= 0:
        raise SettingsError(f"{path}: intake.max_bundle_bytes must be positive")
    f = s.fhir_server
    if f.page_size < 1 or f.page_size > 1000:
        raise SettingsError(f"{path}: fhir_server.page_size must be between 1 and 1000")
    if f.base_url is not None and not f.base_url.startswith(("http://", "https://")):
        raise SettingsError(f"fhir_server.base_url {f.base_url!r} must start with http:// or https://")
