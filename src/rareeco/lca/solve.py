"""Solve the inventory problem: factorise A once, solve many demands, never invert.

The chain, as in the textbook (Heijungs & Suh 2002, ch. 2 and 5):

.. math::

    A s = f, \\qquad g = B s, \\qquad h = C g, \\qquad \\text{score} = \\mathbf{1}^\\top h
    = q^\\top s, \\quad q = (\\mathbf{1}^\\top C B)^\\top

``q`` holds the characterised direct emissions of one run of each process, so ``q ⊙ s`` is the
contribution of each process and ``C g`` that of each flow.  The adjoint (transposed) system
:math:`A^\\top \\lambda = q` gives :math:`\\lambda`, the score of one unit of every product at once
(its "cumulative" score), so a score is :math:`\\lambda^\\top f` for any demand — one solve for all
products, the same device as bw2calc's ``FastScoresOnlyMultiLCA(direction="adjoint")``.

**Factorisation.**  Technosphere matrices are nearly triangular: most products are made from
"more upstream" products, and loops (electricity ↔ coal mining ↔ transport) are few.  General
fill-reducing orderings (COLAMD, METIS) ignore this; on such matrices a *topological* order gives an
LU factorisation with far less fill.  :func:`topological_order` finds the strongly connected
components (loops) of the product graph, orders them consumer-first (so the permuted matrix is block
lower triangular, Duff & Reid 1978) and, inside each loop, breaks cycles greedily at the product
with the fewest remaining consumers (Kahn's algorithm with cycle-breaking).  SuperLU then factorises
:math:`P A P^\\top` in that order (``permc_spec="NATURAL"``), keeping diagonal pivots (stable for
M-matrices, which technosphere matrices nearly are; checked after each factorisation, with partial
pivoting as the fallback).  A solver
variant is a subclass overriding :meth:`LCA.factorise` (DESIGN.md style 6); ``solver="colamd"``
gives bw2calc's SuperLU choice (COLAMD on :math:`A^\\top`), ``solver="pardiso"`` uses pypardiso
when it is importable.

References
----------
Heijungs, R. & Suh, S. (2002). *The Computational Structure of Life Cycle Assessment*. Kluwer.
doi:10.1007/978-94-015-9900-9 — ch. 2 (A s = f), §5.2 (contribution analysis), §5.4 (structural
path / supply-chain analysis).
Mutel, C. (2017). Brightway: an open source framework for LCA. JOSS 2(12), 236;
bw2calc ``LCA.lci``/``lcia`` and ``utils.lu_solver``.
Duff, I. S. & Reid, J. K. (1978). An implementation of Tarjan's algorithm for the block
triangularization of a matrix. ACM TOMS 4(2), 137–147. doi:10.1145/355780.355785.
Higham, N. J. (2002). *Accuracy and Stability of Numerical Algorithms*, 2nd ed., SIAM, ch. 9
(LU of M-matrices without pivoting).
Li, X. S. (2005). An overview of SuperLU. ACM TOMS 31(3), 302–325. doi:10.1145/1089014.1089017.
"""

from __future__ import annotations

import heapq
import importlib.util
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from scipy.sparse.csgraph import connected_components

from rareeco.lca.errors import LCAError, SingularSystemError
from rareeco.lca.matrices import FloatArray, IntArray, MatrixData, SparsePattern, matrix_data
from rareeco.lca.system import ProductSystem

Solver = Literal["auto", "superlu", "colamd", "pardiso"]
Demand = Mapping[str, float] | FloatArray
HAS_PYPARDISO = importlib.util.find_spec("pypardiso") is not None
# SuperLU's threshold for keeping the diagonal as pivot (|a_jj| ≥ threshold × largest in its column).
# Technosphere matrices are (nearly) M-matrices — positive diagonal, inputs ≤ 0, productive — for which
# elimination without pivoting is stable whatever the units (row/column scaling keeps an M-matrix an
# M-matrix; Higham 2002, ch. 9), while row swaps destroy the topological structure: with products in
# mixed units (kWh, t, tkm …) a threshold of 0.1 made 90× more fill than this one in our tests.
DIAG_PIVOT_THRESHOLD = 1e-6
# Each factorisation is checked on A·1 = b; a normwise backward error above this falls back to
# partial pivoting (threshold 1).
BACKWARD_ERROR_LIMIT = 1e-12


