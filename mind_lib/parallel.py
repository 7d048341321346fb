"""Run independent jobs (trainings, evaluations) a few at a time, each in its own process.

Tiny students train and decode faster as one single-threaded process per core than as one process
on all cores, so stages that run many of them use ``run_jobs`` with ``workers`` = cores.
"""
from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm


def run_jobs(fn: Callable[[dict], Any], jobs: Sequence[dict], workers: int, desc: str, progress: bool = True) -> list:
    """``[fn(job) for job in jobs]``, ``workers`` at a time (1 = in this process); results in job order.

    Workers are spawned, not forked: a fork would inherit the parent's torch thread pools and, in a
    notebook, the kernel's state. ``fn`` must be a module-level function (picklable).
    """
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress, unit="job")
    results = []
    if workers == 1:
        for job in jobs:
            results.append(fn(job))
            bar.update(1)
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            for result in pool.map(fn, jobs):
                results.append(result)
                bar.update(1)
    bar.close()
    return results
