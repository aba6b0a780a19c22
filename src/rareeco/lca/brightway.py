"""Exchange with Brightway: export matrix data to bw_processing datapackages (bw2calc 2.5 / 3.x), and import
datapackages or bw2io-style activity dicts into a :class:`~rareeco.lca.system.ProductSystem`.

The export is used by the tests and the benchmark to check rareeco against bw2calc, the field's reference
engine, on the same matrices.  ``bw_processing`` is an optional dependency (``pip install
'rareeco[brightway]'``), imported only when a datapackage is written or read; activity dicts need nothing.
Import: :func:`system_from_datapackage`, :func:`system_from_activities`, :func:`uncertainty_from_stats_arrays`
(docs/lca-import.md).

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

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rareeco.errors import RareecoError, UnitError
from rareeco.lca.errors import LCAError
from rareeco.lca.importing import Imported, Problems, mirrored, require, unique_ids, unit_label
from rareeco.lca.matrices import LOGNORMAL, NORMAL, TRIANGULAR, UNIFORM, ExchangeArrays, MatrixData
from rareeco.lca.system import (
    BiosphereExchange,
    Flow,
    Method,
    Process,
    ProductSystem,
    TechnosphereExchange,
    Uncertainty,
)

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

    With ``uncertainty=False`` no distributions are written (static values only).  The datapackage's
    metadata (``metadata["rareeco"]``) keeps the process and flow ids, process names and units, and the
    method, so :func:`system_from_datapackage` can label what it reads back.
    """
    import bw_processing as bwp  # optional dependency

    process_ids = {pid: i + 1 for i, pid in enumerate(data.processes.ids)}
    flow_ids = {fid: FLOW_ID_OFFSET + j for j, fid in enumerate(data.flows.ids)}
    labels = {  # read back by system_from_datapackage: ids, names and units that integer ids lose
        "processes": [{"brightway_id": process_ids[pid], "id": pid, "name": pname, "unit": unit}
                      for pid, pname, unit in zip(data.processes.ids, data.process_names, data.process_units,
                                                  strict=True)],
        "flows": [{"brightway_id": flow_ids[fid], "id": fid} for fid in data.flows.ids],
        "method": {"id": data.method, "unit": data.unit},
    }
    dp = bwp.create_datapackage(name=name, sequential=True, metadata={"rareeco": labels})
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


# --- import: bw_processing datapackages and bw2io-style activity dicts → ProductSystem -----------------

STATS_ARRAYS_NAMES: Mapping[int, str] = {
    0: "undefined", 1: "no uncertainty", 2: "lognormal", 3: "normal", 4: "uniform", 5: "triangular",
    6: "bernoulli", 7: "discrete uniform", 8: "weibull", 9: "gamma", 10: "beta", 11: "generalized extreme value",
    12: "student's t"}
BIOSPHERE_TYPES = frozenset({"emission", "natural resource", "inventory indicator", "economic", "social"})
PRODUCT_TYPES = frozenset({"product", "waste"})
MATRICES = ("technosphere_matrix", "biosphere_matrix", "characterization_matrix")


def _field(fields: Mapping[str, Any], name: str) -> float | None:
    """A stats_arrays field of a bw2 exchange dict (``"uncertainty type"``) or array row (``uncertainty_type``)."""
    v = fields.get(name, fields.get(name.replace("_", " ")))
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