# --- ordering -----------------------------------------------------------------------------------

def _gather(indptr: IntArray, indices: IntArray, nodes: IntArray) -> IntArray:
    """The concatenated neighbour lists ``indices[indptr[v]:indptr[v+1]]`` of ``nodes``, vectorised."""
    starts, ends = indptr[nodes], indptr[nodes + 1]
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return np.asarray(indices[np.arange(total) + offsets], dtype=np.int64)


def _break_cycles(nodes: IntArray, sub: sp.csr_matrix) -> IntArray:
    """Order the nodes of one loop consumer-first, breaking each cycle at the node with the fewest
    remaining consumers (Kahn's algorithm with greedy cycle-breaking).  ``sub[u, v]`` ≠ 0: u consumes v."""
    indptr, indices = sub.indptr, sub.indices
    indeg = np.bincount(indices, minlength=len(nodes)).tolist()
    heap = [(d, i) for i, d in enumerate(indeg)]
    heapq.heapify(heap)
    done = [False] * len(nodes)
    order: list[int] = []
    while heap:
        d, v = heapq.heappop(heap)
        if done[v] or d != indeg[v]:
            continue
        done[v] = True
        order.append(v)
        for w in indices[indptr[v]:indptr[v + 1]].tolist():
            if not done[w]:
                indeg[w] -= 1
                heapq.heappush(heap, (indeg[w], w))
    return nodes[np.asarray(order, dtype=np.int64)]


def topological_order(A: sp.spmatrix) -> IntArray:
    """A consumer-first order of the processes, so that ``A[p][:, p]`` is (nearly) lower triangular.

    Parameters
    ----------
    A : sparse matrix, n × n
        A technosphere matrix (``A[i, j] ≠ 0``: process *j* uses product *i*).

    Returns
    -------
    p : ndarray of int, a permutation of ``range(n)``

    Notes
    -----
    The strongly connected components of the graph *j → i* (consumer → supplier) are the loops of
    the system; ordered topologically they make :math:`P A P^\\top` block lower triangular (Duff &
    Reid 1978), so an LU factorisation in this order fills in only inside and below the loops.
    Inside a loop the order is Kahn's with greedy cycle-breaking.  O(nnz) apart from the loops.
    """
    n = A.shape[0]
    coo = sp.coo_matrix(A)
    off = coo.row != coo.col
    consumer, supplier = coo.col[off].astype(np.int64), coo.row[off].astype(np.int64)
    graph = sp.csr_matrix((np.ones(len(consumer), dtype=np.int8), (consumer, supplier)), shape=(n, n))
    n_comp, labels = connected_components(graph, directed=True, connection="strong")
    lc, ls = labels[consumer], labels[supplier]
    between = lc != ls
    cond = sp.csr_matrix((np.ones(int(between.sum()), dtype=np.int8), (lc[between], ls[between])),
                         shape=(n_comp, n_comp))
    cond.sum_duplicates()
    c_indptr, c_indices = cond.indptr.astype(np.int64), cond.indices.astype(np.int64)
    indeg = np.bincount(c_indices, minlength=n_comp)
    frontier = np.flatnonzero(indeg == 0)
    rank = np.empty(n_comp, dtype=np.int64)
    placed = 0
    while frontier.size:
        rank[frontier] = np.arange(placed, placed + frontier.size)
        placed += frontier.size
        succ = _gather(c_indptr, c_indices, frontier)
        if succ.size == 0:
            break
        np.subtract.at(indeg, succ, 1)
        succ = np.unique(succ)
        frontier = succ[indeg[succ] == 0]
    if placed != n_comp:  # cannot happen for a condensation (a DAG); guard against a wrong graph
        raise LCAError("the loops of the technosphere could not be ordered", fix="report this as a bug")
    order = np.argsort(rank[labels], kind="stable")
    sizes = np.bincount(labels, minlength=n_comp)
    if sizes.max(initial=0) > 2:
        # consecutive runs of one component in `order`; reorder the members of each large loop
        comp_of = labels[order]
        starts = np.flatnonzero(np.r_[True, comp_of[1:] != comp_of[:-1]])
        ends = np.r_[starts[1:], n]
        for s, e in zip(starts, ends, strict=True):
            if e - s > 2:
                members = order[s:e]
                local = graph[members][:, members].tocsr()
                order[s:e] = _break_cycles(members, local)
    return np.asarray(order, dtype=np.int64)


