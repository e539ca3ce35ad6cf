"""Which failed MLflow calls are worth trying again, and which say the server's database
connection pool is full."""
from __future__ import annotations

_FINAL_ERRORS = ("INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST",
                 "BAD_REQUEST", "INVALID_STATE", "PERMISSION_DENIED", "UNAUTHENTICATED",
                 "ENDPOINT_NOT_FOUND", "NOT_FOUND")
POOL_FULL_SIGNS = ("QueuePool limit", "too many connections")
_BUSY_SIGNS = ("QueuePool limit", "connection timed out", "database is locked",
               "could not connect to server", "too many connections", "server closed the "
               "connection")
"""Words of a server's answer that say its database was busy, whatever the code it chose
(an ``mlflow server`` answers BAD_REQUEST when its connection pool is exhausted)."""


def is_transient(exc: BaseException) -> bool:
    """True when a failed MLflow call may succeed if tried again later.

    >>> class RestException(Exception):
    ...     error_code = "BAD_REQUEST"
    >>> is_transient(RestException("QueuePool limit of size 5 overflow 10 reached"))
    True
    >>> is_transient(RestException("Invalid value for param"))
    False
    """
    code = getattr(exc, "error_code", None)
    if type(exc).__name__ == "RestException":  # the server answered: only its 5xx-like codes
        if any(sign in str(exc) for sign in _BUSY_SIGNS):
            return True
        return code in ("INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED",
                        "RESOURCE_EXHAUSTED")
    return code not in _FINAL_ERRORS


def pool_is_full(exc: BaseException) -> bool:
    """True when a server's answer says its database connection pool ran out."""
    return any(sign in str(exc) for sign in POOL_FULL_SIGNS)