def uncertainty_from_stats_arrays(fields: Mapping[str, Any], amount: float) -> Uncertainty | None:
    """A stats_arrays distribution (Brightway) of an exchange of ``amount`` → rareeco's :class:`Uncertainty`.

    ==========================  ===============================================================
    ``uncertainty type``        rareeco (the exchange ``amount`` is the median / mean / mode)
    ==========================  ===============================================================
    0 undefined, 1 none         no distribution
    2 lognormal                 ``lognormal``, ``sigma = scale`` (``loc`` = ln|amount|)
    3 normal                    ``normal``, ``std = scale`` (``loc`` = amount)
    4 uniform                   ``uniform``, ``minimum``, ``maximum``
    5 triangular                ``triangular``, ``minimum``, ``maximum`` (``loc`` = the mode = amount)
    ==========================  ===============================================================

    ``fields`` is an exchange dict (keys ``"uncertainty type"``, ``"scale"``, ``"minimum"``, ``"maximum"``)
    or a row of a datapackage's distributions array (``uncertainty_type`` …); bounds are in the sign of
    ``amount``.  Other types (Weibull, gamma, beta …) raise :class:`~rareeco.lca.errors.LCAError`.

    References
    ----------
    stats_arrays documentation, "Mapping parameter array columns to uncertainty distributions".
    """
    kind = _field(fields, "uncertainty_type")
    code = 0 if kind is None else int(kind)
    if code in (0, 1):
        return None
    if code in (2, 3):
        scale = _field(fields, "scale")
        if scale is None:
            raise LCAError(f"a {STATS_ARRAYS_NAMES[code]} distribution without scale",
                           fix="give scale (sigma of ln x for a lognormal, the standard deviation for a normal)")
        return Uncertainty.lognormal(sigma=scale) if code == 2 else Uncertainty.normal(scale)
    if code in (4, 5):
        lo, hi = _field(fields, "minimum"), _field(fields, "maximum")
        if lo is None or hi is None:
            raise LCAError(f"a {STATS_ARRAYS_NAMES[code]} distribution without minimum and maximum",
                           fix="give minimum and maximum")
        return Uncertainty.uniform(lo, hi) if code == 4 else Uncertainty.triangular(lo, hi)
    raise LCAError(f"uncertainty type {code} ({STATS_ARRAYS_NAMES.get(code, 'unknown')}) is not supported",
                   fix="use lognormal (2), normal (3), uniform (4) or triangular (5), or none (0)")


def _loc_note(fields: Mapping[str, Any], amount: float) -> str | None:
    """A note when ``loc`` disagrees with the amount (rareeco takes the amount as median / mean / mode)."""
    kind, loc = _field(fields, "uncertainty_type"), _field(fields, "loc")
    if loc is None or kind not in (2.0, 3.0, 5.0) or amount == 0:
        return None
    expected = math.log(abs(amount)) if kind == 2.0 else amount
    if abs(loc - expected) <= 1e-6 * max(1.0, abs(expected)):
        return None
    return (f"loc {loc:g} differs from {'ln|amount|' if kind == 2.0 else 'the amount'} {expected:g}; "
            "the amount is used as the distribution's " + {2.0: "median", 3.0: "mean", 5.0: "mode"}[kind])


def _checked(fields: Mapping[str, Any], value: float, sign: float, where: str, problems: Problems,
             *, float32: bool = False) -> Uncertainty | None:
    """The distribution of ``sign · value`` (a finding and None when it is unusable)."""
    try:
        u = uncertainty_from_stats_arrays(fields, value)
        if u is not None and float32 and u.minimum is not None and u.maximum is not None:
            tol = 1e-6 * abs(value)      # bounds are float32 in datapackages: one equal to the amount may round past it
            u = replace(u, minimum=min(u.minimum, value) if u.minimum - value <= tol else u.minimum,
                        maximum=max(u.maximum, value) if value - u.maximum <= tol else u.maximum)
        u = mirrored(u, sign)
        if u is not None:
            u.check(sign * value, where)
    except LCAError as exc:
        problems.add(where, exc.message.removeprefix(f"{where}: "), exc.fix or "", code="lca_import_uncertainty")
        return None
    note = _loc_note(fields, value)
    if note is not None:
        problems.add(where, note, "make loc agree with the amount in Brightway", blocking=False,
                     code="lca_import_uncertainty")
    return u


# --- datapackages ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Entries:
    """The vector resources of one resource group of one matrix."""

    matrix: str
    group: str
    rows: np.ndarray
    cols: np.ndarray
    data: np.ndarray
    flip: np.ndarray
    distributions: np.ndarray | None