# --- factorisations -----------------------------------------------------------------------------

class Factorisation(Protocol):
    """A factorised square matrix M: ``solve(b)`` gives M⁻¹b, ``solve(b, trans=True)`` gives M⁻ᵀb.

    ``b`` is a vector (n,) or a matrix (n, k) of right-hand sides (columns).
    """

    def solve(self, b: FloatArray, trans: bool = False) -> FloatArray: ...


def _check_solution(x: FloatArray) -> FloatArray:
    if not np.all(np.isfinite(x)):
        raise SingularSystemError("the technosphere matrix is singular for this demand (non-finite supply)",
                                  fix="check that every product has a producer and that loops produce a net output")
    return x


def _backward_error(m: sp.csc_matrix, lu: sla.SuperLU) -> float:
    """Normwise backward error of solving ``m x = m·1`` with ``lu``: ‖m x − b‖∞ / (‖m‖∞ ‖x‖∞ + ‖b‖∞)."""
    b = np.asarray(m @ np.ones(m.shape[0]))
    x = lu.solve(b)
    if not np.all(np.isfinite(x)):
        return float("inf")
    norm_m = float(abs(m).sum(axis=1).max()) if m.nnz else 0.0
    denom = norm_m * float(np.abs(x).max(initial=0.0)) + float(np.abs(b).max(initial=0.0))
    return float(np.abs(m @ x - b).max(initial=0.0)) / denom if denom > 0 else 0.0


class SuperLUFactorisation:
    """SuperLU of :math:`P A P^\\top` in a topological order ``P`` (:func:`topological_order`).

    Notes
    -----
    :math:`A s = f \\iff (P A P^\\top)(P s) = P f`; the transposed system likewise.  The order and
    the permutation of the CSC data are kept, so :meth:`refactorise` with new values of the same
    pattern (a Monte Carlo draw) repeats only the numerical factorisation.
    """

    def __init__(self, A: sp.spmatrix, order: IntArray | None = None) -> None:
        A = sp.csc_matrix(A)
        A.sum_duplicates()
        A.sort_indices()
        n = A.shape[0]
        if A.shape != (n, n):
            raise LCAError(f"the technosphere matrix is {A.shape[0]} × {A.shape[1]}, not square",
                           fix="each process makes exactly one product: split multi-output processes first")
        self.n = n
        self.pivoted = False
        self.order = topological_order(A) if order is None else np.asarray(order, dtype=np.int64)
        # where each entry of the permuted matrix's data comes from in A.data (pattern reuse)
        marker = sp.csc_matrix((np.arange(1, A.nnz + 1, dtype=np.float64), A.indices, A.indptr), shape=A.shape)
        permuted = marker[self.order][:, self.order].tocsc()
        permuted.sort_indices()
        self._source = (permuted.data - 1).astype(np.int64)
        self._indices, self._indptr = permuted.indices.copy(), permuted.indptr.copy()
        self._a_indptr, self._a_indices = A.indptr.copy(), A.indices.copy()
        self._lu = self._factor(A.data)

    def _factor(self, a_data: FloatArray) -> sla.SuperLU:
        m = sp.csc_matrix((a_data[self._source], self._indices, self._indptr), shape=(self.n, self.n))
        try:
            lu = sla.splu(m, permc_spec="NATURAL", diag_pivot_thresh=DIAG_PIVOT_THRESHOLD,
                          options={"SymmetricMode": True})
            if _backward_error(m, lu) > BACKWARD_ERROR_LIMIT:   # not M-matrix-like enough: pivot for stability
                lu = sla.splu(m, permc_spec="NATURAL", diag_pivot_thresh=1.0)
                self.pivoted = True
            return lu
        except RuntimeError as exc:  # "Factor is exactly singular"
            raise SingularSystemError(f"the technosphere matrix is singular: {exc}",
                                      fix="check that every product has a producer and that loops produce a net "
                                          "output") from exc

    def same_pattern(self, A: sp.csc_matrix) -> bool:
        return (A.shape == (self.n, self.n) and np.array_equal(A.indptr, self._a_indptr)
                and np.array_equal(A.indices, self._a_indices))

    def refactorise(self, a_data: FloatArray) -> SuperLUFactorisation:
        """A factorisation of the matrix with the same pattern as A and CSC data ``a_data``."""
        new = object.__new__(SuperLUFactorisation)
        new.__dict__.update(self.__dict__)
        new.pivoted = False
        new._lu = new._factor(np.asarray(a_data, dtype=np.float64))
        return new

    def solve(self, b: FloatArray, trans: bool = False) -> FloatArray:
        b = np.asarray(b, dtype=np.float64)
        y = self._lu.solve(np.ascontiguousarray(b[self.order]), trans="T" if trans else "N")
        x = np.empty_like(y)
        x[self.order] = y
        return _check_solution(x)

    @property
    def fill(self) -> int:
        """Non-zeros of L + U."""
        return int(self._lu.L.nnz + self._lu.U.nnz)


