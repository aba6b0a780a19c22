"""Monte Carlo: seedable, batched, with common random numbers across the demands compared.

Each iteration draws every uncertain exchange once for the whole system (one row of a
``iterations × exchanges`` array of uniform numbers turned into values by each exchange's inverse
distribution function), rebuilds the values of A and B in their fixed sparsity pattern, refactorises
and solves **all** compared demands with those same matrices.  The difference between two products
therefore carries no noise from exchanges they share (common random numbers; Heijungs & Suh 2002
§8; Mutel 2017, bw2calc ``MultiLCA`` Monte Carlo).  The uniforms are drawn iteration-major from one
``numpy.random.Generator``, so a seed gives the same draws whatever the batch size and whatever
demands are compared.

Distributions (parameters as in :class:`rareeco.lca.system.Uncertainty`):

=============  ===========================================================================
lognormal      :math:`x = \\operatorname{sign}(a)\\, e^{\\ln|a| + \\sigma z}`, ``a`` the median,
               ``σ`` the std of ln|x| (not the geometric std, which is :math:`e^\\sigma`)
normal         :math:`x = a + \\mathrm{std}\\, z`
triangular     inverse CDF on [min, max] with mode ``a``
uniform        :math:`x = \\min + u (\\max - \\min)`
=============  ===========================================================================

with :math:`u \\sim U(0, 1)` and :math:`z = \\Phi^{-1}(u)`.

**Foreground and background.**  Exchanges without uncertainty never change, so the engine splits the
processes: the *foreground* F holds every process with an uncertain exchange and every process that
(directly or not) consumes a foreground product; the rest, the *background*, neither changes nor
uses the foreground (:math:`A_{bf}` may be non-zero, :math:`A_{fb} = 0`).  By block elimination

.. math::

    \\text{score} = \\tilde q_f^\\top A_{ff}^{-1} f_f + \\lambda_b^\\top f_b, \\qquad
    \\tilde q_f = q_f - A_{bf}^\\top \\lambda_b, \\qquad A_{bb}^\\top \\lambda_b = q_b,

which is exact.  The background is factorised once; each iteration refactorises only
:math:`A_{ff}` (with the values of that iteration, in the same pattern).  Small foregrounds are
solved many iterations at a time as a stack of dense matrices (``numpy.linalg.solve``), larger
ones one iteration at a time by SuperLU with the ordering of the first.  When every process is
uncertain the "foreground" is all of A and this is the plain refactorise-and-solve loop.
Characterisation factors are taken as certain.

References
----------
Heijungs, R. & Suh, S. (2002). *The Computational Structure of Life Cycle Assessment*, ch. 8
(uncertainty, Monte Carlo). doi:10.1007/978-94-015-9900-9.
Heijungs, R. & Lenzen, M. (2014). Error propagation methods for LCA — a framework for analysis and
a comparison. Int J LCA 19, 1445–1461. doi:10.1007/s11367-014-0751-0.
Mutel, C. (2017). Brightway, JOSS 2(12), 236; stats_arrays (same parameterisation: lognormal
``loc = ln median``, ``scale = σ``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order
from scipy.special import ndtri

from rareeco.lca.errors import LCAError, SingularSystemError
from rareeco.lca.matrices import (
    LOGNORMAL,
    NORMAL,
    TRIANGULAR,
    UNIFORM,
    ExchangeArrays,
    FloatArray,
    IntArray,
    MatrixData,
    SparsePattern,
)
from rareeco.lca.solve import LCA, Demand, SuperLUFactorisation

# Largest foreground solved as a stack of dense matrices, and the memory of one such stack.
DENSE_FOREGROUND_LIMIT = 400
DENSE_BATCH_BYTES = 64 * 2**20


def transform(arrays: ExchangeArrays, u: FloatArray) -> FloatArray:
    """Values of the exchanges ``arrays`` for uniforms ``u`` (shape (k, m), one column per exchange).

    Exchanges without uncertainty keep their amount.  Vectorised per distribution.

    Notes
    -----
    Inverse distribution functions: lognormal :math:`\\operatorname{sign}(a) e^{\\ln|a| + \\sigma
    \\Phi^{-1}(u)}`; normal :math:`a + s\\Phi^{-1}(u)`; triangular on [l, h] with mode c:
    :math:`l + \\sqrt{u(h-l)(c-l)}` for :math:`u < (c-l)/(h-l)`, else :math:`h - \\sqrt{(1-u)(h-l)(h-c)}`;
    uniform :math:`l + u(h-l)`.
    """
    u = np.clip(np.asarray(u, dtype=np.float64), np.finfo(np.float64).tiny, 1.0 - np.finfo(np.float64).epsneg)
    a = arrays.amounts
    out = np.broadcast_to(a, u.shape).copy()
    d = arrays.distribution
    for code in (LOGNORMAL, NORMAL, TRIANGULAR, UNIFORM):
        cols = np.flatnonzero(d == code)
        if cols.size == 0:
            continue
        uu = u[:, cols]
        ac = a[cols]
        if code == LOGNORMAL:
            out[:, cols] = np.sign(ac) * np.exp(np.log(np.abs(ac)) + arrays.scale[cols] * ndtri(uu))
        elif code == NORMAL:
            out[:, cols] = ac + arrays.scale[cols] * ndtri(uu)
        elif code == UNIFORM:
            lo, hi = arrays.minimum[cols], arrays.maximum[cols]
            out[:, cols] = lo + uu * (hi - lo)
        else:
            lo, hi = arrays.minimum[cols], arrays.maximum[cols]
            width = hi - lo
            fc = (ac - lo) / width
            left = lo + np.sqrt(uu * width * (ac - lo))
            right = hi - np.sqrt((1.0 - uu) * width * (hi - ac))
            out[:, cols] = np.where(uu < fc, left, right)
    return out


@dataclass(frozen=True)
class Summary:
    """Mean, standard deviation, standard error of the mean and percentiles of a sample."""

    mean: float
    std: float
    sem: float
    n: int
    percentiles: dict[float, float] = field(default_factory=dict)


def summarise(values: FloatArray, percentiles: Sequence[float] = (2.5, 5.0, 50.0, 95.0, 97.5)) -> Summary:
    """Summary of one sample of scores.

    Notes
    -----
    ``std`` uses ddof = 1; ``sem = std / √n`` is the Monte Carlo error of the mean.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    n = x.size
    if n == 0:
        raise LCAError("no Monte Carlo values to summarise", fix="run at least one iteration")
    std = float(x.std(ddof=1)) if n > 1 else 0.0
    pct: list[float] = np.percentile(x, list(percentiles)).tolist() if percentiles else []
    return Summary(float(x.mean()), std, std / np.sqrt(n), n,
                   {float(p): float(v) for p, v in zip(percentiles, pct, strict=True)})


