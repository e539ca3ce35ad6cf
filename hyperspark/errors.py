"""Exceptions hyperspark raises to its users."""
from __future__ import annotations

from typing import Any, Dict, List

from hyperopt.exceptions import AllTrialsFailed


class AllTrialsFailedError(AllTrialsFailed):
    """No trial of the search succeeded; the message shows the first failures' tracebacks.

    A subclass of ``hyperopt.exceptions.AllTrialsFailed``, so code that catches hyperopt's error
    keeps working.
    """

    def __init__(self, failed_docs: List[Dict[str, Any]], total: int, shown: int = 3) -> None:
        self.failed_docs = failed_docs
        head = (f"all {total} trial(s) failed" if len(failed_docs) == total else
                f"no trial succeeded: {len(failed_docs)} of {total} failed, the rest cancelled")
        parts = [f"{head}; the first {min(shown, len(failed_docs))} failure(s):"]
        for doc in failed_docs[:shown]:
            info = doc["misc"].get("hyperspark", {})
            message = doc["result"].get("error", "")
            detail = info.get("traceback", "")
            if message and message not in detail:
                detail = f"{message}\n{detail}"
            parts.append(f"--- trial {doc['tid']} (attempts: {info.get('attempts', '?')}, "
                         f"{info.get('error_kind', 'cancelled')}) ---\n{detail}".rstrip())
        super().__init__("\n".join(parts))


class ObjectiveNotSerializable(TypeError):
    """The objective (or something it refers to) cannot be pickled to send to the workers."""
