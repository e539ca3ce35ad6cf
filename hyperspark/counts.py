"""The counts a ``SparkTrials`` answers after ``fmin``, under hyperopt's names (and
``status_counts()``, the finer split by ``TrialStatus``)."""
from __future__ import annotations

from typing import Dict, Optional

from hyperopt import base

from hyperspark import hyperopt_internals as internals
from hyperspark.record import TrialStatus, classify


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