@dataclass(frozen=True)
class MonteCarloResult:
    """``scores[i, d]``: the score of demand ``labels[d]`` in iteration ``i`` [``unit``]."""

    scores: FloatArray
    labels: tuple[str, ...]
    unit: str
    seed: int | None
    foreground_size: int

    def column(self, label: str) -> FloatArray:
        return self.scores[:, self.labels.index(label)]

    def summary(self, percentiles: Sequence[float] = (2.5, 5.0, 50.0, 95.0, 97.5)) -> dict[str, Summary]:
        return {lab: summarise(self.scores[:, d], percentiles) for d, lab in enumerate(self.labels)}


def foreground(data: MatrixData) -> IntArray:
    """Indices of the foreground: processes with an uncertain exchange and all their (indirect) consumers."""
    n = len(data.processes)
    tech, bio = data.technosphere, data.biosphere
    seeds = np.unique(np.concatenate([tech.cols[tech.uncertain], bio.cols[bio.uncertain]]))
    if seeds.size == 0:
        return np.zeros(0, dtype=np.int64)
    off = tech.rows != tech.cols
    # edges supplier → consumer, plus a virtual source n → every seed
    rows = np.concatenate([tech.rows[off], np.full(seeds.size, n)])
    cols = np.concatenate([tech.cols[off], seeds])
    graph = sp.csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n + 1, n + 1))
    reached = breadth_first_order(graph, n, directed=True, return_predecessors=False)
    return np.sort(reached[reached != n]).astype(np.int64)


