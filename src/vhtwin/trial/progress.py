"""A progress line for long runs: patients done, rate, ETA (on stderr; no dependency)."""

from __future__ import annotations

import sys
import time


class Progress:
    """Report ``done`` of ``total`` patients. On a terminal the line is redrawn; elsewhere (a log) one line is
    printed every tenth of the run, so logs stay short."""

    def __init__(self, total: int, *, enabled: bool = True, stream=None, label: str = "patients"):
        self.total, self.enabled, self.label = total, enabled, label
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.done = 0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._next_decile = 1

    def advance(self, n: int, already: int = 0) -> None:
        """``n`` more patients finished (``already``: patients found done before this run, not counted in the rate)."""
        self.done += n
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        fresh = self.done - already
        rate = fresh / elapsed if elapsed > 0 and fresh > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        line = (f"{self.done:,}/{self.total:,} {self.label} ({self.done / max(self.total, 1):.0%}) "
                f"{rate:,.0f}/s ETA {_duration(eta)}")
        if self._tty:
            self.stream.write("\r" + line.ljust(70))
            if self.done >= self.total:
                self.stream.write("\n")
            self.stream.flush()
        elif self.done * 10 >= self._next_decile * self.total or self.done >= self.total:
            while self.done * 10 >= self._next_decile * self.total and self._next_decile <= 10:
                self._next_decile += 1
            self.stream.write(line + "\n")
            self.stream.flush()


    def note(self, text: str) -> None:
        """A line of its own (what the run is doing besides patients: a repair), when progress is shown."""
        if self.enabled:
            self.stream.write(text + "\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN: no rate yet
        return "--"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
