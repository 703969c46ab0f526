"""A progress line for long runs: patients done, rate, ETA (on stderr; no dependency)."""

from __future__ import annotations

import sys
import threading
import time


class Progress:
    """Report ``done`` of ``total`` patients. On a terminal the line is redrawn; elsewhere (a log) one line is
    printed every tenth of the run, so logs stay short.

    A run's first batch can take minutes (compilation, then a large batch), so a clock also speaks: the first line
    appears ``first_after`` seconds after the start even if no patient is done yet, and then again whenever
    ``quiet_for`` seconds pass without one (every second on a terminal).
    """

    def __init__(self, total: int, *, enabled: bool = True, stream=None, label: str = "patients",
                 first_after: float = 5.0, quiet_for: float = 60.0):
        self.total, self.enabled, self.label = total, enabled, label
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.done = 0
        self._fresh = 0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._next_decile = 1
        self._lock = threading.Lock()
        self._last_line = None  # when a line was last written (None: not yet)
        self._first_after, self._quiet_for = first_after, (1.0 if self._tty else quiet_for)
        self._closed = threading.Event()
        if enabled:
            threading.Thread(target=self._clock, name="vhtwin-progress", daemon=True).start()

    def advance(self, n: int, already: int = 0) -> None:
        """``n`` more patients finished (``already``: patients found done before this run, not counted in the rate)."""
        with self._lock:
            self.done += n
            self._fresh = self.done - already
            if not self.enabled:
                return
            if self._tty:
                self._write("\r" + self._line().ljust(78) + ("\n" if self.done >= self.total else ""))
            elif self.done * 10 >= self._next_decile * self.total or self.done >= self.total:
                while self.done * 10 >= self._next_decile * self.total and self._next_decile <= 10:
                    self._next_decile += 1
                self._write(self._line() + "\n")

    def close(self) -> None:
        """Stop the clock (the run ended, or stopped)."""
        self._closed.set()

    def _clock(self) -> None:
        while not self._closed.wait(0.25):
            with self._lock:
                now = time.perf_counter()
                due = (now - self.start >= self._first_after if self._last_line is None
                       else now - self._last_line >= self._quiet_for)
                if due and self.done < self.total and not self._closed.is_set():
                    waiting = " -- compiling and computing the first batch" if self._fresh == 0 else ""
                    line = f"{self._line()}, {_duration(now - self.start)} elapsed{waiting}"
                    self._write("\r" + line.ljust(78) if self._tty else line + "\n")

    def _line(self) -> str:
        elapsed = time.perf_counter() - self.start
        rate = self._fresh / elapsed if elapsed > 0 and self._fresh > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        return (f"{self.done:,}/{self.total:,} {self.label} ({self.done / max(self.total, 1):.0%}) "
                f"{rate:,.0f}/s ETA {_duration(eta)}")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
        self._last_line = time.perf_counter()

    def note(self, text: str) -> None:
        """A line of its own (what the run is doing besides patients: a repair), when progress is shown."""
        if self.enabled:
            with self._lock:
                self._write(("\n" if self._tty and self._last_line is not None else "") + text + "\n")


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN: no rate yet
        return "--"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