class ColamdFactorisation:
    """SuperLU of :math:`A^\\top` with COLAMD, as bw2calc's ``utils.lu_solver`` does (for comparison)."""

    def __init__(self, A: sp.spmatrix) -> None:
        self._lu = sla.splu(sp.csr_matrix(A).T.tocsc(), permc_spec="COLAMD")

    def solve(self, b: FloatArray, trans: bool = False) -> FloatArray:
        return _check_solution(self._lu.solve(np.asarray(b, dtype=np.float64), trans="N" if trans else "T"))


class PardisoFactorisation:
    """Intel MKL PARDISO through pypardiso (one solver object per matrix; the transpose factorised on demand)."""

    def __init__(self, A: sp.spmatrix) -> None:
        from pypardiso import PyPardisoSolver  # optional dependency

        self._A = sp.csr_matrix(A, dtype=np.float64)
        self._solver = PyPardisoSolver()
        self._solver.factorize(self._A)
        self._AT: sp.csr_matrix | None = None
        self._solver_t: PyPardisoSolver | None = None

    def solve(self, b: FloatArray, trans: bool = False) -> FloatArray:
        b = np.asarray(b, dtype=np.float64)
        if not trans:
            return _check_solution(np.asarray(self._solver.solve(self._A, b)))
        if self._solver_t is None:
            from pypardiso import PyPardisoSolver

            self._AT = self._A.T.tocsr()
            self._solver_t = PyPardisoSolver()
            self._solver_t.factorize(self._AT)
        return _check_solution(np.asarray(self._solver_t.solve(self._AT, b)))


def factorise(A: sp.spmatrix, solver: Solver = "auto") -> Factorisation:
    """Factorise the technosphere matrix ``A`` once; see the module notes for the solvers.

    ``"auto"`` is SuperLU in topological order: on nearly triangular matrices it fills in far less
    than PARDISO's or COLAMD's general orderings (see ``benchmarks/README.md``).
    """
    if solver in ("auto", "superlu"):
        return SuperLUFactorisation(A)
    if solver == "colamd":
        return ColamdFactorisation(A)
    if solver == "pardiso":
        if not HAS_PYPARDISO:
            raise LCAError("solver 'pardiso' needs pypardiso", fix="pip install pypardiso, or use solver='auto'")
        return PardisoFactorisation(A)
    raise LCAError(f"unknown solver {solver!r}", fix="use 'auto', 'superlu', 'colamd' or 'pardiso'")


# --- the textbook functions -----------------------------------------------------------------------

def lci(A: sp.spmatrix, f: FloatArray, factorisation: Factorisation | None = None) -> FloatArray:
    """The supply (scaling) vector ``s`` with :math:`A s = f`.

    Parameters
    ----------
    A : sparse matrix, n × n
        Technosphere matrix.
    f : ndarray, (n,) or (n, k)
        Final demand [reference unit of each product]; k demands as columns.
    factorisation : Factorisation, optional
        A factorisation of ``A`` to reuse; made (and thrown away) if not given.

    Returns
    -------
    s : ndarray, (n,) or (n, k)
        Runs of each process [-].

    Notes
    -----
    :math:`s = A^{-1} f`, computed by solving, never by inverting (Heijungs & Suh 2002, eq. 2.6).
    """
    fac = factorisation if factorisation is not None else factorise(A)
    return fac.solve(np.asarray(f, dtype=np.float64))


