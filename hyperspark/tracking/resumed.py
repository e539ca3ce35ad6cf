"""What the parent run of a resumed search already holds: which child run is whose.

A search resumed from a checkpoint goes on in the parent run it had. Its child runs are read
back and sorted out (``adopt_children``):

- a trial the checkpoint recorded as finished keeps its run; if the crash came before its end
  was logged, the run is listed to be finished now;
- a trial the checkpoint recorded as started keeps its run (it runs again in it);
- a run of a trial the checkpoint never saw (started just before the driver died) is deleted:
  that trial does not exist for the search;
- a finished trial whose run was lost (a spare run not yet named) is listed to get a new run
  with its whole record.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Collection, Dict, List, Tuple

logger = logging.getLogger("hyperspark")


@dataclasses.dataclass
class AdoptedRuns:
    runs: Dict[int, str] = dataclasses.field(default_factory=dict)
    """tid -> its child run."""
    unfinished: List[Tuple[Dict[str, Any], str]] = dataclasses.field(default_factory=list)
    """(finished trial's document, its run whose end was not logged)."""
    runless: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
    """Finished trials whose run the crash lost."""


def adopt_children(client: Any, experiment_id: str, parent_run_id: str,
                   finished: Dict[int, Dict[str, Any]], started: Collection[int]) -> AdoptedRuns:
    """Sort out the child runs of ``parent_run_id`` for the checkpoint's ``finished`` trials
    (tid -> document) and ``started`` tids; delete the orphans."""
    adopted = AdoptedRuns()
    orphans = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'",
            max_results=1000, page_token=token, order_by=["attributes.start_time ASC"])
        for run in page:
            tid = int(run.data.tags.get("trial_id", -1))
            if tid in finished and tid not in adopted.runs:
                adopted.runs[tid] = run.info.run_id
                if run.info.status == "RUNNING" or "trial_status" not in run.data.tags:
                    # its end was not logged before the crash (the worker may have ended the
                    # run FINISHED already, but the result is hyperspark's to write)
                    adopted.unfinished.append((finished[tid], run.info.run_id))
            elif tid in started and tid not in adopted.runs:
                adopted.runs[tid] = run.info.run_id
            else:
                orphans.append(run.info.run_id)
        token = page.token
        if not token:
            break
    adopted.runless = [doc for tid, doc in sorted(finished.items()) if tid not in adopted.runs]
    for run_id in orphans:
        client.delete_run(run_id)
    if orphans:
        logger.info("MLflow: deleted %d child run(s) of trials the checkpoint did not record",
                    len(orphans))
    return adopted
