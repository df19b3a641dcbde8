"""Child processes of the bench that talk over pipes: one line-based protocol for all of them.

A child (`bench.producer`, `bench.bare_faust`, `bench.bare_aiokafka`, `bench.warehouse_owner`)
prints protocol lines on stdout (`ready`, `t0 <monotonic>`, `count <n> <monotonic>`, ...) and
reads commands (`go`) on stdin; its stderr goes to a log file. Children run in their own
session and get SIGTERM when the bench dies (PR_SET_PDEATHSIG), so none is left behind.

`time.monotonic()` is CLOCK_MONOTONIC, one clock for every process on a Linux machine, so
times printed by children compare directly with the parent's.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from apim import processes

_PR_SET_PDEATHSIG = 1
REPO = Path(__file__).resolve().parent.parent


class ChildError(RuntimeError):
    """A child exited, or did not say what we waited for in time."""


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """A `python -m <module>` child with a line protocol on stdout/stdin."""

    def __init__(
        self, module: str, args: Sequence[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = module.rsplit(".", 1)[-1]
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ if env is None else env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                text=True,
                bufsize=1,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.history: list[list[str]] = []
        """Every line received, split into fields (appended by the reader thread)."""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.history.append(line.split())
            self._lines.put(line.strip())
        self._lines.put(None)

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise ChildError(f"{self.name} is gone: {exc}\n{self.log_tail()}") from None

    def expect(self, word: str, timeout_s: float) -> list[str]:
        """Wait for the next line starting with `word`; return its other fields."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildError(
                    f"{self.name}: no '{word}' after {timeout_s:.0f} s\n{self.log_tail()}"
                )
            try:
                line = self._lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if line is None:
                self.process.wait()
                raise ChildError(
                    f"{self.name} exited with code {self.process.returncode} "
                    f"before '{word}'\n{self.log_tail()}"
                )
            fields = line.split()
            if fields and fields[0] == word:
                return fields[1:]

    def seen(self, word: str) -> list[str] | None:
        """The other fields of the first line so far starting with `word`, without waiting."""
        for fields in list(self.history):
            if fields and fields[0] == word:
                return fields[1:]
        return None

    def poll_lines(self) -> list[list[str]]:
        """Every line received so far and not yet read, split into fields."""
        out = []
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return out
            if line is None:
                self._lines.put(None)  # keep the end mark for `expect`
                return out
            out.append(line.split())

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            text = ""
        return f"--- {self.name} log ({self.log_path}) ---\n{text}"

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        processes.stop(self.process, timeout_s)


def log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
