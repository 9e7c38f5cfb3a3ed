"""Ray backend: cells as tasks on Ray actors (one scorer per actor), rows streamed to the driver.

The driver alone writes the store. A worker process (or node) that dies is restarted by Ray and
its cell retried, up to `RESTARTS` times; a cell whose worker dies more often is left unscored for
the next run of the same command (which resumes), and the sweep goes on with a fresh worker.
"""

from __future__ import annotations

import logging
import os

from harness.errors import InputError

log = logging.getLogger(__name__)
RESTARTS = 3


def _ray():
    try:
        import ray
    except ImportError:
        raise InputError(
            "--backend ray needs the `ray` package: pip install 'tenas-harness[ray]'."
        ) from None
    return ray


def run(spec, tasks, options):
    """Yield (cell, results) as Ray actors finish them; at most two tasks in flight per actor."""
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        kwargs = dict(include_dashboard=False, log_to_driver=False)
        address = options.address or os.environ.get("RAY_ADDRESS")  # an existing cluster
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=options.workers * options.cpus_per_task, **kwargs)
    try:
        Actor = ray.remote(
            num_cpus=options.cpus_per_task,
            num_gpus=options.gpus_per_task,
            max_restarts=RESTARTS,
            max_task_retries=RESTARTS,
        )(_ScorerActor)

        def new_actor():
            return Actor.remote(spec, options.threads or options.cpus_per_task)

        actors = [new_actor() for _ in range(options.workers)]
        pending, queue = {}, list(tasks)  # object ref -> (actor, cell)
        for actor in actors * 2:
            if queue:
                task = queue.pop(0)
                pending[actor.score.remote(*task)] = (actor, task[0])
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            actor, cell = pending.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except ray.exceptions.RayActorError as err:
                log.warning(
                    "cell %d left for the next run: its Ray worker died more than %d times (%s)",
                    cell,
                    RESTARTS,
                    str(err).splitlines()[0],
                )
                result, actor = None, new_actor()
            if queue:
                task = queue.pop(0)
                pending[actor.score.remote(*task)] = (actor, task[0])
            if result is not None:
                yield result
    finally:
        if started_here:
            ray.shutdown()


class _ScorerActor:
    def __init__(self, spec, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.scorer = spec.scorer()

    def score(self, cell, todo):
        return cell, self.scorer.score_index(cell, todo)
