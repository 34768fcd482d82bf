"""The workstation's settings: one typed object, from a TOML file in the platform config directory.

Where things live (Linux paths shown; macOS and Windows use their own conventions):
- settings file: ``$XDG_CONFIG_HOME/rxws/settings.toml`` (``RXWS_CONFIG_DIR`` overrides the folder);
- data: ``$XDG_DATA_HOME/rxws/`` (``RXWS_DATA_DIR`` overrides) holding ``rxws.sqlite3`` and ``inbox/``;
- database: ``RXWS_DATABASE_URL`` overrides ``[database] url``.
Secrets never appear here: a database URL carrying a password is refused (passwords live in the
OS keyring, see ``rxws db set-password``).
"""

from __future__ import annotations

import hashlib
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
class RuleChange:
    """An institution's change to one review rule: off, or another severity (with its reason)."""

    rule_id: str
    enabled: bool = True
    severity: str | None = None  # "block" or "warn"
    reason: str | None = None


LAW = {"ordinary_supply_days": 7, "emergency_supply_days": 3, "long_term_supply_days": 84,
       "validity_max_days": 3, "max_items": 5}


@dataclass(frozen=True, slots=True)
class ReviewSettings:
    """How prescriptions are judged here. The defaults are the law; loosening one needs a reason."""

    diagnosis_match: str = "category"  # "category" (3-character ICD-10) or "exact"
    accompanying_specialties: tuple[str, ...] = ()
    ordinary_supply_days: int = 7
    emergency_supply_days: int = 3
    long_term_supply_days: int = 84
    validity_max_days: int = 3
    max_items: int = 5
    trust_anchors: tuple[Path, ...] = ()
    reason: str | None = None  # why the limits above differ from the law, when they are looser
    rules: tuple[RuleChange, ...] = ()

    def loosenings(self, default_severity: Mapping[str, str]) -> list[tuple[str, str]]:
        """(what, why) for every change that makes review less strict than the law and the rule set."""
        out = []
        for key, law in LAW.items():
            value = getattr(self, key)
            if value > law:
                out.append((f"{key} = {value} (law: {law})", self.reason or ""))
        for change in self.rules:
            if not change.enabled:
                out.append((f"rule {change.rule_id} disabled", change.reason or ""))
            elif change.severity == "warn" and default_severity.get(change.rule_id) == "block":
                out.append((f"rule {change.rule_id} lowered to warn", change.reason or ""))
        return out


@dataclass(frozen=True, slots=True)
class ReleaseSettings:
    """Where approved prescriptions go (放行), and how hard the sender tries. Tokens live in the keyring."""

    dispensing_url: str | None = None
    delivery_url: str | None = None
    trust_anchors: tuple[Path, ...] = ()  # roots of imported pharmacist certificates (the pharmacy CA is implied)
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    max_attempts: int = 8
    backoff_seconds: float = 2.0
    dispensing_token_name: str = "dispensing-token"
    delivery_token_name: str = "delivery-token"


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
    review: ReviewSettings = field(default_factory=ReviewSettings)
    release: ReleaseSettings = field(default_factory=ReleaseSettings)
    settings_sha256: str | None = None  # SHA-256 of the settings file as read; None when there is none

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
    "review": {
        "diagnosis_match": str, "accompanying_specialties": list, "ordinary_supply_days": int,
        "emergency_supply_days": int, "long_term_supply_days": int, "validity_max_days": int, "max_items": int,
        "trust_anchors": list, "reason": str, "rules": dict,
    },
    "release": {
        "dispensing_url": str, "delivery_url": str, "trust_anchors": list, "connect_timeout": (int, float),
        "read_timeout": (int, float), "max_attempts": int, "backoff_seconds": (int, float),
        "dispensing_token_name": str, "delivery_token_name": str,
    },
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
    digest = None
    if path.exists():
        try:
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            raw = tomllib.loads(data.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path}: 不是合法的 TOML / not valid TOML: {exc}") from None
    _check_shape(path, raw)

    version = raw.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise SettingsError(f"{path}: schema_version {version} is not supported (this version reads {SCHEMA_VERSION})")
    db = raw.get("database", {})
    intake = raw.get("intake", {})
    fhir = raw.get("fhir_server", {})
    review = _review(path, raw.get("review", {}))
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
        review=review,
        release=_release(path, raw.get("release", {})),
        settings_sha256=digest,
    )
    if env.get("RXWS_DATABASE_URL"):
        settings = replace(settings, database_url=env["RXWS_DATABASE_URL"])
    if env.get("RXWS_FHIR_BASE_URL"):
        settings = replace(settings, fhir_server=replace(settings.fhir_server, base_url=env["RXWS_FHIR_BASE_URL"]))
    if env.get("RXWS_DISPENSING_URL"):
        settings = replace(settings, release=replace(settings.release, dispensing_url=env["RXWS_DISPENSING_URL"]))
    if env.get("RXWS_DELIVERY_URL"):
        settings = replace(settings, release=replace(settings.release, delivery_url=env["RXWS_DELIVERY_URL"]))
    if env.get("RXWS_TRUST"):  # trust anchors for prescriber signatures, separated like PATH
        anchors = tuple(Path(p) for p in env["RXWS_TRUST"].split(os.pathsep) if p)
        settings = replace(settings, review=replace(settings.review, trust_anchors=anchors))
    _check_values(path, settings)
    return settings


