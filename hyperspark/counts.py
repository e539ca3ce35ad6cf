"""What a ``SparkTrials`` answers after ``fmin``: the counts, under hyperopt's names (and
``status_counts()``, the finer split by ``TrialStatus``), the Pareto front, and what ``fmin``
returns."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

import numpy as np
from hyperopt import base
from hyperopt.exceptions import AllTrialsFailed
from hyperopt.fmin import space_eval

from hyperspark import hyperopt_internals as internals
from hyperspark import objectives
from hyperspark.errors import AllTrialsFailedError
from hyperspark.record import TrialStatus, classify

logger = logging.getLogger("hyperspark")


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (``float``, ``int``); anything else as is."""
    return value.item() if isinstance(value, np.generic) else value


class TrialCounts:
    """Mixed into ``SparkTrials`` (a ``hyperopt.Trials``): every count reads the documents."""

    @property
    def fmin_cancelled_reason(self) -> Optional[str]:
        """Why the last ``fmin`` ended before ``max_evals`` (None when it did not)."""
        return self._fmin_cancelled_reason

    def count_successful_trials(self) -> int:
        """Trials whose objective returned a result with status ``ok`` (pruned ones apart)."""
        return sum(1 for doc in internals.all_docs(self) if doc["state"] == base.JOB_STATE_DONE
                   and doc["result"].get("status") == base.STATUS_OK
                   and not doc["result"].get("pruned"))

    def count_pruned_trials(self) -> int:
        """Trials the pruner stopped (done, with their last reported loss)."""
        return sum(1 for doc in internals.all_docs(self) if doc["state"] == base.JOB_STATE_DONE
                   and doc["result"].get("pruned"))

    def count_failed_trials(self) -> int:
        """Trials that raised, returned an invalid result, or ran out of attempts
        (``TrialStatus.ERROR``), as hyperopt counts them. A trial whose objective returned
        ``{"status": "fail"}`` is not among them, though the bar, the summary and MLflow's
        ``failed_trials_count`` count it failed: see ``status_counts()``."""
        return self.count_by_state_unsynced(base.JOB_STATE_ERROR)

    def status_counts(self) -> Dict[str, int]:
        """Finished trials by ``TrialStatus`` value: ok, pruned, failed (returned status
        ``fail``), error (raised), timed_out, cancelled; zeros included.

        >>> trials.status_counts()  # doctest: +SKIP
        {'ok': 18, 'pruned': 0, 'failed': 1, 'error': 1, 'timed_out': 0, 'cancelled': 0}
        """
        counts = {status.value: 0 for status in TrialStatus if status.finished}
        for doc in internals.all_docs(self):
            status = classify(doc)
            if status.finished:
                counts[status.value] += 1
        return counts

    def count_cancelled_trials(self) -> int:
        return self.count_by_state_unsynced(base.JOB_STATE_CANCEL)

    def count_total_trials(self) -> int:
        """Every finished trial, failed and cancelled ones included: what ``fmin``'s
        ``max_evals`` counts (``len(trials)``, hyperopt's, leaves out errors and cancels).

        >>> more = fmin(objective, space, max_evals=trials.count_total_trials() + 100,
        ...             trials=trials)  # doctest: +SKIP
        """
        return self.count_by_state_unsynced([base.JOB_STATE_DONE, base.JOB_STATE_ERROR,
                                             base.JOB_STATE_CANCEL])

    def pareto_front(self) -> List[Dict[str, Any]]:
        """The trials on the Pareto front of the search's losses, as trial documents (what
        ``best_trial`` returns), ordered by the first loss: the feasible trials (every
        constraint at most 0) that no other feasible trial dominates. Where no trial is
        feasible, those with the smallest total violation, with a warning saying so. A search
        with one loss and no constraint has the trials of its best loss as its front.

        >>> for doc in trials.pareto_front():  # doctest: +SKIP
        ...     print(doc["tid"], doc["result"]["losses"])
        """
        docs = [d for d in internals.all_docs(self) if d["state"] == base.JOB_STATE_DONE]
        front, feasible = objectives.pareto_front(docs)
        if front and not feasible:
            logger.warning("no trial met every constraint: the front holds the %d trial(s) "
                           "with the smallest total violation", len(front))
        return front

    def _answer(self, space: Any, return_argmin: bool) -> Any:
        """What fmin returns, as hyperopt's SparkTrials would: with no successful trial,
        ``return_argmin=False`` returns None when no trial is left that hyperopt counts (every
        one failed or was cancelled), and everything else raises, with the failures shown."""
        if any(doc["state"] == base.JOB_STATE_DONE and doc["result"].get("status") ==
               base.STATUS_OK for doc in internals.all_docs(self)):
            # Python numbers, whether the trial came from an algorithm (numpy scalars) or
            # from MLflow (a continued search): the same types either way
            argmin = {label: _plain(value) for label, value in self.argmin.items()}
            return argmin if return_argmin else space_eval(space, argmin)
        self.refresh()
        if not return_argmin and len(self.trials) == 0:
            logger.warning("no trial succeeded (%d finished); fmin returns None, as hyperopt "
                           "does with return_argmin=False", self.count_total_trials())
            return None
        failed = [d for d in internals.all_docs(self) if d["state"] == base.JOB_STATE_ERROR
                  or (d["state"] == base.JOB_STATE_DONE
                      and d["result"].get("status") != base.STATUS_OK)]
        total = self.count_total_trials()
        if failed:
            raise AllTrialsFailedError(failed, total)
        raise AllTrialsFailed(f"no trial succeeded ({total} finished; stopped: "
                              f"{self._fmin_cancelled_reason or 'max_evals reached'})")
