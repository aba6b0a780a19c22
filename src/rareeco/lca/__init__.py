"""The life-cycle engine: product systems as data, textbook matrices, solve, Monte Carlo, allocation.

``system`` (data) → ``matrices`` (A, B, C) → ``solve`` (LCA: supply, inventory, score, contributions,
supply chain) → ``uncertainty`` (Monte Carlo); ``allocation`` turns multi-output processes into
single-output ones first; ``parameters`` (safe formulas), ``recycling`` (module D) and ``model`` (documents)
build on them.  See docs/lca-engine.md and docs/lca-model.md.
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
from rareeco.lca.parameters import (
    Formula,
    FormulaError,
    Parameter,
    ParameterMonteCarlo,
    Parameters,
    compile_formula,
    resolve_parameters,
)
from rareeco.lca.recycling import ModuleD, SecondaryFlow, module_d
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
    "ExchangeArrays", "Flow", "Formula", "FormulaError", "IndexMap", "LCAError", "MatrixData", "Method", "ModuleD",
    "MonteCarlo", "MonteCarloResult", "MultiOutputProcess", "Parameter", "ParameterMonteCarlo", "Parameters",
    "Process", "ProductSystem", "SecondaryFlow", "SingularSystemError", "SupplyChainNode",
    "TechnosphereExchange", "Uncertainty", "UnknownReferenceError", "allocate", "allocation_factors",
    "compile_formula", "economic_allocation", "factorise", "lci", "mass_allocation", "matrix_data", "module_d",
    "monte_carlo", "physical_allocation", "resolve_parameters", "substitution", "summarise",
]
