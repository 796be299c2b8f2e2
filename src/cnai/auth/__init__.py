"""Who is calling and what they may do: roles, principals, tokens, the audit log, Host/Origin checks.

The shared vocabulary lives in :mod:`cnai.auth.principal` (``Role``, ``Principal``,
``principal_of``, ``require``) so that service packages (deploy, monitoring) can ask for a role
without importing the middleware.
"""

from cnai.auth.principal import ANONYMOUS_ADMIN, Principal, Role, principal_of, require

__all__ = ["ANONYMOUS_ADMIN", "Principal", "Role", "principal_of", "require"]
