"""Errors of the life-cycle engine (DESIGN.md style 7: each names the failure and says how to fix it)."""

from __future__ import annotations

from rareeco.errors import RareecoError


class LCAError(RareecoError, ValueError):
    """A product system, a demand or an allocation is not usable as given."""

    code = "lca_invalid"
    http_status = 422


class UnknownReferenceError(LCAError, LookupError):
    """An exchange, a demand or a factor names a process or flow the system does not have."""

    code = "lca_unknown_reference"


class SingularSystemError(LCAError, ArithmeticError):
    """The technosphere matrix cannot be solved (a product nobody makes, or a loop that produces nothing net)."""

    code = "lca_singular"


class AllocationError(LCAError):
    """Allocation factors or the data behind them (properties, prices) are missing or inconsistent."""

    code = "lca_allocation"