def _release(path: Path, raw: Mapping[str, Any]) -> ReleaseSettings:
    anchors = raw.get("trust_anchors", [])
    if not all(isinstance(x, str) and x for x in anchors):
        raise SettingsError(f"{path}: release.trust_anchors must be a list of non-empty strings")
    values = {k: v for k, v in raw.items() if k != "trust_anchors"}
    return ReleaseSettings(**values, trust_anchors=tuple(Path(p) for p in anchors))


def _review(path: Path, raw: Mapping[str, Any]) -> ReviewSettings:
    from review_rules import REGISTRY  # the public rule ids are the only valid keys

    values = {k: v for k, v in raw.items() if k not in ("rules", "accompanying_specialties", "trust_anchors")}
    for key in ("accompanying_specialties", "trust_anchors"):
        items = raw.get(key, [])
        if not all(isinstance(x, str) and x for x in items):
            raise SettingsError(f"{path}: review.{key} must be a list of non-empty strings")
    if values.get("diagnosis_match", "category") not in ("category", "exact"):
        raise SettingsError(f"{path}: review.diagnosis_match must be \"category\" or \"exact\"")
    for key in LAW:
        if key in values and values[key] < 0:
            raise SettingsError(f"{path}: review.{key} must not be negative")
    changes = []
    for rule_id, change in raw.get("rules", {}).items():
        name = f'review.rules."{rule_id}"'
        if rule_id not in REGISTRY:
            raise SettingsError(f"{path}: {name}: 未知规则 / unknown rule id (see review-rules.md)")
        if not isinstance(change, dict) or set(change) - {"enabled", "severity", "reason"}:
            raise SettingsError(f"{path}: {name} takes only enabled, severity and reason")
        enabled, severity, why = change.get("enabled", True), change.get("severity"), change.get("reason")
        if not isinstance(enabled, bool) or severity not in (None, "block", "warn") or not isinstance(why, (str, type(None))):
            raise SettingsError(f"{path}: {name}: enabled is true/false, severity \"block\" or \"warn\", reason text")
        changes.append(RuleChange(rule_id, enabled, severity, why))
    review = ReviewSettings(
        **values,
        accompanying_specialties=tuple(raw.get("accompanying_specialties", ())),
        trust_anchors=tuple(Path(p) for p in raw.get("trust_anchors", ())),
        rules=tuple(changes),
    )
    defaults = {rid: r.severity.value for rid, r in REGISTRY.items()}
    for what, why in review.loosenings(defaults):
        if not why.strip():
            raise SettingsError(
                f"{path}: {what} 放宽了法定要求，须写明理由 / makes review less strict than the law or the rule set; "
                "give a reason (review.reason, or reason in the rule's table): it is recorded in the audit trail"
            )
    return review


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
    r = s.release
    for name in ("dispensing_url", "delivery_url"):
        value = getattr(r, name)
        if value is not None and not value.startswith(("http://", "https://")):
            raise SettingsError(f"release.{name} {value!r} must start with http:// or https://")
    if r.max_attempts < 1 or r.connect_timeout <= 0 or r.read_timeout <= 0 or r.backoff_seconds < 0:
        raise SettingsError(f"{path}: release.max_attempts must be at least 1 and the timeouts positive")
