"""Progress that reads well both in a terminal and in a log file.

In a terminal, mmengine's progress bar (one line, redrawn); anywhere else (``nohup``, CI, a
pipe, a file) a few plain lines per task, at 0, 25, 50, 75 and 100 %, with the elapsed time:
mmengine's bar writes one ``\\r`` update per item, thousands of them on one line of a log file.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from typing import TypeVar

from mmengine.utils import track_iter_progress

T = TypeVar('T')
STEPS = 4  # lines at 0, 1/4, 2/4, 3/4 and all of the items


def track(items: Sequence[T], task: str, stream=None) -> Iterator[T]:
    """Yields ``items``, showing the progress of ``task``."""
    stream = stream or sys.stdout
    if stream.isatty():
        yield from track_iter_progress(list(items), file=stream)
        return
    total, start = len(items), time.perf_counter()
    marks = {total * k // STEPS for k in range(STEPS + 1)}
    for done, item in enumerate(items):
        if done in marks:
            print(f'{task}: {done}/{total} ({time.perf_counter() - start:.0f} s)', file=stream)
            stream.flush()
        yield item
    print(f'{task}: {total}/{total} ({time.perf_counter() - start:.0f} s)', file=stream)
    stream.flush()