def inventory(B: sp.spmatrix, s: FloatArray) -> FloatArray:
    """The inventory :math:`g = B s` [flow units] (Heijungs & Suh 2002, eq. 2.7)."""
    return np.asarray(B @ s)


def characterised_inventory(c: FloatArray, g: FloatArray) -> FloatArray:
    """:math:`h = C g` per flow [method unit], with C = diag(c) (Heijungs & Suh 2002, §2.4)."""
    c = np.asarray(c)
    return c * g if g.ndim == 1 else c[:, None] * g


def lcia(c: FloatArray, g: FloatArray) -> float | FloatArray:
    """The score :math:`\\mathbf{1}^\\top C g` [method unit] (one per column if ``g`` is a matrix)."""
    h = characterised_inventory(c, g)
    return float(h.sum()) if h.ndim == 1 else h.sum(axis=0)


# --- results ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Contributions:
    """A score split by process (``q ⊙ s``) and by flow (``C g``); each sums to ``score``."""

    score: float
    unit: str
    by_process: dict[str, float]
    by_flow: dict[str, float]

    def top_processes(self, n: int = 10) -> list[tuple[str, float]]:
        return sorted(self.by_process.items(), key=lambda kv: -abs(kv[1]))[:n]

    def top_flows(self, n: int = 10) -> list[tuple[str, float]]:
        return sorted(self.by_flow.items(), key=lambda kv: -abs(kv[1]))[:n]


@dataclass(frozen=True)
class SupplyChainNode:
    """One node of the supply-chain tree: ``amount`` of a product and what making it causes.

    ``direct`` is the characterised emission of the runs of the process making ``amount``;
    ``cumulative`` adds all upstream (loops included), so ``cumulative == direct + Σ children
    cumulative`` when no child was cut off.  ``share`` is ``cumulative`` ÷ the root's.
    """

    process: str
    name: str
    amount: float
    unit: str
    direct: float
    cumulative: float
    share: float
    depth: int
    children: tuple[SupplyChainNode, ...] = field(default=())

    def walk(self) -> list[SupplyChainNode]:
        """This node and its descendants, depth first."""
        out = [self]
        for c in self.children:
            out.extend(c.walk())
        return out


