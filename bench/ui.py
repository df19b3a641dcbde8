"""Progress output: one timestamped line per step, and a live bar while counts climb."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(highlight=False)
if not console.is_terminal:  # logs and CI: no 80-column wrapping
    console = Console(highlight=False, width=120)
_START = time.monotonic()


def step(message: str) -> None:
    elapsed = int(time.monotonic() - _START)
    console.print(f"[dim]{elapsed // 60:3d}:{elapsed % 60:02d}[/dim] {message}")


def detail(message: str) -> None:
    console.print(f"        [dim]{message}[/dim]")


@contextmanager
def bar(description: str, total: float | None) -> Iterator[Progress]:
    """A transient progress bar (task id 0); update it with `.update(0, completed=n)`."""
    progress = Progress(
        TextColumn("        {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with progress:
        progress.add_task(description, total=total)
        yield progress
