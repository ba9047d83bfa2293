"""`max_seconds` kept: a call stops before a step that would not finish in the time left.

Checked only between steps, the limit let the step begun just before it run its whole length
past it (a resumed call once ran one 30-second step over). So a step is begun only if, at
the pace of the last one, it and the checkpoint that ends the call fit in the time left.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Budget:
    """The seconds one call may train (0: no limit), and the time its steps have taken.

    The pace is the last step's whole time, its logging, samples and periodic checkpoint
    included; the end's checkpoint is reckoned at the last one this call wrote. The first
    step of a call always runs: nothing is timed yet, and a call that takes no step cannot
    move a run on.
    """

    clock: Callable[[], float] = staticmethod(time.perf_counter)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = self._lap = self.clock()
        self.step_s: float | None = None
        self.save_s = 0.0

    def used(self) -> float:
        return self.clock() - self.started

    def stepped(self) -> None:
        """A step, with the work that follows it, is done."""
        now = self.clock()
        self.step_s, self._lap = now - self._lap, now

    def save(self, write: Callable[[], None]) -> None:
        """Write a checkpoint, timed for the reckoning of the last one."""
        start = self.clock()
        write()
        self.save_s = self.clock() - start

    def room_for_a_step(self) -> bool:
        if not self.seconds or self.step_s is None:
            return True
        return self.used() + self.step_s + self.save_s <= self.seconds
