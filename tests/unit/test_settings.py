"""The database URL the read commands take without pydantic is the one ``Settings`` reads; the
switches ``Settings`` hands on to Celery."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.environment import DEFAULT_DATABASE_URL, database_url
from config.settings import Settings


@pytest.fixture(autouse=True)
def no_arledger_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "ARLEDGER_DATABASE_URL",
        "arledger_database_url",
        "ARLEDGER_BATCH_SIZE",
        "ARLEDGER_TASK_EVENTS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env unless a test writes one


def test_with_nothing_set_both_give_the_default() -> None:
    assert database_url() == Settings().database_url == DEFAULT_DATABASE_URL


def test_a_variable_names_the_url_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("arledger_Database_URL", "sqlite:///lower.db")
    assert database_url() == Settings().database_url == "sqlite:///lower.db"


def test_a_dotenv_file_names_the_url_and_the_environment_wins_over_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        'export ARLEDGER_DATABASE_URL="sqlite:///from-file.db"  # quoted\nARLEDGER_BATCH_SIZE=7\n',
        encoding="utf-8",
    )
    assert database_url() == Settings().database_url == "sqlite:///from-file.db"
    assert Settings().batch_size == 7
    monkeypatch.setenv("ARLEDGER_DATABASE_URL", "sqlite:///from-env.db")
    assert database_url() == Settings().database_url == "sqlite:///from-env.db"


def test_keyword_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARLEDGER_DATABASE_URL", "sqlite:///from-env.db")
    monkeypatch.setenv("ARLEDGER_BATCH_SIZE", "0")  # out of range: pydantic still validates
    with pytest.raises(ValueError, match="batch_size"):
        Settings()
    assert Settings(database_url="sqlite:///given.db", batch_size=3).database_url == (
        "sqlite:///given.db"
    )


def test_task_events_are_off_unless_asked_for_and_reach_both_sides_of_celery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workers.celery_app import celery_app

    quiet = celery_app(Settings(broker_url="memory://")).conf
    assert (quiet.worker_send_task_events, quiet.task_send_sent_event) == (False, False)
    monkeypatch.setenv("ARLEDGER_TASK_EVENTS", "true")
    watched = celery_app(Settings(broker_url="memory://")).conf
    assert (watched.worker_send_task_events, watched.task_send_sent_event) == (True, True)
    monkeypatch.setenv("ARLEDGER_TASK_EVENTS", "sometimes")
    with pytest.raises(ValueError, match="task_events"):
        Settings()
