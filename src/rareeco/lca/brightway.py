"""Export matrix data to Brightway (bw_processing datapackages for bw2calc 2.5 / 3.x).

Used by the tests and the benchmark to check rareeco against bw2calc, the field's reference engine,
on the same matrices; also the start of "export to Brightway" (issue 4).  ``bw_processing`` is an
optional dependency, imported only here.

Brightway conventions: integer ids (processes ``1 … n``, flows ``FLOW_ID_OFFSET + 0 … m-1``);
technosphere values are stored as magnitudes with ``flip = True`` for inputs (what bw2data writes);
distributions in stats_arrays form — lognormal ``loc = ln|median|``, ``scale = σ``; normal
``loc = mean``, ``scale = std``; triangular ``loc = mode`` with ``minimum``/``maximum``; uniform
``minimum``/``maximum`` — on the magnitude.

References
----------
Mutel, C. (2017). Brightway: an open source framework for LCA. JOSS 2(12), 236.
bw_processing documentation (``create_datapackage``, ``add_persistent_vector``); stats_arrays
(uncertainty type ids: 0 undefined, 2 lognormal, 3 normal, 4 uniform, 5 triangular).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rareeco.lca.matrices import LOGNORMAL, NORMAL, TRIANGULAR, UNIFORM, ExchangeArrays, MatrixData

FLOW_ID_OFFSET = 1_000_000
# stats_arrays uncertainty type ids for rareeco's distribution codes
_STATS_ARRAYS_ID = {0: 0, LOGNORMAL: 2, NORMAL: 3, UNIFORM: 4, TRIANGULAR: 5}


@dataclass(frozen=True)
class BrightwayExport:
    """A datapackage and the integer ids of each process (product = activity) and flow."""

    datapackage: Any
    process_ids: dict[str, int]
    flow_ids: dict[str, int]

    def demand(self, demand: dict[str, float]) -> dict[int, float]:
        return {self.process_ids[k]: float(v) for k, v in demand.items()}


def _distributions(bwp: Any, arrays: ExchangeArrays, magnitude: np.ndarray, flipped: np.ndarray) -> np.ndarray:
    d = np.zeros(len(arrays), dtype=bwp.UNCERTAINTY_DTYPE)
    d["uncertainty_type"] = [_STATS_ARRAYS_ID[int(c)] for c in arrays.distribution]
    d["loc"] = magnitude
    d["scale"] = np.nan
    d["shape"] = np.nan
    d["minimum"] = np.nan
    d["maximum"] = np.nan
    d["negative"] = False
    logn = arrays.distribution == LOGNORMAL
    d["loc"][logn] = np.log(np.abs(magnitude[logn]))
    d["negative"][logn] = magnitude[logn] < 0
    d["scale"][logn | (arrays.distribution == NORMAL)] = arrays.scale[logn | (arrays.distribution == NORMAL)]
    bounded = (arrays.distribution == TRIANGULAR) | (arrays.distribution == UNIFORM)
    lo = np.where(flipped, -arrays.maximum, arrays.minimum)
    hi = np.where(flipped, -arrays.minimum, arrays.maximum)
    d["minimum"][bounded] = lo[bounded]
    d["maximum"][bounded] = hi[bounded]
    return d


def to_datapackage(data: MatrixData, *, uncertainty: bool = True, name: str = "rareeco-export") -> BrightwayExport:
    """A bw_processing datapackage with the technosphere, biosphere and characterisation of ``data``.

    With ``uncertainty=False`` no distributions are written (static values only).
    """
    import bw_processing as bwp  # optional dependency

    process_ids = {pid: i + 1 for i, pid in enumerate(data.processes.ids)}
    flow_ids = {fid: FLOW_ID_OFFSET + j for j, fid in enumerate(data.flows.ids)}
    dp = bwp.create_datapackage(name=name, sequential=True)
    tech = data.technosphere
    off_diag_input = (tech.rows != tech.cols) & (tech.amounts < 0)
    magnitude = np.where(off_diag_input, -tech.amounts, tech.amounts)
    idx = np.empty(len(tech), dtype=bwp.INDICES_DTYPE)
    idx["row"], idx["col"] = tech.rows + 1, tech.cols + 1
    kwargs: dict[str, Any] = {}
    if uncertainty:
        kwargs["distributions_array"] = _distributions(bwp, tech, magnitude, off_diag_input)
    dp.add_persistent_vector(matrix="technosphere_matrix", name="technosphere", indices_array=idx,
                             data_array=magnitude.astype(np.float64), flip_array=off_diag_input, **kwargs)
    bio = data.biosphere
    idx = np.empty(len(bio), dtype=bwp.INDICES_DTYPE)
    idx["row"], idx["col"] = bio.rows + FLOW_ID_OFFSET, bio.cols + 1
    kwargs = {}
    if uncertainty:
        kwargs["distributions_array"] = _distributions(bwp, bio, bio.amounts, np.zeros(len(bio), dtype=bool))
    dp.add_persistent_vector(matrix="biosphere_matrix", name="biosphere", indices_array=idx,
                             data_array=bio.amounts.astype(np.float64), **kwargs)
    nz = np.flatnonzero(data.characterisation)
    idx = np.empty(nz.size, dtype=bwp.INDICES_DTYPE)
    idx["row"], idx["col"] = nz + FLOW_ID_OFFSET, 0
    dp.add_persistent_vector(matrix="characterization_matrix", name="characterisation", indices_array=idx,
                             data_array=data.characterisation[nz].astype(np.float64))
    return BrightwayExport(dp, process_ids, flow_ids)
