"""`rxws serve`: the headless pharmacy-server part runs its duties until SIGTERM, then stops cleanly."""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.support import PKI, REPO, running, signed_prescription


def test_serve_takes_in_the_inbox_until_sigterm_and_stops_cleanly(tmp_path: Path, sqlite_template: Path) -> None:
    db = tmp_path / "serve.sqlite3"
    db.write_bytes(sqlite_template.read_bytes())
    env = {**os.environ, "RXWS_CONFIG_DIR": str(tmp_path / "config"), "RXWS_DATA_DIR": str(tmp_path / "data"),
           "RXWS_DATABASE_URL": f"sqlite:///{db}", "RXWS_TRUST": str(PKI / "ca.pem")}
    inbox = tmp_path / "data" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "rx.json").write_bytes(signed_prescription("RXSERVE1", datetime.now(UTC)))
    os.utime(inbox / "rx.json", (time.time() - 10, time.time() - 10))  # settled
    argv = [sys.executable, "-m", "workstation.cli", "serve", "--interval", "0.2"]
    with running(argv, cwd=REPO, env=env) as proc:
        assert proc.stdout is not None
        started = proc.stdout.readline()
        assert "rxws serve: every 0.2 s" in started, started + (proc.stderr.read() if proc.stderr else "")
        line = proc.stdout.readline()
        assert "inbox rx.json: stored" in line, line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert "rxws serve: stopped" in proc.stdout.read()
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT number FROM prescription")).scalars().all() == ["RXSERVE1"]
    engine.dispose()
    assert (inbox / "processed" / "rx.json").is_file()
