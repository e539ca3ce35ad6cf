"""Defaults, environment switches and argument checks shared by the whole package.

Every public argument is validated here, so that a bad value fails at once with a message that
names the argument and what it accepts.
"""
from __future__ import annotations

import numbers
import os
from typing import Any, Iterable, Mapping, Optional, Tuple, Type

from hyperspark.errors import InvalidArgument, InvalidArgumentType

CHANNEL_HOST_CONF = "spark.hyperspark.channel.host"
"""Spark conf: the address executors use to reach this process (the channel of actors and of
the jobs backend's start signal). Default: spark.driver.host; on Spark Connect, the address
this machine uses to reach the server. ``spark.hyperspark.actors.host`` is its old name."""
LEGACY_CHANNEL_HOST_CONF = "spark.hyperspark.actors.host"

DEFAULT_MAX_RETRIES = 2
RETRY_BACKOFF_S = 0.2
"""First wait between two attempts of one trial; doubles at each retry."""
RETRY_BACKOFF_MAX_S = 5.0
CANCEL_GRACE_S = 10.0
"""How long the loop waits for backends to confirm cancellations before it gives up on them."""
ERROR_REPORT_COUNT = 3
"""How many failures' tracebacks the all-trials-failed error shows."""


def env_flag(name: str, default: bool, environ: Optional[Mapping[str, str]] = None) -> bool:
    """Read an on/off environment switch: 0/false/no/off mean off, 1/true/yes/on mean on."""
    raw = (os.environ if environ is None else environ).get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise InvalidArgument(f"environment variable {name}={raw!r}: expected one of 0/1/true/false")


def _is_real_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_positive_int(name: str, value: Any, *, allow_none: bool = False) -> Optional[int]:
    """Return ``value`` as an int, or raise naming ``name``. Booleans are rejected."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgumentType(f"{name} must be a positive integer{' or None' if allow_none else ''}, "
                        f"got {value!r} ({type(value).__name__})")
    if value < 1:
        raise InvalidArgument(f"{name} must be a positive integer (>= 1), got {value!r}")
    return int(value)


def check_positive_number(name: str, value: Any, *, allow_none: bool = True) -> Optional[float]:
    """Return ``value`` as a float > 0 (seconds), or raise naming ``name``. Booleans are rejected."""
    if value is None and allow_none:
        return None
    if not _is_real_number(value):
        raise InvalidArgumentType(f"{name} must be a positive number of seconds or None, "
                        f"got {value!r} ({type(value).__name__})")
    if not value > 0 or value != value or value == float("inf"):
        raise InvalidArgument(f"{name} must be a positive, finite number of seconds, got {value!r}")
    return float(value)


def check_non_negative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgumentType(f"{name} must be a non-negative integer, got {value!r} "
                        f"({type(value).__name__})")
    if value < 0:
        raise InvalidArgument(f"{name} must be a non-negative integer (>= 0), got {value!r}")
    return int(value)


def check_loss_threshold(value: Any) -> Optional[float]:
    if value is None:
        return None
    if not _is_real_number(value) or value != value:
        raise InvalidArgumentType(f"loss_threshold must be a number or None, got {value!r}")
    return float(value)


def check_retry_on(value: Any) -> Tuple[Type[BaseException], ...]:
    """``retry_on`` is an exception class or an iterable of exception classes."""
    if isinstance(value, type):
        value = (value,)
    if not isinstance(value, Iterable) or isinstance(value, (str, bytes)):
        raise InvalidArgumentType(f"retry_on must be an exception class or a tuple of exception classes, "
                        f"got {value!r}")
    types = tuple(value)
    for item in types:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise InvalidArgumentType(f"retry_on must hold exception classes only, got {item!r}")
    return types


def check_max_evals(value: Any) -> int:
    if value is None:
        raise InvalidArgument("max_evals is required: the number of trials to run (a positive integer)")
    return check_positive_int("max_evals", value)


def check_max_queue_len(value: Any) -> int:
    return check_positive_int("max_queue_len", value)


def check_resource_profile(value: Any, *, sized: bool = False) -> Any:
    """``resource_profile`` is None or a ``pyspark.resource.ResourceProfile``; with ``sized``,
    also a callable of a trial's parameters that returns one."""
    if value is None:
        return None
    from pyspark.resource import ResourceProfile

    if sized and callable(value) and not isinstance(value, ResourceProfile):
        return value
    if not isinstance(value, ResourceProfile):
        raise InvalidArgumentType(
            f"resource_profile must be a pyspark.resource.ResourceProfile (built with "
            f"ResourceProfileBuilder().require(TaskResourceRequests()...).build)"
            f"{', a callable of the trial parameters returning one' if sized else ''} or "
            f"None, got {value!r} ({type(value).__name__})")
    return value


def check_tasks_per_trial(value: Any) -> Any:
    """``tasks_per_trial`` is a positive integer, or a callable of a trial's parameters that
    returns one."""
    if callable(value):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InvalidArgumentType(f"tasks_per_trial must be a positive integer, or a callable "
                                  f"taking the trial's parameters and returning one, got "
                                  f"{value!r}")
    return int(value)


def stage_level_scheduling_unsupported(master: str) -> Optional[str]:
    """Why ``master`` cannot run tasks with a resource profile, or None when it can."""
    if master == "local" or master.startswith("local["):
        return (f"Spark's stage-level scheduling does not work in local mode (master "
                f"{master!r}); it needs a cluster master: standalone, YARN, Kubernetes or "
                f"local-cluster")
    return None


def conf_flag(runner: Any, key: str) -> Optional[bool]:
    """A boolean Spark conf value: True, False, or None when unset or not a boolean."""
    try:
        value = runner.conf(key, None)
    except Exception:
        return None
    if value is None:
        return None
    return {"true": True, "false": False}.get(str(value).strip().lower())


GANG_SLOTS_WAIT_S = float(os.environ.get("HYPERSPARK_GANG_SLOTS_WAIT_S", "15"))
"""How long a search whose trials need more task slots than the cluster shows waits for
executors to register before it refuses ``tasks_per_trial`` (a session just started)."""


def check_scheduler_pool(value: Any) -> Optional[str]:
    """``scheduler_pool`` is None or the name of a fair-scheduler pool: a non-empty string."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidArgumentType(f"scheduler_pool must be a pool's name (a string) or None, "
                                  f"got {value!r}")
    if not value.strip() or value != value.strip():
        raise InvalidArgument(f"scheduler_pool must be a pool's name, without surrounding "
                              f"spaces, got {value!r}")
    return value