def _open_datapackage(source: Any) -> Any:
    """A bw_processing datapackage: the object itself, or one loaded from a zip file or a directory."""
    bwp = require("bw_processing", "brightway", "reading Brightway datapackages")
    if not isinstance(source, str | Path):
        return source
    path = Path(source)
    try:
        if path.is_dir():
            return bwp.load_datapackage(bwp.generic_directory_filesystem(dirpath=path))
        from fsspec.implementations.zip import ZipFileSystem

        return bwp.load_datapackage(ZipFileSystem(str(path), mode="r"))
    except Exception as exc:  # missing file, not a zip, no datapackage.json …
        raise RareecoError(f"{source}: cannot read it as a Brightway datapackage ({exc})",
                           fix="give a datapackage zip or directory with a datapackage.json") from exc


def _entries(dp: Any, label: str, problems: Problems) -> list[_Entries]:
    """The vector resource groups of ``dp`` for :data:`MATRICES`, as arrays."""
    by_group: dict[tuple[str, str], dict[str, Any]] = {}
    for i, res in enumerate(dp.resources):
        matrix, kind = res.get("matrix"), res.get("kind")
        if matrix is None or kind is None:
            continue                                  # JSON metadata, labels …
        if matrix not in MATRICES:
            problems.add(f"{label}, resource {res.get('name')!r}", f"matrix {matrix!r} is not imported",
                         "only the technosphere, biosphere and characterization matrices are read", blocking=False,
                         code="lca_import_ignored")
            continue
        if res.get("category") != "vector":
            problems.add(f"{label}, resource {res.get('name')!r}",
                         f"a {res.get('category')!r} resource (presamples, scenarios) cannot be imported",
                         "export static values (persistent vectors) from Brightway", code="lca_import_array")
            continue
        array, _ = dp.get_resource(i)
        if not isinstance(array, np.ndarray):
            problems.add(f"{label}, resource {res.get('name')!r}", "an interface resource (dynamic data) has no values",
                         "export static values (persistent vectors) from Brightway", code="lca_import_array")
            continue
        by_group.setdefault((matrix, str(res.get("group", res.get("name")))), {})[kind] = array
    out = []
    for (matrix, group), arrays in by_group.items():
        if "indices" not in arrays or "data" not in arrays:
            problems.add(f"{label}, group {group!r}", "indices or data missing", "export the datapackage again",
                         code="lca_import_array")
            continue
        idx, data = arrays["indices"], np.asarray(arrays["data"], dtype=np.float64)
        flip = np.asarray(arrays.get("flip", np.zeros(len(data), dtype=bool)), dtype=bool)
        rows, cols = np.asarray(idx["row"], dtype=np.int64), np.asarray(idx["col"], dtype=np.int64)
        out.append(_Entries(matrix, group, rows, cols, data, flip, arrays.get("distributions")))
    return out


def _labels(packages: list[Any]) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]], dict[str, Any]]:
    """Process and flow labels (id, name, unit) by Brightway integer id, and the method, from rareeco metadata."""
    processes: dict[int, dict[str, Any]] = {}
    flows: dict[int, dict[str, Any]] = {}
    method: dict[str, Any] = {}
    for dp in packages:
        meta = dp.metadata.get("rareeco") or {}
        processes.update({int(p["brightway_id"]): p for p in meta.get("processes", [])})
        flows.update({int(f["brightway_id"]): f for f in meta.get("flows", [])})
        method = method or dict(meta.get("method") or {})
    return processes, flows, method


def _row(dists: np.ndarray | None, k: int) -> Mapping[str, Any]:
    if dists is None:
        return {}
    return {name: dists[name][k] for name in dists.dtype.names or ()}


