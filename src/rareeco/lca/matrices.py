"""The matrices of the computational structure of LCA, built as separate steps (DESIGN.md style 6).

=====  ==================================  =========================================================
name   shape                               entries
=====  ==================================  =========================================================
A      processes × processes               technosphere: production on the diagonal (> 0),
                                           inputs negative, ``A[supplier, consumer]``
B      flows × processes                   biosphere: emissions (> 0) and resources (< 0) per run
C      flows × flows (diagonal)            characterisation factors [method unit per flow unit]
f      processes                           final demand [reference unit of each product]
=====  ==================================  =========================================================

Exchanges are kept as coordinate arrays (:class:`ExchangeArrays`: row, column, amount and the
parameters of each amount's distribution); a :class:`SparsePattern` maps them onto the CSC storage
of a matrix once, so that new values (a Monte Carlo draw) refill the same pattern without
rebuilding it.  Two exchanges at the same position are added.

References
----------
Heijungs, R. & Suh, S. (2002). *The Computational Structure of Life Cycle Assessment*, ch. 2–3
(technology matrix A, intervention matrix B, characterisation matrix Q = C here).
doi:10.1007/978-94-015-9900-9.
Mutel, C. (2017). Brightway: an open source framework for LCA. JOSS 2(12), 236 — bw2calc builds
the same ``technosphere_matrix``, ``biosphere_matrix`` and diagonal ``characterization_matrix``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from rareeco.lca.errors import LCAError, UnknownReferenceError
from rareeco.lca.system import DISTRIBUTIONS, ProductSystem, Uncertainty

# Distribution codes of the arrays (0: no uncertainty); the order of DISTRIBUTIONS, from 1.
NO_UNCERTAINTY = 0
LOGNORMAL, NORMAL, TRIANGULAR, UNIFORM = 1, 2, 3, 4
DISTRIBUTION_CODES: Mapping[str, int] = {name: i + 1 for i, name in enumerate(DISTRIBUTIONS)}

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class IndexMap:
    """Ids ↔ matrix indices (process id ↔ column of A and B, flow id ↔ row of B)."""

    ids: tuple[str, ...]
    _pos: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", tuple(self.ids))
        pos = {x: i for i, x in enumerate(self.ids)}
        if len(pos) != len(self.ids):
            raise LCAError("an index map has a repeated id", fix="give each process and flow its own id")
        object.__setattr__(self, "_pos", pos)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, key: object) -> bool:
        return key in self._pos

    def index(self, key: str) -> int:
        try:
            return self._pos[key]
        except KeyError:
            raise UnknownReferenceError(f"{key!r} is not in the system",
                                        fix="use the id of a process (for a demand) or a flow") from None

    def indices(self, keys: Iterable[str]) -> IntArray:
        return np.fromiter((self.index(k) for k in keys), dtype=np.int64)


@dataclass(frozen=True, eq=False)
class ExchangeArrays:
    """Exchanges as coordinates: ``amounts[k]`` at ``(rows[k], cols[k])`` with its distribution.

    ``distribution[k]`` is 0 (none) or a code of :data:`DISTRIBUTION_CODES`; ``scale[k]`` is the
    lognormal ``sigma`` [-] or the normal standard deviation [unit of the amount]; ``minimum`` and
    ``maximum`` bound the triangular and uniform distributions.  Signs are those of the matrix
    entries (inputs in A are negative, so are their bounds).
    """

    rows: IntArray
    cols: IntArray
    amounts: FloatArray
    distribution: NDArray[np.int8]
    scale: FloatArray
    minimum: FloatArray
    maximum: FloatArray

    def __post_init__(self) -> None:
        n = len(self.amounts)
        for name in ("rows", "cols", "distribution", "scale", "minimum", "maximum"):
            if len(getattr(self, name)) != n:
                raise LCAError(f"exchange arrays differ in length ({name})", fix="give one value per exchange")

    @classmethod
    def certain(cls, rows: Sequence[int] | IntArray, cols: Sequence[int] | IntArray,
                amounts: Sequence[float] | FloatArray) -> ExchangeArrays:
        """Exchanges without uncertainty."""
        a = np.asarray(amounts, dtype=np.float64)
        nan = np.full(a.shape, np.nan)
        return cls(np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64), a,
                   np.zeros(a.shape, dtype=np.int8), nan, nan.copy(), nan.copy())

    def __len__(self) -> int:
        return len(self.amounts)

    @property
    def uncertain(self) -> NDArray[np.bool_]:
        return self.distribution != NO_UNCERTAINTY

    def take(self, mask: NDArray[np.bool_] | IntArray) -> ExchangeArrays:
        return ExchangeArrays(self.rows[mask], self.cols[mask], self.amounts[mask], self.distribution[mask],
                              self.scale[mask], self.minimum[mask], self.maximum[mask])

    @staticmethod
    def concatenate(parts: Sequence[ExchangeArrays]) -> ExchangeArrays:
        return ExchangeArrays(*(np.concatenate([getattr(p, f) for p in parts])
                                for f in ("rows", "cols", "amounts", "distribution", "scale", "minimum", "maximum")))


def _arrays(rows: list[int], cols: list[int], amounts: list[float],
            uncertainties: list[Uncertainty | None], sign: float) -> ExchangeArrays:
    m = len(amounts)
    dist = np.zeros(m, dtype=np.int8)
    scale, lo, hi = np.full(m, np.nan), np.full(m, np.nan), np.full(m, np.nan)
    for k, u in enumerate(uncertainties):
        if u is None:
            continue
        dist[k] = DISTRIBUTION_CODES[u.distribution]
        if u.distribution == "lognormal":
            scale[k] = u.sigma
        elif u.distribution == "normal":
            scale[k] = u.std
        else:
            a, b = sign * float(u.minimum or 0.0), sign * float(u.maximum or 0.0)
            lo[k], hi[k] = min(a, b), max(a, b)
    return ExchangeArrays(np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64),
                          sign * np.asarray(amounts, dtype=np.float64), dist, scale, lo, hi)


def technosphere_arrays(system: ProductSystem) -> tuple[ExchangeArrays, IndexMap]:
    """Entries of A: the production of each process on the diagonal, then each input negated.

    Notes
    -----
    :math:`A_{jj} = ` production of process *j*; :math:`A_{ij} = -a_{ij}` for an input of
    :math:`a_{ij}` units of product *i* per run of *j* (Heijungs & Suh 2002, eq. 2.2).  An input of
    a process's own product (a loop onto itself, e.g. grid losses) lowers its diagonal.
    """
    processes = IndexMap(tuple(p.id for p in system.processes))
    n = len(processes)
    diag = np.arange(n, dtype=np.int64)
    production = ExchangeArrays.certain(diag, diag, [p.production_amount for p in system.processes])
    x = system.technosphere
    inputs = _arrays([processes.index(e.supplier) for e in x], [processes.index(e.consumer) for e in x],
                     [e.amount for e in x], [e.uncertainty for e in x], sign=-1.0)
    return ExchangeArrays.concatenate([production, inputs]), processes


def biosphere_arrays(system: ProductSystem, processes: IndexMap) -> tuple[ExchangeArrays, IndexMap]:
    """Entries of B: ``B[flow, process]`` = amount of the flow per run of the process (Heijungs & Suh 2002, eq. 2.3)."""
    flows = IndexMap(tuple(f.id for f in system.flows))
    x = system.biosphere
    arrays = _arrays([flows.index(e.flow) for e in x], [processes.index(e.process) for e in x],
                     [e.amount for e in x], [e.uncertainty for e in x], sign=1.0)
    return arrays, flows


def characterisation_vector(factors: Mapping[str, float], flows: IndexMap) -> FloatArray:
    """The diagonal of C: the factor of each flow of ``flows`` [method unit per flow unit], 0 where none is given.

    Factors of flows the system does not have are ignored (a method covers more flows than any one system).
    """
    c = np.zeros(len(flows))
    for flow_id, cf in factors.items():
        if flow_id in flows:
            c[flows.index(flow_id)] = float(cf)
    return c


@dataclass(frozen=True, eq=False)
class SparsePattern:
    """The CSC structure of a matrix and where each exchange's value lands in ``data``.

    Built once from the coordinates; :meth:`matrix` fills it with any values (duplicates added)
    in O(exchanges), so a Monte Carlo iteration never rebuilds the structure.
    """

    shape: tuple[int, int]
    indptr: NDArray[np.int32]
    indices: NDArray[np.int32]
    positions: IntArray

    @classmethod
    def from_coordinates(cls, rows: IntArray, cols: IntArray, shape: tuple[int, int]) -> SparsePattern:
        n_rows, n_cols = shape
        if len(rows) and (rows.min() < 0 or rows.max() >= n_rows or cols.min() < 0 or cols.max() >= n_cols):
            raise LCAError(f"an exchange lies outside the {n_rows} × {n_cols} matrix", fix="check the indices")
        key = cols * max(n_rows, 1) + rows
        unique, positions = np.unique(key, return_inverse=True)
        u_cols, u_rows = np.divmod(unique, max(n_rows, 1))
        indptr = np.zeros(n_cols + 1, dtype=np.int64)
        np.cumsum(np.bincount(u_cols, minlength=n_cols), out=indptr[1:])
        idx_dtype = np.int32 if max(len(unique), n_rows) < 2**31 else np.int64
        return cls(shape, indptr.astype(idx_dtype), u_rows.astype(idx_dtype), positions.reshape(-1).astype(np.int64))

    @property
    def nnz(self) -> int:
        return len(self.indices)

    def data(self, values: FloatArray) -> FloatArray:
        """The ``data`` array of the matrix holding ``values`` (one per exchange)."""
        return np.bincount(self.positions, weights=values, minlength=self.nnz).astype(np.float64)

    def matrix(self, values: FloatArray) -> sp.csc_matrix:
        return sp.csc_matrix((self.data(values), self.indices, self.indptr), shape=self.shape)


def technosphere_matrix(arrays: ExchangeArrays, n_processes: int) -> sp.csc_matrix:
    """A (CSC) from its entries; square, n_processes × n_processes."""
    return SparsePattern.from_coordinates(arrays.rows, arrays.cols, (n_processes, n_processes)).matrix(arrays.amounts)


def biosphere_matrix(arrays: ExchangeArrays, n_flows: int, n_processes: int) -> sp.csc_matrix:
    """B (CSC) from its entries; n_flows × n_processes."""
    return SparsePattern.from_coordinates(arrays.rows, arrays.cols, (n_flows, n_processes)).matrix(arrays.amounts)


def characterisation_matrix(c: FloatArray) -> sp.csr_matrix:
    """C, the diagonal matrix of characterisation factors (Heijungs & Suh 2002, §2.4: h = C B s)."""
    return sp.diags(np.asarray(c, dtype=np.float64), format="csr")


@dataclass(frozen=True, eq=False)
class MatrixData:
    """Everything the solver needs: the entries of A and B, the diagonal of C, and the index maps.

    Build it from a :class:`~rareeco.lca.system.ProductSystem` with :func:`matrix_data`, or directly
    from arrays (a database export, a benchmark).  ``process_names`` and ``process_units`` label
    results; they default to the ids and to ``""``.
    """

    technosphere: ExchangeArrays
    biosphere: ExchangeArrays
    characterisation: FloatArray
    processes: IndexMap
    flows: IndexMap
    unit: str = ""
    method: str = ""
    process_names: tuple[str, ...] = ()
    process_units: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n, m = len(self.processes), len(self.flows)
        if len(self.characterisation) != m:
            raise LCAError(f"{len(self.characterisation)} characterisation factors for {m} flows",
                           fix="give one factor per flow (0 where none)")
        if not self.process_names:
            object.__setattr__(self, "process_names", self.processes.ids)
        if not self.process_units:
            object.__setattr__(self, "process_units", ("",) * n)

    def technosphere_matrix(self) -> sp.csc_matrix:
        return technosphere_matrix(self.technosphere, len(self.processes))

    def biosphere_matrix(self) -> sp.csc_matrix:
        return biosphere_matrix(self.biosphere, len(self.flows), len(self.processes))

    def characterisation_matrix(self) -> sp.csr_matrix:
        return characterisation_matrix(self.characterisation)


def matrix_data(system: ProductSystem, method: str) -> MatrixData:
    """The matrix data of ``system`` characterised with its method ``method``."""
    m = system.method(method)
    tech, processes = technosphere_arrays(system)
    bio, flows = biosphere_arrays(system, processes)
    return MatrixData(tech, bio, characterisation_vector(m.factors, flows), processes, flows, unit=m.unit,
                      method=m.id, process_names=tuple(p.name for p in system.processes),
                      process_units=tuple(p.unit for p in system.processes))
