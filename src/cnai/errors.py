"""cnai's exception hierarchy. No HTTP here: each API layer maps these once.

CnaiError
├── InvalidArgument      bad input from a caller
│   └── PayloadTooLarge  a request body over its limit
├── NotFound             an id or name that does not exist
├── AlreadyExists        a unique name or key already taken
├── InvalidState         the operation does not fit the resource's state
├── Unauthenticated      missing or wrong credentials
├── PermissionDenied     authenticated, but the caller's role (or the server's policy) does not allow it
└── Unavailable          a dependency is down; retrying may help
"""

from __future__ import annotations


class CnaiError(Exception):
    """Base class; ``code`` is stable and protocol-neutral."""

    code = "INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(CnaiError):
    code = "INVALID_PARAMETER_VALUE"


class PayloadTooLarge(InvalidArgument):
    code = "REQUEST_TOO_LARGE"


class NotFound(CnaiError):
    code = "RESOURCE_DOES_NOT_EXIST"


class AlreadyExists(CnaiError):
    code = "RESOURCE_ALREADY_EXISTS"


class InvalidState(CnaiError):
    code = "INVALID_STATE"


class Unauthenticated(CnaiError):
    code = "UNAUTHENTICATED"


class PermissionDenied(CnaiError):
    code = "PERMISSION_DENIED"


class Unavailable(CnaiError):
    code = "TEMPORARILY_UNAVAILABLE"
