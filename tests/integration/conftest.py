"""Fixtures shared by the integration tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import PASSWORD, Pharmacy
from tests.support import PKI
from workstation.cli import main


@pytest.fixture
def cli(pharmacy: Pharmacy, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """``rxws`` run in-process against the test pharmacy, signed in with the test password:
    ``cli("show", "RX1", "--as", "PH0001")`` gives ``(exit status, stdout, stderr)``."""
    s = pharmacy.ws.settings
    for key, value in {"RXWS_CONFIG_DIR": str(s.config_dir), "RXWS_DATA_DIR": str(s.data_dir),
                       "RXWS_DATABASE_URL": s.database_url, "RXWS_TRUST": str(PKI / "ca.pem"),
                       "RXWS_PASSWORD": PASSWORD}.items():
        monkeypatch.setenv(key, value)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run