def system_from_datapackage(source: Any, *, method_id: str | None = None, method_unit: str | None = None,
                            default_unit: str = "dimensionless", name: str | None = None,
                            unit_aliases: Mapping[str, str] | None = None) -> Imported:
    """Build a product system from bw_processing datapackages (what bw2calc reads, what :func:`to_datapackage` writes).

    Parameters
    ----------
    source : datapackage, path, or a list of them
        ``bw_processing`` datapackage objects, or zip files / directories holding one (``datapackage.json``);
        several are read together like bw2calc's ``data_objs`` (a database and a method, say).
    method_id, method_unit : str, optional
        Id and unit of the method made of the ``characterization_matrix`` (default: from rareeco metadata,
        else ``"brightway"`` and ``"score"``).
    default_unit : str
        Unit of processes and flows the metadata does not label (datapackages hold numbers only).
    name : str, optional
        Name of the imported system (default the first datapackage's name).
    unit_aliases : mapping, optional
        Unit names → units of rareeco's registry (see :func:`rareeco.lca.importing.unit_label`).

    Returns
    -------
    Imported
        Processes: the ids on the technosphere diagonal, labelled from the metadata written by
        :func:`to_datapackage` (``metadata["rareeco"]``) when present, else the integer id as text.
        ``A[i, j] = −data`` where ``flip`` else ``data``; off the diagonal an input of ``−A[i, j]`` of
        process *i* per run of *j* (negative: avoided production).  ``B`` and the diagonal of ``C`` as
        stored (signs flipped where ``flip``).  Duplicates within a resource group are added.

    Notes
    -----
    Not imported (each a blocking finding): array resources (presamples, scenarios), interfaces, a
    technosphere row or column without a diagonal (production) entry, an entry present in two resource
    groups (bw2calc would replace one with the other).  Distributions of production amounts are dropped
    (advisory).
    """
    items = list(source) if isinstance(source, list | tuple) else [source]
    packages = [_open_datapackage(s) for s in items]
    label = ", ".join(str(s) if isinstance(s, str | Path) else str(dp.metadata.get("name")) for s, dp in
                      zip(items, packages, strict=True))
    problems = Problems(label)
    entries = [e for i, dp in enumerate(packages) for e in _entries(dp, f"datapackage {i + 1}", problems)]
    seen: dict[tuple[str, int, int], str] = {}
    for e in entries:
        for r, c in zip(e.rows.tolist(), e.cols.tolist(), strict=True):
            key = (e.matrix, r, c if e.matrix != "characterization_matrix" else r)
            if seen.setdefault(key, e.group) != e.group:
                problems.add(f"{e.matrix} ({r}, {c})", f"given in resource groups {seen[key]!r} and {e.group!r}",
                             "merge them (overlay/scenario datapackages that replace values are not imported)",
                             code="lca_import_duplicate")
    proc_meta, flow_meta, method_meta = _labels(packages)
    tech = [e for e in entries if e.matrix == "technosphere_matrix"]
    diagonal = sorted({r for e in tech for r, c in zip(e.rows.tolist(), e.cols.tolist(), strict=True) if r == c})
    order = [i for i in proc_meta if i in set(diagonal)] + [i for i in diagonal if i not in proc_meta]
    pid = {i: str(proc_meta.get(i, {}).get("id", i)) for i in order}
    production = dict.fromkeys(order, 0.0)
    technosphere: list[TechnosphereExchange] = []
    for e in tech:
        for k, (r, c) in enumerate(zip(e.rows.tolist(), e.cols.tolist(), strict=True)):
            where = f"technosphere entry ({r}, {c}) of group {e.group!r}"
            if r not in pid or c not in pid:
                problems.add(where, f"id {r if r not in pid else c} has no production (diagonal) entry",
                             "give every activity its production exchange (separate product nodes are not imported)",
                             code="lca_import_reference")
                continue
            value = float(-e.data[k] if e.flip[k] else e.data[k])   # the entry of A
            if r == c:
                production[r] += value
                if _field(_row(e.distributions, k), "uncertainty_type") not in (None, 0.0, 1.0):
                    problems.add(where, "the distribution of a production amount is dropped",
                                 "production amounts are certain in rareeco", blocking=False,
                                 code="lca_import_uncertainty")
                continue
            sign = 1.0 if e.flip[k] else -1.0                       # input amount = −A = sign · data
            unc = _checked(_row(e.distributions, k), float(e.data[k]), sign, where, problems, float32=True)
            technosphere.append(TechnosphereExchange(pid[c], pid[r], sign * float(e.data[k]), None, unc))
    flow_ids: dict[int, str] = {}
    biosphere: list[BiosphereExchange] = []
    for e in (x for x in entries if x.matrix == "biosphere_matrix"):
        for k, (r, c) in enumerate(zip(e.rows.tolist(), e.cols.tolist(), strict=True)):
            where = f"biosphere entry ({r}, {c}) of group {e.group!r}"
            if c not in pid:
                problems.add(where, f"process id {c} has no production (diagonal) entry in the technosphere",
                             "include the technosphere of that activity", code="lca_import_reference")
                continue
            sign = -1.0 if e.flip[k] else 1.0
            flow_ids.setdefault(r, str(flow_meta.get(r, {}).get("id", r)))
            unc = _checked(_row(e.distributions, k), float(e.data[k]), sign, where, problems, float32=True)
            biosphere.append(BiosphereExchange(pid[c], flow_ids[r], sign * float(e.data[k]), None, unc))
    factors: dict[str, float] = {}
    char = [x for x in entries if x.matrix == "characterization_matrix"]
    for e in char:
        for k, r in enumerate(e.rows.tolist()):
            if r in flow_ids:
                factors[flow_ids[r]] = factors.get(flow_ids[r], 0.0) + (-1.0 if e.flip[k] else 1.0) * float(e.data[k])
    for i in order:
        if production[i] == 0:
            problems.add(f"process {pid[i]!r} (id {i})", "produces 0 (its diagonal entries sum to zero)",
                         "give the activity a non-zero production exchange", code="lca_import_reference")
    problems.raise_if_blocking("Brightway datapackage")

    def unit(meta: Mapping[str, Any], where: str) -> str:
        try:
            return unit_label(str(meta.get("unit") or default_unit), unit_aliases)
        except UnitError as exc:
            problems.add(where, exc.message, exc.fix or "", code="lca_import_unit")
            return "dimensionless"

    processes = tuple(Process(pid[i], str(proc_meta.get(i, {}).get("name") or pid[i]),
                              str(proc_meta.get(i, {}).get("product") or proc_meta.get(i, {}).get("name") or pid[i]),
                              unit(proc_meta.get(i, {}), f"process {pid[i]!r}"),
                              str(proc_meta.get(i, {}).get("location") or "GLO"), production[i]) for i in order)
    flows = tuple(Flow(fid, str(flow_meta.get(r, {}).get("name") or fid), unit(flow_meta.get(r, {}), f"flow {fid!r}"),
                       str(flow_meta.get(r, {}).get("compartment") or "unspecified")) for r, fid in flow_ids.items())
    methods: dict[str, Method] = {}
    if char:
        mid = method_id or str(method_meta.get("id") or "brightway")
        methods[mid] = Method(mid, method_unit or str(method_meta.get("unit") or "score"), factors,
                              str(method_meta.get("name") or mid))
    problems.raise_if_blocking("Brightway datapackage")
    system = ProductSystem(processes, flows, tuple(technosphere), tuple(biosphere), methods)
    return Imported(system, name or str(packages[0].metadata.get("name") or "brightway-import"), problems.warnings,
                    label)


