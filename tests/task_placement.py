"""Scheduler preload for tests/test_groups.py: Dask's own record of where each task ran. Loaded through
`distributed.scheduler.preload`, it adds a SchedulerPlugin to the scheduler a build makes in the test's process;
for every task a worker reports finished it records the task key, the resource restrictions it was submitted
with, and the name and resources of the worker that reported it (not anything the pipeline says about itself)."""
from __future__ import annotations

from distributed.diagnostics.plugin import SchedulerPlugin

RECORDS: list[dict] = []


class Placement(SchedulerPlugin):
    name = "test-task-placement"

    def __init__(self, scheduler):
        self.scheduler = scheduler

    def transition(self, key, start, finish, *args, **kwargs):
        if start == "processing" and finish == "memory":
            ws = self.scheduler.workers.get(kwargs.get("worker"))
            ts = self.scheduler.tasks.get(key)
            RECORDS.append({"key": str(key), "worker": ws.name if ws else None,
                            "worker_resources": dict(ws.resources) if ws else None,
                            "restrictions": dict(ts.resource_restrictions or {}) if ts else None})


def dask_setup(scheduler) -> None:
    scheduler.add_plugin(Placement(scheduler))
