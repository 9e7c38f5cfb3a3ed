"""Ray backend: cells as tasks on Ray actors (one scorer per actor), rows streamed to the driver."""

from __future__ import annotations

import logging

from harness.errors import InputError

log = logging.getLogger(__name__)


def _ray():
    try:
        import ray
    except ImportError:
        raise InputError("--backend ray needs the `ray` package: pip install 'tenas-harness[ray]'.") from None
    return ray


def run(spec, tasks, options):
    """Yield (cell, results) as Ray actors finish them; at most two tasks in flight per actor."""
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        kwargs = dict(include_dashboard=False, log_to_driver=False)
        if options.address:
            ray.init(address=options.address, **kwargs)
        else:
            ray.init(num_cpus=options.workers * options.cpus_per_task, **kwargs)
    try:
        Actor = ray.remote(num_cpus=options.cpus_per_task, num_gpus=options.gpus_per_task)(_ScorerActor)
        actors = [Actor.remote(spec, options.threads or options.cpus_per_task) for _ in range(options.workers)]
        pending, queue = {}, list(tasks)
        for actor in actors * 2:
            if queue:
                pending[actor.score.remote(*queue.pop(0))] = actor
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            actor = pending.pop(ready[0])
            if queue:
                pending[actor.score.remote(*queue.pop(0))] = actor
            yield ray.get(ready[0])
    finally:
        if started_here:
            ray.shutdown()


class _ScorerActor:
    def __init__(self, spec, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.scorer = spec.scorer()

    def score(self, cell, todo):
        from harness.spaces.nb201 import Nb201Arch

        return cell, self.scorer.score(Nb201Arch.from_index(cell), todo)
