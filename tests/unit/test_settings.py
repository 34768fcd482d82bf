"""Settings: defaults follow the platform directories, the file is checked, secrets are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workstation.settings import SettingsError, load_settings


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"RXWS_CONFIG_DIR": str(tmp_path / "cfg"), "RXWS_DATA_DIR": str(tmp_path / "data"), **extra}


def _write(tmp_path: Path, text: str) -> None:
    (tmp_path / "cfg").mkdir(exist_ok=True)
    (tmp_path / "cfg" / "settings.toml").write_text(text, encoding="utf-8")


def test_defaults_put_sqlite_and_inbox_in_the_data_dir(tmp_path: Path) -> None:
    s = load_settings(_env(tmp_path))
    assert s.database_url == f"sqlite:///{tmp_path / 'data' / 'rxws.sqlite3'}"
    assert s.inbox_dir == tmp_path / "data" / "inbox"
    assert s.pharmacy_time_zone == "Asia/Shanghai" and s.demo_mode and s.is_sqlite


def test_xdg_variables_decide_the_platform_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("RXWS_DATA_DIR", raising=False)
    monkeypatch.delenv("RXWS_CONFIG_DIR", raising=False)
    monkeypatch.delenv("RXWS_DATABASE_URL", raising=False)
    s = load_settings()
    assert s.data_dir == tmp_path / "xdg-data" / "rxws"
    assert s.config_dir == tmp_path / "xdg-config" / "rxws"


def test_file_values_and_environment_overrides(tmp_path: Path) -> None:
    _write(tmp_path, """
schema_version = 1
demo_mode = false
[database]
url = "postgresql://rxws@db.example/rxws"
[intake]
inbox_dir = "/srv/rxws/inbox"
[pharmacy]
time_zone = "Asia/Urumqi"
[fhir_server]
base_url = "https://ih.example/fhir"
page_size = 20
read_timeout = 12.5
""")
    s = load_settings(_env(tmp_path))
    assert s.database_url == "postgresql://rxws@db.example/rxws" and not s.demo_mode
    assert s.inbox_dir == Path("/srv/rxws/inbox") and s.pharmacy_time_zone == "Asia/Urumqi"
    assert s.fhir_server.page_size == 20 and s.fhir_server.read_timeout == 12.5
    s2 = load_settings(_env(tmp_path, RXWS_DATABASE_URL="sqlite:////tmp/x.db", RXWS_FHIR_BASE_URL="http://127.0.0.1:9/fhir"))
    assert s2.database_url == "sqlite:////tmp/x.db" and s2.fhir_server.base_url == "http://127.0.0.1:9/fhir"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[database]\nurl = 'postgresql://rxws:s3cret@db/rxws'\n", "rxws db set-password"),
        ("databse = 1\n", "unknown setting 'databse'"),
        ("[intake]\ninbox = 'x'\n", "unknown setting 'intake.inbox'"),
        ("[fhir_server]\npage_size = 'ten'\n", "fhir_server.page_size must be an integer"),
        ("demo_mode = 'yes'\n", "demo_mode must be true or false"),
        ("[pharmacy]\ntime_zone = 'Mars/Olympus'\n", "not a known time zone"),
        ("[database]\nurl = 'mysql://x@y/z'\n", "not supported"),
        ("schema_version = 9\n", "schema_version 9 is not supported"),
        ("this is = not toml [\n", "not valid TOML"),
        ("[fhir_server]\nbase_url = 'ftp://x'\n", "must start with http"),
    ],
)
def test_bad_settings_are_refused_with_the_key_named(tmp_path: Path, text: str, message: str) -> None:
    _write(tmp_path, text)
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        load_settings(_env(tmp_path))


def test_password_in_the_environment_url_is_refused_too(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="keyring"):
        load_settings(_env(tmp_path, RXWS_DATABASE_URL="postgresql://u:pw@h/d"))


# --- the review section: the law is the default; loosening it needs a reason -----------------------


def test_review_defaults_are_the_law(tmp_path: Path) -> None:
    r = load_settings(_env(tmp_path)).review
    assert (r.ordinary_supply_days, r.emergency_supply_days, r.long_term_supply_days, r.validity_max_days,
            r.max_items, r.diagnosis_match) == (7, 3, 84, 3, 5, "category")
    assert r.rules == () and r.loosenings({}) == []


def test_stricter_review_settings_need_no_reason(tmp_path: Path) -> None:
    _write(tmp_path, """
[review]
diagnosis_match = "exact"
ordinary_supply_days = 5
accompanying_specialties = ["394537008"]
trust_anchors = ["/etc/rxws/ca.pem"]
[review.rules."special_drug.online_sale_prohibited"]
severity = "block"
""")
    r = load_settings(_env(tmp_path)).review
    assert r.diagnosis_match == "exact" and r.ordinary_supply_days == 5
    assert r.accompanying_specialties == ("394537008",) and r.trust_anchors == (Path("/etc/rxws/ca.pem"),)
    assert [(c.rule_id, c.severity) for c in r.rules] == [("special_drug.online_sale_prohibited", "block")]


@pytest.mark.parametrize(
    "text",
    [
        "[review]\nordinary_supply_days = 14\n",
        '[review.rules."items.too_many"]\nenabled = false\n',
        '[review.rules."catalog.unknown_drug"]\nseverity = "warn"\n',
    ],
)
def test_loosening_the_law_without_a_reason_is_refused(tmp_path: Path, text: str) -> None:
    _write(tmp_path, text)
    with pytest.raises(SettingsError, match="give a reason"):
        load_settings(_env(tmp_path))


def test_loosening_with_a_reason_is_accepted_and_listed(tmp_path: Path) -> None:
    _write(tmp_path, """
[review]
ordinary_supply_days = 14
reason = "慢病长处方试点，经药事委员会批准"
[review.rules."items.too_many"]
enabled = false
reason = "中药饮片另行审核"
""")
    r = load_settings(_env(tmp_path)).review
    assert r.loosenings({"items.too_many": "warn"}) == [
        ("ordinary_supply_days = 14 (law: 7)", "慢病长处方试点，经药事委员会批准"),
        ("rule items.too_many disabled", "中药饮片另行审核"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[review.rules."no.such_rule"]\nenabled = false\nreason = "x"\n', "unknown rule id"),
        ('[review.rules."items.too_many"]\nseverity = "info"\n', "severity"),
        ('[review.rules."items.too_many"]\nlevel = "warn"\n', "takes only enabled, severity and reason"),
        ("[review]\ndiagnosis_match = 'chapter'\n", "diagnosis_match"),
        ("[review]\nmax_items = -1\n", "must not be negative"),
        ("[review]\naccompanying_specialties = [1]\n", "list of non-empty strings"),
        ("[review]\nsupply_days = 7\n", "unknown setting 'review.supply_days'"),
    ],
)
def test_bad_review_settings_are_refused_with_the_key_named(tmp_path: Path, text: str, message: str) -> None:
    _write(tmp_path, text)
    with pytest.raises(SettingsError, match=message):
        load_settings(_env(tmp_path))


def test_rxws_trust_replaces_the_configured_anchors(tmp_path: Path) -> None:
    _write(tmp_path, '[review]\ntrust_anchors = ["/etc/rxws/a.pem"]\n')
    assert load_settings(_env(tmp_path)).review.trust_anchors == (Path("/etc/rxws/a.pem"),)
    s = load_settings(_env(tmp_path, RXWS_TRUST=f"/x/b.pem{os.pathsep}/y/c.pem"))
    assert s.review.trust_anchors == (Path("/x/b.pem"), Path("/y/c.pem"))
