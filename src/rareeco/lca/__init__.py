"""The life-cycle engine: product systems as data, textbook matrices, solve, Monte Carlo, allocation.

``system`` (data) → ``matrices`` (A, B, C) → ``solve`` (LCA: supply, inventory, score, contributions,
supply chain) → ``uncertainty`` (Monte Carlo); ``allocation`` turns multi-output processes into
single-output ones first.  See docs/lca-engine.md.
"""

from rareeco.lca.allocation import (
    Allocation,
    CoProduct,
    DatedPrice,
    MultiOutputProcess,
    allocate,
    allocation_factors,
    economic_allocation,
    mass_allocation,
    physical_allocation,
    substitution,
)
from rareeco.lca.errors import AllocationError, LCAError, SingularSystemError, UnknownReferenceError
from rareeco.lca.matrices import ExchangeArrays, IndexMap, MatrixData, matrix_data
from rareeco.lca.solve import LCA, Contributions, SupplyChainNode, factorise, lci
from rareeco.lca.system import (
    BiosphereExchange,
    Flow,
    Method,
    Process,
    ProductSystem,
    TechnosphereExchange,
    Uncertainty,
)
from rareeco.lca.uncertainty import MonteCarlo, MonteCarloResult, monte_carlo, summarise

__all__ = [
    "LCA", "Allocation", "AllocationError", "BiosphereExchange", "CoProduct", "Contributions", "DatedPrice",
    "ExchangeArrays", "Flow", "IndexMap", "LCAError", "MatrixData", "Method", "MonteCarlo", "MonteCarloResult",
    "MultiOutputProcess", "Process", "ProductSystem", "SingularSystemError", "SupplyChainNode",
    "TechnosphereExchange", "Uncertainty", "UnknownReferenceError", "allocate", "allocation_factors",
    "economic_allocation", "factorise", "lci", "mass_allocation", "matrix_data", "monte_carlo",
    "physical_allocation", "substitution", "summarise",
]