class LCA:
    """A product system's matrices with one factorisation of A, for many demands.

    Parameters
    ----------
    data : MatrixData
        From :func:`rareeco.lca.matrices.matrix_data` or built from arrays.
    solver : {"auto", "superlu", "colamd", "pardiso"}
        See :func:`factorise`.  Subclasses may override :meth:`factorise` instead.

    Notes
    -----
    ``score(f)`` is :math:`q^\\top A^{-1} f` with :math:`q^\\top = \\mathbf{1}^\\top C B`; ``scores``
    solves k demands as the columns of one right-hand side (forward) or, when there are more demands
    than one, solves :math:`A^\\top \\lambda = q` once and returns :math:`\\lambda^\\top F` (adjoint).
    Both are exact; the adjoint is one solve whatever the number of demands.

    References
    ----------
    Heijungs & Suh (2002), ch. 2 and 5; bw2calc ``LCA`` and ``FastScoresOnlyMultiLCA``.
    """

    def __init__(self, data: MatrixData, solver: Solver = "auto") -> None:
        self.data = data
        self.solver: Solver = solver
        n = len(data.processes)
        tech, bio = data.technosphere, data.biosphere
        self.technosphere_pattern = SparsePattern.from_coordinates(tech.rows, tech.cols, (n, n))
        self.biosphere_pattern = SparsePattern.from_coordinates(bio.rows, bio.cols, (len(data.flows), n))
        self.A: sp.csc_matrix = self.technosphere_pattern.matrix(tech.amounts)
        self.B: sp.csc_matrix = self.biosphere_pattern.matrix(bio.amounts)
        self.C: sp.csr_matrix = data.characterisation_matrix()
        self.c: FloatArray = np.asarray(data.characterisation, dtype=np.float64)
        # q_j: characterised direct emissions of one run of process j (1ᵀ C B)
        self.q: FloatArray = np.asarray(self.B.T @ self.c).ravel()
        self._factorisation: Factorisation | None = None
        self._lambda: FloatArray | None = None

    # --- solver -------------------------------------------------------------------------------
    def factorise(self) -> Factorisation:
        """Factorise A (override in a subclass for another solver)."""
        return factorise(self.A, self.solver)

    @property
    def factorisation(self) -> Factorisation:
        if self._factorisation is None:
            self._factorisation = self.factorise()
        return self._factorisation

    # --- demands ------------------------------------------------------------------------------
    def demand_vector(self, demand: Demand) -> FloatArray:
        """``f`` from ``{process id: amount [its reference unit]}`` (or an array of length n, returned as is)."""
        n = len(self.data.processes)
        if isinstance(demand, np.ndarray):
            if demand.shape != (n,):
                raise LCAError(f"a demand vector has shape {demand.shape}, expected ({n},)",
                               fix="one entry per process")
            return demand.astype(np.float64)
        f = np.zeros(n)
        for key, amount in demand.items():
            value = float(amount)
            if not math.isfinite(value):
                raise LCAError(f"demand of {key!r} is {amount!r}", fix="give a finite amount")
            f[self.data.processes.index(key)] += value
        return f

    def demand_matrix(self, demands: Sequence[Demand] | FloatArray) -> FloatArray:
        """Demands as the columns of an n × k matrix."""
        if isinstance(demands, np.ndarray):
            if demands.ndim != 2 or demands.shape[0] != len(self.data.processes):
                raise LCAError(f"a demand matrix has shape {demands.shape}", fix="n processes × k demands")
            return demands.astype(np.float64)
        return np.column_stack([self.demand_vector(d) for d in demands]) if len(demands) else np.zeros(
            (len(self.data.processes), 0))

    # --- LCI and LCIA --------------------------------------------------------------------------
    def supply(self, demand: Demand) -> FloatArray:
        """``s`` with :math:`A s = f` [runs]."""
        return lci(self.A, self.demand_vector(demand), self.factorisation)

    def supplies(self, demands: Sequence[Demand] | FloatArray) -> FloatArray:
        """``S`` (n × k) with :math:`A S = F`, all demands in one call to the factorisation."""
        return lci(self.A, self.demand_matrix(demands), self.factorisation)

    def inventory(self, demand: Demand) -> FloatArray:
        """``g = B s`` [flow units], indexed like ``data.flows``."""
        return inventory(self.B, self.supply(demand))

    def score(self, demand: Demand) -> float:
        """The score :math:`\\mathbf{1}^\\top C B A^{-1} f` [``data.unit``]."""
        g = self.inventory(demand)
        return float(lcia(self.c, g))

    def product_scores(self) -> FloatArray:
        """:math:`\\lambda` with :math:`A^\\top \\lambda = q`: the score of one unit of each product [unit per unit]."""
        if self._lambda is None:
            self._lambda = self.factorisation.solve(self.q, trans=True)
        return self._lambda

    def scores(self, demands: Sequence[Demand] | FloatArray,
               direction: Literal["auto", "forward", "adjoint"] = "auto", chunk: int = 256) -> FloatArray:
        """Scores of k demands [``data.unit``], shape (k,).

        ``forward`` solves the demands as columns, ``chunk`` at a time (memory n × chunk);
        ``adjoint`` solves :math:`A^\\top \\lambda = q` once; ``auto`` picks adjoint for k > 1.
        """
        F = self.demand_matrix(demands)
        k = F.shape[1]
        if direction == "adjoint" or (direction == "auto" and k > 1):
            return np.asarray(self.product_scores() @ F, dtype=np.float64)
        if direction not in ("auto", "forward"):
            raise LCAError(f"unknown direction {direction!r}", fix="use 'auto', 'forward' or 'adjoint'")
        out = np.empty(k)
        for start in range(0, k, max(1, chunk)):
            S = self.factorisation.solve(F[:, start:start + chunk])
            out[start:start + chunk] = self.q @ S
        return out

    # --- analysis ------------------------------------------------------------------------------
    def contributions(self, demand: Demand) -> Contributions:
        """The score by process and by flow.

        Notes
        -----
        By process: :math:`\\mathrm{diag}(q)\\, s`, i.e. each process's characterised direct
        emissions times its runs; by flow: :math:`C g` (Heijungs & Suh 2002, §5.2).  Both sum to the score.
        """
        s = self.supply(demand)
        g = inventory(self.B, s)
        by_process = self.q * s
        by_flow = characterised_inventory(self.c, g)
        score = float(by_flow.sum())
        return Contributions(
            score=score, unit=self.data.unit,
            by_process={pid: float(v) for pid, v in zip(self.data.processes.ids, by_process, strict=True) if v != 0},
            by_flow={fid: float(v) for fid, v in zip(self.data.flows.ids, by_flow, strict=True) if v != 0})

    def supply_chain(self, demand: Demand, depth: int = 3, min_share: float = 0.01,
                     max_nodes: int = 10_000) -> SupplyChainNode:
        """The tree of upstream processes with their cumulative score, cut off by depth and by share.

        Parameters
        ----------
        demand : mapping or array
            The functional unit.  The root (depth 0) is the demand; each demanded product is a child.
        depth : int
            Deepest level kept (the demanded products are level 1).
        min_share : float
            Children whose |cumulative| is below ``min_share`` × |root cumulative| are cut off.
        max_nodes : int
            A loop unrolls without end when nothing is cut off: more nodes than this is an error.

        Notes
        -----
        A node *j* making :math:`a` units runs :math:`a / A_{jj}` times; it emits
        :math:`q_j a / A_{jj}` directly and asks :math:`-A_{ij} a / A_{jj}` of each input *i*.
        Its cumulative score is :math:`\\lambda_j a` with :math:`A^\\top \\lambda = q`, and
        :math:`\\lambda_j = q_j / A_{jj} + \\sum_{i \\ne j} (-A_{ij}/A_{jj}) \\lambda_i`, so a node's
        cumulative score is its direct emission plus its children's, loops included (the tree is
        the unrolled structural path expansion; Heijungs & Suh 2002 §5.4, Defourny & Thorbecke 1984).
        """
        f = self.demand_vector(demand)
        lam = self.product_scores()
        total = float(lam @ f)
        threshold = abs(total) * min_share
        A = self.A
        diag = A.diagonal()
        names, units = self.data.process_names, self.data.process_units
        ids = self.data.processes.ids

        count = [0]

        def node(j: int, amount: float, level: int) -> SupplyChainNode:
            count[0] += 1
            if count[0] > max_nodes:
                raise LCAError(f"the supply-chain tree has more than {max_nodes} nodes",
                               fix="raise min_share or lower depth (or raise max_nodes)")
            runs = amount / diag[j]
            children: list[SupplyChainNode] = []
            if level < depth:
                lo, hi = A.indptr[j], A.indptr[j + 1]
                for i, a_ij in zip(A.indices[lo:hi].tolist(), A.data[lo:hi].tolist(), strict=True):
                    if i == j or a_ij == 0:
                        continue
                    child_amount = -a_ij * runs
                    if abs(lam[i] * child_amount) >= threshold and child_amount != 0:
                        children.append(node(i, child_amount, level + 1))
                children.sort(key=lambda c: -abs(c.cumulative))
            cumulative = float(lam[j] * amount)
            return SupplyChainNode(ids[j], names[j], float(amount), units[j], float(self.q[j] * runs), cumulative,
                                   cumulative / total if total else 0.0, level, tuple(children))

        top = [node(int(j), float(f[j]), 1) for j in np.flatnonzero(f)
               if depth >= 1 and abs(lam[j] * f[j]) >= threshold]
        top.sort(key=lambda c: -abs(c.cumulative))
        return SupplyChainNode("", "demand", 1.0, "", 0.0, total, 1.0 if total else 0.0, 0, tuple(top))

    @classmethod
    def from_system(cls, system: ProductSystem, method: str, solver: Solver = "auto") -> LCA:
        """Shortcut: ``LCA(matrix_data(system, method), solver)``."""
        return cls(matrix_data(system, method), solver=solver)

