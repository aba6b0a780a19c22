"""One exception family and structured data-quality findings.

Errors stop an operation; findings describe data.  A finding is *blocking*
(the data cannot be used as it is) or *advisory* (usable, but a person should
look).  Each carries where it was seen and how to fix it (DESIGN.md style 7).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["blocking", "advisory"]


@dataclass(frozen=True)
class Finding:
    """A data-quality observation with the location and the remedy."""

    code: str
    message: str
    severity: Severity = "blocking"
    file: str | None = None
    row: int | None = None
    column: str | None = None
    value: str | None = None
    fix: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def location(self) -> str:
        parts = [p for p in (self.file, f"row {self.row}" if self.row else None,
                             f"column {self.column!r}" if self.column else None) if p]
        return ", ".join(parts)

    def line(self) -> str:
        """One readable line: where, what, how to fix."""
        where = self.location()
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} — {self.fix}" if self.fix else text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RareecoError(Exception):
    """Base of every rareeco error; ``fix`` says what the user can do."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, fix: str | None = None, findings: list[Finding] | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.findings = findings or []

    def line(self) -> str:
        return f"{self.message} — {self.fix}" if self.fix else self.message

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "fix": self.fix,
                "findings": [f.to_dict() for f in self.findings]}


class NotFoundError(RareecoError, LookupError):
    code = "not_found"
    http_status = 404


class ValidationFailed(RareecoError, ValueError):
    """Input data has blocking findings; nothing was stored."""

    code = "validation_failed"
    http_status = 422


class DuplicateImportError(RareecoError, ValueError):
    code = "duplicate_import"
    http_status = 409


class PeriodLockedError(RareecoError, PermissionError):
    code = "period_locked"
    http_status = 409


class FactorNotFoundError(RareecoError, LookupError):
    code = "factor_not_found"
    http_status = 422


class ReferenceDataError(RareecoError, ValueError):
    """A reference-data file is malformed."""

    code = "reference_data_invalid"
    http_status = 500


class UnitError(RareecoError, ValueError):
    code = "unit_error"
    http_status = 422


class ConflictError(RareecoError, ValueError):
    code = "conflict"
    http_status = 409


class ForbiddenError(RareecoError, PermissionError):
    code = "forbidden"
    http_status = 403


class AuthError(RareecoError, PermissionError):
    code = "unauthorized"
    http_status = 401