# --- bw2io / bw2data activity dicts ---------------------------------------------------------------------

def _key(value: Any) -> tuple[str, str] | None:
    """``(database, code)`` of an ``input``/``output`` value (tuple, or list from JSON); None if absent."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return str(value[0]), str(value[1])
    return None


def key_id(key: tuple[str, str]) -> str:
    """The rareeco id of a Brightway key: ``"database:code"``."""
    return f"{key[0]}:{key[1]}"


def _bw_flow(node: Mapping[str, Any], key: tuple[str, str], aliases: Mapping[str, str] | None) -> tuple[Flow, bool]:
    """An elementary flow from a biosphere node or exchange dict, and whether it is a natural resource."""
    raw = node.get("categories") or ()
    categories = [raw] if isinstance(raw, str) else [str(c) for c in raw]
    resource = node.get("type") == "natural resource" or categories[:1] == ["natural resource"]
    return Flow(key_id(key), str(node.get("name") or key[1]), unit_label(node.get("unit"), aliases),
                "/".join(categories) or "unspecified"), resource


def system_from_activities(activities: Iterable[Mapping[str, Any]], *, methods: Iterable[Mapping[str, Any]] = (),
                           biosphere: Iterable[Mapping[str, Any]] = (), drop_unlinked: bool = False,
                           unit_aliases: Mapping[str, str] | None = None,
                           name: str = "brightway-import") -> Imported:
    """Build a product system from Brightway activity dicts (bw2io strategies output, bw2data ``as_dict()``).

    Parameters
    ----------
    activities : iterable of dict
        ``{"database", "code", "name", "unit", "location", "reference product", "type"?, "exchanges": [...]}``;
        each exchange ``{"input": (database, code), "amount", "type", "unit"?, "uncertainty type"?, "loc"?,
        "scale"?, "minimum"?, "maximum"?, "name"?, "categories"?}`` with ``type`` one of ``production``,
        ``technosphere``, ``substitution``, ``biosphere``.  Nodes of a biosphere type (``emission``,
        ``natural resource`` …) may be mixed in; ``product`` nodes are skipped (the process producing them
        supplies them).
    methods : iterable of dict
        ``{"name": tuple or str, "unit", "exchanges": [{"input": key, "amount": cf}, ...]}`` (bw2io's LCIA
        import); an item may also be a ``(key, cf)`` or ``(key, cf, location)`` tuple (``Method.load()``).
    biosphere : iterable of dict
        Biosphere flow nodes ``{"database", "code", "name", "unit", "categories", "type"}``; a flow not given
        here is described by the exchange's own ``name``, ``unit`` and ``categories``.
    drop_unlinked : bool
        Drop technosphere inputs whose ``input`` is missing or unknown (advisory findings) instead of failing.
    unit_aliases : mapping, optional
        Unit names → units of rareeco's registry (``{"pig place": "count"}``).
    name : str
        Name of the imported system.

    Returns
    -------
    Imported
        Process id ``"database:code"``; production amount = the production exchange (1 if none, as
        bw2data assumes); ``technosphere`` inputs as given, ``substitution`` negated; ``biosphere`` as
        given except natural resources (``categories[0] == "natural resource"``), which are negated with
        their characterisation factors, so scores equal Brightway's while resources are < 0 as in rareeco.
    """
    problems = Problems(name)
    acts = list(activities)
    flows_in: dict[tuple[str, str], Mapping[str, Any]] = {}
    for node in [*biosphere, *(a for a in acts if a.get("type") in BIOSPHERE_TYPES)]:
        flows_in[(str(node.get("database")), str(node.get("code")))] = node
    procs = [a for a in acts if a.get("type") not in BIOSPHERE_TYPES | PRODUCT_TYPES]
    providers: dict[tuple[str, str], str] = {}
    for a in procs:
        own = (str(a.get("database")), str(a.get("code")))
        providers[own] = key_id(own)
        for x in a.get("exchanges", []):
            k = _key(x.get("input"))
            if x.get("type") == "production" and k is not None:
                providers.setdefault(k, key_id(own))
    processes: list[Process] = []
    technosphere: list[TechnosphereExchange] = []
    bio: list[BiosphereExchange] = []
    flows: dict[str, Flow] = {}
    resources: set[str] = set()
    for a in procs:
        pid = key_id((str(a.get("database")), str(a.get("code"))))
        where_p = f"activity {a.get('name')!r} ({pid})"
        production = [x for x in a.get("exchanges", []) if x.get("type") == "production"]
        if len(production) > 1 or a.get("type") == "multifunctional":
            problems.add(where_p, f"has {len(production)} production exchanges (multifunctional)",
                         "allocate it in Brightway (or with rareeco.lca.allocation) before importing",
                         code="lca_import_allocation")
            continue
        try:
            unit = unit_label(a.get("unit"), unit_aliases)
        except UnitError as exc:
            problems.add(where_p, exc.message, exc.fix or "", code="lca_import_unit")
            continue
        amount = float(production[0].get("amount", 1.0)) if production else 1.0
        if production and _field(production[0], "uncertainty_type") not in (None, 0.0, 1.0):
            problems.add(where_p, "the distribution of its production amount is dropped",
                         "production amounts are certain in rareeco", blocking=False, code="lca_import_uncertainty")
        product = str(a.get("reference product") or a.get("name") or pid)
        location = str(a.get("location") or "GLO")
        processes.append(Process(pid, str(a.get("name") or pid), product, unit, location, amount))
        for j, x in enumerate(a.get("exchanges", [])):
            kind, k = x.get("type"), _key(x.get("input"))
            where = f"{where_p}, exchange {j} ({kind} {x.get('amount')!r} {x.get('unit') or ''} {x.get('name') or k})"
            if kind == "production":
                continue
            value = float(x.get("amount", 0.0))
            if kind in ("technosphere", "substitution"):
                supplier = providers.get(k) if k is not None else None
                if supplier is None:
                    msg = "has no input (unlinked)" if k is None else f"input {k} is not among the activities"
                    if drop_unlinked:
                        problems.add(where, f"{msg}; dropped", "link it in Brightway to include its supply chain",
                                     blocking=False, code="lca_import_unlinked")
                    else:
                        problems.add(where, msg, "link it in Brightway (bw2io strategies, match_database), add "
                                     "the supplying activity, or drop unlinked inputs (drop_unlinked=True, "
                                     "--drop-unlinked)", code="lca_import_unlinked")
                    continue
                sign = -1.0 if kind == "substitution" else 1.0
                technosphere.append(TechnosphereExchange(pid, supplier, sign * value, None,
                                                         _checked(x, value, sign, where, problems)))
            elif kind == "biosphere":
                if k is None:
                    problems.add(where, "has no input (unlinked elementary flow)",
                                 "link it to a biosphere flow in Brightway", code="lca_import_unlinked")
                    continue
                try:
                    flow, resource = _bw_flow(flows_in.get(k, x), k, unit_aliases)
                except UnitError as exc:
                    problems.add(where, exc.message, exc.fix or "", code="lca_import_unit")
                    continue
                flows.setdefault(flow.id, flow)
                sign = -1.0 if resource else 1.0
                if resource:
                    resources.add(flow.id)
                unc = _checked(x, value, sign, where, problems)
                bio.append(BiosphereExchange(pid, flow.id, sign * value, None, unc))
            else:
                problems.add(where, f"exchange type {kind!r} is not imported",
                             "use production, technosphere, substitution or biosphere", code="lca_import_type")
    out_methods = _bw_methods(list(methods), flows, resources, problems)
    problems.raise_if_blocking("Brightway activities")
    system = ProductSystem(tuple(processes), tuple(flows.values()), tuple(technosphere), tuple(bio), out_methods)
    return Imported(system, name, problems.warnings, name)


def _bw_methods(methods: list[Mapping[str, Any]], flows: Mapping[str, Flow], resources: set[str],
                problems: Problems) -> dict[str, Method]:
    names = [" | ".join(map(str, m["name"])) if isinstance(m.get("name"), list | tuple) else str(m.get("name"))
             for m in methods]
    ids = unique_ids(names, [str(i) for i in range(len(methods))])
    out: dict[str, Method] = {}
    for mid, text, m in zip(ids, names, methods, strict=True):
        factors: dict[str, float] = {}
        regional = 0
        for cf in m.get("exchanges", m.get("data", [])):
            if isinstance(cf, Mapping):
                key, value, location = _key(cf.get("input")), cf.get("amount"), cf.get("location")
            else:
                key, value, location = _key(cf[0]), cf[1], (cf[2] if len(cf) > 2 else None)
            if isinstance(value, Mapping):
                value = value.get("amount")
            if key is None or key_id(key) not in flows or value is None:
                continue                          # a flow no activity uses cannot change a score
            if location not in (None, "GLO"):
                regional += 1
                continue
            fid = key_id(key)
            factors[fid] = factors.get(fid, 0.0) + (-1.0 if fid in resources else 1.0) * float(value)
        if regional:
            problems.add(f"method {text!r}", f"{regional} regionalised (location-specific) factors ignored",
                         "regionalised assessment is not supported; the site-generic (GLO) factors are used",
                         blocking=False, code="lca_import_regionalised")
        out[mid] = Method(mid, str(m.get("unit") or "score"), factors, text)
    return out
