"""distml.log: what the console showed, line by line (distml/progress.py ``tee_console``)."""

import io
import logging
import sys

import pytest

from distml.progress import Progress, say, tee_console


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_on_a_terminal_is_logged_once_as_its_last_line(tmp_path, monkeypatch):
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    log = tmp_path / "distml.log"
    with tee_console(str(log)):
        p = Progress("profile", 3, min_interval=0)
        for _ in range(3):
            p.update(1, rows=10)
        say("profile", "done")
    assert term.getvalue().count("\r") >= 1  # redrawn on the terminal, then the last line
    lines = log.read_text().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("[profile] [") and "3/3 shards" in lines[0] and "\r" not in lines[0]
    assert lines[1] == "[profile] done"


def test_an_unfinished_line_and_an_error_s_traceback_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    log = tmp_path / "distml.log"
    with pytest.raises(RuntimeError), tee_console(str(log)):
        print("no newline", end="")
        raise RuntimeError("a bug")
    text = log.read_text()
    assert text.startswith("no newline\n")
    assert "Traceback (most recent call last)" in text and "RuntimeError: a bug" in text


def test_a_handler_that_kept_the_tee_writes_to_the_console_after_the_command(tmp_path, monkeypatch):
    term = io.StringIO()
    monkeypatch.setattr(sys, "stderr", term)
    log = tmp_path / "distml.log"
    with tee_console(str(log)):
        handler = logging.StreamHandler()  # binds sys.stderr now: the tee
    record = logging.LogRecord("ray", logging.WARNING, __file__, 1, "after", None, None)
    handler.emit(record)  # the log file is closed: no "I/O operation on closed file"
    assert term.getvalue() == "after\n" and log.read_text() == ""