class MonteCarlo:
    """Monte Carlo of several demands with common random numbers.

    Parameters
    ----------
    data : MatrixData
        Matrix data whose exchange arrays carry distributions.
    demands : mapping label → demand
        The products compared; all are solved with the same draws.
    seed : int, optional
        Seed of ``numpy.random.default_rng``; the same seed gives the same draws and scores.
    partition : bool
        Split off the certain background (default).  ``False`` treats every process as foreground:
        each iteration refactorises all of A (same ordering and pattern) — the same results, slower.

    Examples
    --------
    >>> mc = MonteCarlo(data, {"oxide": {"prnd-oxide": 1.0}}, seed=42)   # doctest: +SKIP
    >>> result = mc.run(10_000)
    >>> result.summary()["oxide"].mean
    """

    def __init__(self, data: MatrixData, demands: Mapping[str, Demand], seed: int | None = None,
                 partition: bool = True) -> None:
        if not demands:
            raise LCAError("Monte Carlo needs at least one demand", fix="pass {label: {process id: amount}}")
        self.data = data
        self.seed = seed
        self.labels = tuple(demands)
        self._rng = np.random.default_rng(seed)
        base = LCA(data)
        n = len(data.processes)
        F = base.demand_matrix([demands[k] for k in self.labels])
        tech, bio = data.technosphere, data.biosphere
        self._t_unc = np.flatnonzero(tech.uncertain)
        self._b_unc = np.flatnonzero(bio.uncertain)
        self._tech_u = tech.take(self._t_unc)
        self._bio_u = bio.take(self._b_unc)

        fg = foreground(data) if partition else np.arange(n, dtype=np.int64)
        self.foreground_indices = fg
        is_fg = np.zeros(n, dtype=bool)
        is_fg[fg] = True
        bg = np.flatnonzero(~is_fg)
        local = np.full(n, -1, dtype=np.int64)
        local[fg] = np.arange(fg.size)
        local[bg] = np.arange(bg.size)
        self._nf = nf = fg.size

        # background: λ_b with A_bbᵀ λ_b = q_b (certain by construction)
        lam_b = np.zeros(bg.size)
        if bg.size:
            in_bb = ~is_fg[tech.rows] & ~is_fg[tech.cols]
            A_bb = sp.csc_matrix((tech.amounts[in_bb], (local[tech.rows[in_bb]], local[tech.cols[in_bb]])),
                                 shape=(bg.size, bg.size))
            in_b = ~is_fg[bio.cols]
            weights = data.characterisation[bio.rows[in_b]] * bio.amounts[in_b]
            q_b = np.bincount(local[bio.cols[in_b]], weights=weights, minlength=bg.size).astype(np.float64)
            lam_b = SuperLUFactorisation(A_bb).solve(q_b, trans=True)
        self._const = lam_b @ F[bg, :] if bg.size else np.zeros(F.shape[1])
        self._F_f = F[fg, :]

        # foreground exchanges: tech with column in F, split by row (ff or bf); bio with column in F
        t_f = np.flatnonzero(is_fg[tech.cols])
        self._t_f = t_f
        row_fg = is_fg[tech.rows[t_f]]
        self._ff = np.flatnonzero(row_fg)               # positions within t_f
        self._bf = np.flatnonzero(~row_fg)
        self._ff_rows = local[tech.rows[t_f[self._ff]]]
        self._ff_cols = local[tech.cols[t_f[self._ff]]]
        self._bf_cols = local[tech.cols[t_f[self._bf]]]
        self._bf_weight = -lam_b[local[tech.rows[t_f[self._bf]]]]   # −λ_b[row]: A_bfᵀ λ_b enters q̃ with a minus
        b_f = np.flatnonzero(is_fg[bio.cols])
        self._b_f = b_f
        self._bio_cols = local[bio.cols[b_f]]
        self._bio_weight = data.characterisation[bio.rows[b_f]]
        # where the uncertain exchanges sit among the foreground ones
        pos_t = np.full(len(tech), -1, dtype=np.int64)
        pos_t[t_f] = np.arange(t_f.size)
        self._t_unc_pos = pos_t[self._t_unc]
        pos_b = np.full(len(bio), -1, dtype=np.int64)
        pos_b[b_f] = np.arange(b_f.size)
        self._b_unc_pos = pos_b[self._b_unc]
        if (self._t_unc_pos < 0).any() or (self._b_unc_pos < 0).any():  # foreground() guarantees this
            raise LCAError("an uncertain exchange lies outside the foreground", fix="report this as a bug")
        self._t_static = tech.amounts[t_f]
        self._b_static = bio.amounts[b_f]
        self._dense = nf <= DENSE_FOREGROUND_LIMIT
        self._pattern: SparsePattern | None = None
        self._fact: SuperLUFactorisation | None = None
        if nf and not self._dense:
            self._pattern = SparsePattern.from_coordinates(self._ff_rows, self._ff_cols, (nf, nf))
            self._fact = SuperLUFactorisation(self._pattern.matrix(self._t_static[self._ff]))

    @property
    def foreground_size(self) -> int:
        return int(self._nf)

    def draw(self, iterations: int) -> tuple[FloatArray, FloatArray]:
        """Values of the uncertain technosphere and biosphere exchanges for the next ``iterations``.

        One array of uniforms (iterations × all uncertain exchanges) per call, iteration-major: the
        stream does not depend on how iterations are batched.  Technosphere values are matrix
        entries (inputs negative).
        """
        m_t, m_b = self._t_unc.size, self._b_unc.size
        u = self._rng.random((iterations, m_t + m_b))
        return transform(self._tech_u, u[:, :m_t]), transform(self._bio_u, u[:, m_t:])

    def run(self, iterations: int, batch_size: int = 1000) -> MonteCarloResult:
        """``iterations`` more iterations (continuing the random stream), ``batch_size`` at a time."""
        if iterations < 1:
            raise LCAError(f"{iterations} iterations", fix="run at least one iteration")
        nf = self._nf
        k_max = batch_size
        if self._dense and nf:
            k_max = max(1, min(batch_size, DENSE_BATCH_BYTES // (8 * nf * nf)))
        out = np.empty((iterations, len(self.labels)))
        done = 0
        while done < iterations:
            k = min(k_max, iterations - done)
            t_vals, b_vals = self.draw(k)
            out[done:done + k] = self._solve_batch(t_vals, b_vals)
            done += k
        return MonteCarloResult(out, self.labels, self.data.unit, self.seed, nf)

    def _solve_batch(self, t_vals: FloatArray, b_vals: FloatArray) -> FloatArray:
        k, nf = t_vals.shape[0], self._nf
        if nf == 0:
            return np.broadcast_to(self._const, (k, len(self.labels))).copy()
        T = np.broadcast_to(self._t_static, (k, self._t_static.size)).copy()
        T[:, self._t_unc_pos] = t_vals
        Bv = np.broadcast_to(self._b_static, (k, self._b_static.size)).copy()
        Bv[:, self._b_unc_pos] = b_vals
        it = np.arange(k)[:, None]
        # q̃_f = q_f − A_bfᵀ λ_b, per iteration (k × nf)
        q = np.bincount((it * nf + self._bio_cols).ravel(), weights=(Bv * self._bio_weight).ravel(),
                        minlength=k * nf)
        q += np.bincount((it * nf + self._bf_cols).ravel(), weights=(T[:, self._bf] * self._bf_weight).ravel(),
                         minlength=k * nf)
        q = q.reshape(k, nf)
        Tff = T[:, self._ff]
        if self._dense:
            flat = (it * nf * nf + self._ff_cols * nf + self._ff_rows).ravel()  # transposed: [it, col, row]
            At = np.bincount(flat, weights=Tff.ravel(), minlength=k * nf * nf).reshape(k, nf, nf)
            try:
                mu = np.linalg.solve(At, q[:, :, None])[:, :, 0]
            except np.linalg.LinAlgError as exc:
                raise SingularSystemError("a Monte Carlo draw made the foreground technosphere singular",
                                          fix="narrow the distributions that can make a production zero") from exc
        else:
            assert self._pattern is not None and self._fact is not None
            mu = np.empty((k, nf))
            for i in range(k):
                fac = self._fact.refactorise(self._pattern.data(Tff[i]))
                mu[i] = fac.solve(q[i], trans=True)
        return mu @ self._F_f + self._const


def monte_carlo(data: MatrixData, demands: Mapping[str, Demand], iterations: int, seed: int | None = None,
                batch_size: int = 1000) -> MonteCarloResult:
    """Run ``iterations`` Monte Carlo iterations of ``demands`` with common random numbers (see :class:`MonteCarlo`)."""
    return MonteCarlo(data, demands, seed=seed).run(iterations, batch_size=batch_size)
