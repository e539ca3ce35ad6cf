"""What the objective returned, as a hyperopt result, or why it cannot be one."""
from __future__ import annotations

import math
import numbers
from typing import Any, Dict, Mapping

from hyperopt.base import STATUS_FAIL, STATUS_OK, STATUS_STRINGS

from hyperspark.objectives import CONSTRAINTS, LOSSES, named_values

FINISHED = f"{STATUS_OK!r} or {STATUS_FAIL!r}"
"""The statuses a finished trial should have (hyperopt accepts its others too: 'new',
'running', 'suspended', which say nothing of a trial that has run)."""

class InvalidResult(ValueError):
    """The objective returned something hyperopt cannot record."""


def normalize_result(value: Any) -> Dict[str, Any]:
    """Turn what the objective returned into a hyperopt result dict, or raise InvalidResult.

    >>> normalize_result(0.5)
    {'loss': 0.5, 'status': 'ok'}
    >>> normalize_result({"status": "ok", "losses": {"error": 0.2, "size": 3}})["loss"]
    0.2
    """
    if isinstance(value, numbers.Real):
        loss = float(value)
        _check_finite(loss)
        return {"loss": loss, "status": STATUS_OK}
    if not isinstance(value, Mapping):
        raise InvalidResult(f"the objective must return a number or a dict with 'status' "
                            f"({FINISHED}; and 'loss' when it is 'ok'), got "
                            f"{type(value).__name__}: {_short_repr(value)}")
    result = dict(value)
    if "status" not in result:
        raise InvalidResult(f"the result dict has no 'status' key ({FINISHED}); keys: "
                            f"{sorted(map(str, result))}")
    if result["status"] not in STATUS_STRINGS:
        raise InvalidResult(f"result status {_short_repr(result['status'])} is not {FINISHED}")
    if result["status"] == STATUS_OK:
        _check_named(result)
        if "loss" not in result:
            raise InvalidResult(f"a result with status 'ok' must have a 'loss'; keys: "
                                f"{sorted(map(str, result))}")
        try:
            result["loss"] = float(result["loss"])
        except (TypeError, ValueError):
            raise InvalidResult(f"loss must be a number, got {_short_repr(result['loss'])}") \
                from None
        _check_finite(result["loss"])
    return result


def _check_named(result: Dict[str, Any]) -> None:
    """Several losses and constraints (``hyperspark.objectives``): each a finite number; the
    first loss is ``"loss"`` where the result has none."""
    for key in (LOSSES, CONSTRAINTS):
        if key in result:
            try:
                result[key] = named_values(result[key], key)
            except ValueError as error:
                raise InvalidResult(str(error)) from None
    if LOSSES in result and "loss" not in result:
        result["loss"] = next(iter(result[LOSSES].values()))


def _check_finite(loss: float) -> None:
    if not math.isfinite(loss):
        raise InvalidResult(f"loss must be a finite number, got {loss}")


def _short_repr(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
