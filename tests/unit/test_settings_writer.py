"""save_settings changes keys, keeps the rest, refuses what would not load and never leaves a broken file."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from workstation import settings_writer
from workstation.settings import SettingsError, load_settings
from workstation.settings_writer import save_settings


def test_creates_the_file_and_the_loader_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "settings.toml"
    save_settings(path, {"database.url": "postgresql://rxws@dbhost/rxws", "intake.inbox_dir": tmp_path / "in",
                         "demo_mode": False})
    loaded = load_settings({"RXWS_CONFIG_DIR": str(path.parent), "RXWS_DATA_DIR": str(tmp_path / "data")})
    assert loaded.database_url == "postgresql://rxws@dbhost/rxws"
    assert loaded.inbox_dir == tmp_path / "in" and loaded.demo_mode is False
    assert tomllib.loads(path.read_text(encoding="utf-8"))["schema_version"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["settings.toml"], "the staging folder was left behind"


def test_other_keys_are_kept_and_none_removes_a_key(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('schema_version = 1\ndemo_mode = false\n[pharmacy]\ntime_zone = "Asia/Urumqi"\n'
                    '[fhir_server]\nbase_url = "https://ih.example/fhir"\n', encoding="utf-8")
    save_settings(path, {"release.dispensing_url": "https://disp.example/api"})
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    assert raw["pharmacy"] == {"time_zone": "Asia/Urumqi"} and raw["demo_mode"] is False
    assert raw["release"] == {"dispensing_url": "https://disp.example/api"}
    save_settings(path, {"fhir_server.base_url": None, "release.dispensing_url": None})
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    assert "fhir_server" not in raw and "release" not in raw, "an emptied table is dropped"
    assert raw["pharmacy"] == {"time_zone": "Asia/Urumqi"}


def test_a_value_the_loader_refuses_leaves_the_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('schema_version = 1\n[pharmacy]\ntime_zone = "Asia/Shanghai"\n', encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(SettingsError) as err:
        save_settings(path, {"intake.max_bundle_bytes": "twenty megabytes"})
    message = str(err.value)
    assert "max_bundle_bytes" in message and str(path) in message and "not changed" in message
    assert ".settings-" not in message, "the error names the real file, not the staging copy"
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["settings.toml"]


def test_unknown_keys_are_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    with pytest.raises(SettingsError, match="colour"):
        save_settings(path, {"pharmacy.colour": "green"})
    assert not path.exists()


@pytest.mark.parametrize("url", ["postgresql://rxws:s3cret@dbhost/rxws", "postgresql+psycopg://u:p@h:5432/db"])
def test_a_database_url_with_a_password_is_refused_before_anything_is_written(tmp_path: Path, url: str) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("schema_version = 1\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="password") as err:
        save_settings(path, {"database.url": url})
    assert "s3cret" not in str(err.value) and "u:p@" not in str(err.value), "the secret is not echoed"
    assert path.read_text(encoding="utf-8") == "schema_version = 1\n"


def test_a_file_that_is_not_toml_is_named_and_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("this is = = not toml", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        save_settings(path, {"demo_mode": False})
    assert path.read_text(encoding="utf-8") == "this is = = not toml"


def test_a_crash_while_writing_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("schema_version = 1\ndemo_mode = true\n", encoding="utf-8")

    def crash(src: object, dst: object) -> None:
        raise OSError("disk pulled")

    monkeypatch.setattr(settings_writer.os, "replace", crash)
    with pytest.raises(OSError, match="disk pulled"):
        save_settings(path, {"demo_mode": False})
    assert path.read_text(encoding="utf-8") == "schema_version = 1\ndemo_mode = true\n"
    assert [p.name for p in tmp_path.iterdir()] == ["settings.toml"]


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_the_file_mode_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("schema_version = 1\n", encoding="utf-8")
    path.chmod(0o600)
    save_settings(path, {"demo_mode": False})
    assert path.stat().st_mode & 0o777 == 0o600
