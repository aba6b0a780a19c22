"""Parameters and formulas of model documents, evaluated safely, and their Monte Carlo propagation.

A model document may declare ``parameters`` — named numbers (``value``) or formulas of other
parameters (``formula``) — and write any exchange amount as a formula (docs/lca-model.md)::

    parameters:
      - {name: yield_sx, value: 0.92, uncertainty: {distribution: uniform, min: 0.88, max: 0.95}}
      - {name: acid_per_kg_reo, formula: "1.8 / yield_sx"}

**Safety.**  A formula is parsed with :func:`ast.parse` and *walked*; it is never given to
``eval``/``exec`` or compiled to code.  Only these nodes are accepted: numbers, parameter names,
the operators ``+ - * / **``, unary ``+``/``-``, parentheses, and calls of ``min``, ``max`` (two or
more arguments), ``abs``, ``sqrt``, ``exp``, ``log`` (natural), ``log10`` (one argument), by name, with
positional arguments.  Everything else — attributes (``x.y``), subscripts, other calls
(``__import__('os')``), lambdas, comprehensions, strings, comparisons, ``//``, ``%``, ``^`` — is a
:class:`FormulaError`.  A formula is at most :data:`MAX_FORMULA_CHARS` characters and
:data:`MAX_FORMULA_DEPTH` levels deep; an exponent's magnitude is at most :data:`MAX_EXPONENT`.
Arithmetic is IEEE double (NumPy, with floating-point errors raised): a division by zero, a
logarithm of zero, a square root of a negative number, an overflow or a non-finite result is a
:class:`FormulaError`, never a NaN in a score.

**Order.**  Parameters may use other parameters; they are evaluated in dependency order
(:mod:`graphlib`), and a cycle (``a → b → a``) is an error naming it.

**Monte Carlo.**  A parameter with a ``value`` may carry an ``uncertainty`` (its value is the
median, mean, mode or static value, as for exchanges).  :class:`ParameterMonteCarlo` draws each such
parameter once per iteration, re-evaluates every formula parameter and every exchange amount that
depends on it (vectorised over the iterations), and solves with those values — so two exchanges
sharing a parameter move together, and a non-linear formula is propagated exactly rather than
linearised.  Production amounts, co-product amounts and allocation factors stay at their
deterministic values (the reference flows are the functional unit's normalisation, not a sampled
quantity).
"""

from __future__ import annotations

import ast
import functools
import graphlib
import keyword
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal, cast

import numpy as np

from rareeco.lca.errors import LCAError
from rareeco.lca.matrices import UNIFORM, ExchangeArrays, FloatArray, MatrixData, _arrays
from rareeco.lca.solve import Demand
from rareeco.lca.system import Uncertainty
from rareeco.lca.uncertainty import MonteCarlo, transform

MAX_FORMULA_CHARS = 1000
MAX_FORMULA_DEPTH = 32
MAX_EXPONENT = 100.0
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
Number = float | FloatArray
FORMULA_HELP = ("write a number, or a formula of parameter names with + - * / ** ( ) and min, max, abs, sqrt, exp, "
                "log, log10 (e.g. \"1.8 / yield_sx\")")


class FormulaError(LCAError):
    """A formula is not allowed, refers to an unknown parameter, or cannot be evaluated."""

    code = "lca_formula"


def _power(base: Number, exponent: Number) -> Number:
    if np.any(np.abs(exponent) > MAX_EXPONENT):
        raise FormulaError(f"exponent {_show(exponent)} exceeds ±{MAX_EXPONENT:g}",
                           fix=f"keep exponents within ±{MAX_EXPONENT:g}")
    return np.power(base, exponent)


def _show(x: Number) -> str:
    a = np.asarray(x)
    return f"{float(a):g}" if a.ndim == 0 else f"{float(a.flat[int(np.argmax(np.abs(a)))]):g} (in one draw)"


# name → (function, least, most arguments)
FUNCTIONS: Mapping[str, tuple[Callable[..., Number], int, int | None]] = {
    "min": (lambda *a: functools.reduce(np.minimum, a), 2, None),
    "max": (lambda *a: functools.reduce(np.maximum, a), 2, None),
    "abs": (np.abs, 1, 1),
    "sqrt": (np.sqrt, 1, 1),
    "exp": (np.exp, 1, 1),
    "log": (np.log, 1, 1),
    "log10": (np.log10, 1, 1),
}
_BINARY: Mapping[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide, ast.Pow: _power,
}
_UNARY: Mapping[type[ast.unaryop], Callable[[Number], Number]] = {ast.UAdd: np.positive, ast.USub: np.negative}
_REFUSED: Mapping[type[ast.AST], str] = {
    ast.Attribute: "attribute access (.name) is not allowed",
    ast.Subscript: "subscripts ([ ]) are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed", ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed", ast.GeneratorExp: "comprehensions are not allowed",
    ast.Compare: "comparisons are not allowed", ast.BoolOp: "and/or are not allowed",
    ast.IfExp: "if/else is not allowed", ast.NamedExpr: "assignments (:=) are not allowed",
    ast.JoinedStr: "text is not allowed", ast.Tuple: "tuples are not allowed", ast.List: "lists are not allowed",
    ast.Starred: "* arguments are not allowed",
}
_OPERATOR_TEXT = {ast.FloorDiv: "//", ast.Mod: "%", ast.BitXor: "^ (write ** for a power)", ast.MatMult: "@",
                  ast.BitAnd: "&", ast.BitOr: "|", ast.LShift: "<<", ast.RShift: ">>"}


@dataclass(frozen=True)
class Formula:
    """A checked formula: its text, its syntax tree and the parameter names it uses."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, values: Mapping[str, Number]) -> Number:
        """The value of the formula with ``values`` of its names (floats, or arrays of draws).

        Raises :class:`FormulaError` for an unknown name, a floating-point error (division by zero,
        overflow, log of 0, sqrt of a negative number …) or a non-finite result.
        """
        missing = sorted(self.names - set(values))
        if missing:
            raise FormulaError(f"formula {self.text!r} uses unknown parameter(s) {', '.join(missing)}",
                               fix="declare each name under parameters (name and value or formula)")
        try:
            with np.errstate(all="raise"):
                out = _eval(self.tree, values)
        except FloatingPointError as exc:
            raise FormulaError(f"formula {self.text!r} cannot be evaluated: {_arith(exc)}",
                               fix="check the values of the parameters it uses (a divisor of 0, a log of 0 or "
                                   "less, a square root or fractional power of a negative number, an overflow)"
                               ) from None
        if not np.all(np.isfinite(out)):
            raise FormulaError(f"formula {self.text!r} gives a non-finite value", fix="check the parameter values")
        a = np.asarray(out, dtype=np.float64)
        return float(a) if a.ndim == 0 else a


def _arith(exc: FloatingPointError) -> str:
    text = str(exc)
    for key, what in (("invalid", "invalid operation (0/0, log or sqrt of a negative number, or a negative "
                                  "number to a fractional power)"),
                      ("divide by zero", "division by zero (or log of 0)"), ("overflow", "overflow")):
        if key in text:
            return what
    return text


def _eval(node: ast.expr, values: Mapping[str, Number]) -> Number:
    if isinstance(node, ast.Constant):
        return np.float64(cast(float, node.value))
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_eval(node.left, values), _eval(node.right, values))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_eval(node.operand, values))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return FUNCTIONS[node.func.id][0](*(_eval(a, values) for a in node.args))
    raise FormulaError(f"{type(node).__name__} is not allowed", fix=FORMULA_HELP)   # unreachable after _check


def _check(node: ast.AST, depth: int, names: set[str]) -> None:
    """Accept only whitelisted nodes (see the module notes); collect parameter names into ``names``."""
    def bad(msg: str, fix: str = FORMULA_HELP) -> FormulaError:
        return FormulaError(msg, fix=fix)

    if depth > MAX_FORMULA_DEPTH:
        raise bad(f"the formula is nested more than {MAX_FORMULA_DEPTH} levels deep",
                  "split it into several parameters")
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise bad(f"{v!r} is not allowed in a formula (only numbers and parameter names)")
        try:
            ok = math.isfinite(float(v))
        except OverflowError:
            ok = False
        if not ok:
            raise bad(f"the number {str(v)[:20]}… is not finite" if len(str(v)) > 20 else f"{v!r} is not finite",
                      "write a finite number")
        return
    if isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise bad(f"{node.id} is a function: call it, e.g. {node.id}(x)")
        names.add(node.id)
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise bad(f"operator {_OPERATOR_TEXT.get(type(node.op), type(node.op).__name__)} is not allowed")
        _check(node.left, depth + 1, names)
        _check(node.right, depth + 1, names)
        exponent = _literal(node.right) if isinstance(node.op, ast.Pow) else None
        if exponent is not None and abs(exponent) > MAX_EXPONENT:
            raise bad(f"exponent {exponent:g} exceeds ±{MAX_EXPONENT:g}", f"keep exponents within ±{MAX_EXPONENT:g}")
        return
    if isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise bad("only unary + and - are allowed")
        _check(node.operand, depth + 1, names)
        return
    if isinstance(node, ast.Call):
        func = node.func.id if isinstance(node.func, ast.Name) else None
        if func is None or func not in FUNCTIONS:
            shown = func if func is not None else ast.unparse(node.func)[:40]
            raise bad(f"{shown}() is not an allowed function", f"use {', '.join(FUNCTIONS)}")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise bad(f"{func}() takes positional arguments only")
        _, least, most = FUNCTIONS[func]
        if len(node.args) < least or (most is not None and len(node.args) > most):
            want = f"{least}" if least == most else f"at least {least}"
            raise bad(f"{func}() takes {want} argument(s), got {len(node.args)}")
        for a in node.args:
            _check(a, depth + 1, names)
        return
    raise bad(_REFUSED.get(type(node), f"{type(node).__name__} is not allowed in a formula"))


def _literal(node: ast.expr) -> float | None:
    """The value of a (signed) number literal, None for anything else (checked by :func:`_check` first)."""
    if isinstance(node, ast.Constant):
        return float(cast(float, node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        v = _literal(node.operand)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    return None


def compile_formula(text: str) -> Formula:
    """Parse and check ``text`` against the whitelist (module notes); nothing is executed.

    Raises
    ------
    FormulaError
        Too long, not an expression, or containing anything outside the whitelist.
    """
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be text, got {type(text).__name__}", fix=FORMULA_HELP)
    if len(text) > MAX_FORMULA_CHARS:
        raise FormulaError(f"the formula has {len(text)} characters, more than {MAX_FORMULA_CHARS}",
                           fix="split it into several parameters")
    if not text.strip():
        raise FormulaError("the formula is empty", fix=FORMULA_HELP)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"{text!r} is not a formula: {exc.msg}", fix=FORMULA_HELP) from None
    except (ValueError, RecursionError, MemoryError):
        raise FormulaError(f"{text[:40]!r} is not a formula", fix=FORMULA_HELP) from None
    names: set[str] = set()
    _check(tree.body, 1, names)
    return Formula(text.strip(), tree.body, frozenset(names))


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a parameter (None if it can)."""
    if not NAME.match(name):
        return f"{name!r} is not a valid parameter name (letters, digits and _, not starting with a digit)"
    if keyword.iskeyword(name) or name in FUNCTIONS or name.startswith("__"):
        return f"{name!r} is reserved (a keyword, a function name or a __name__)"
    return None


# --- parameter sets ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Parameter:
    """A named number: ``value`` [``unit``] or ``formula`` of other parameters (exactly one).

    ``unit`` documents the value (formulas are plain arithmetic; the exchange using the result
    gives its unit); ``uncertainty`` (value parameters only) is sampled by :class:`ParameterMonteCarlo`.
    """

    name: str
    value: float | None = None
    formula: str | None = None
    unit: str = ""
    help: str = ""
    source: str = ""
    assumption: str = ""
    uncertainty: Uncertainty | None = None


@dataclass(frozen=True)
class Parameters:
    """Resolved parameters: the value of each and, for computed ones, the formula and evaluation order."""

    definitions: Mapping[str, Parameter]
    values: Mapping[str, float]
    formulas: Mapping[str, Formula]
    order: tuple[str, ...]

    @property
    def uncertain(self) -> tuple[str, ...]:
        """Names of the parameters with a distribution, in declaration order."""
        return tuple(n for n, p in self.definitions.items() if p.uncertainty is not None and n not in self.formulas)

    def closure(self, names: frozenset[str]) -> frozenset[str]:
        """``names`` and every parameter they depend on, directly or not."""
        out: set[str] = set()
        todo = list(names)
        while todo:
            n = todo.pop()
            if n not in out:
                out.add(n)
                if n in self.formulas:
                    todo.extend(self.formulas[n].names)
        return frozenset(out)

    def uncertain_in(self, formula: Formula) -> frozenset[str]:
        """The uncertain parameters ``formula`` depends on."""
        return self.closure(formula.names) & frozenset(self.uncertain)

    def evaluate(self, amount: float | str) -> tuple[float, Formula | None]:
        """A number as it is, or a formula compiled and evaluated: (value, formula or None)."""
        if not isinstance(amount, str):
            return float(amount), None
        formula = compile_formula(amount)
        value = formula.evaluate(self.values)
        assert isinstance(value, float)
        return value, formula

    def sample(self, u: FloatArray) -> dict[str, Number]:
        """Values of every parameter for k draws, from uniforms ``u`` (k × len(uncertain)).

        Each uncertain parameter's uniforms become values by its inverse distribution function
        (as exchanges, :func:`rareeco.lca.uncertainty.transform`); formula parameters are then
        re-evaluated in dependency order, element-wise over the draws.
        """
        names = self.uncertain
        arrays = _arrays([0] * len(names), [0] * len(names), [self.values[n] for n in names],
                         [self.definitions[n].uncertainty for n in names], sign=1.0)
        drawn = transform(arrays, u)
        out: dict[str, Number] = dict(self.values)
        out.update({n: drawn[:, i] for i, n in enumerate(names)})
        for n in self.order:
            out[n] = self.formulas[n].evaluate(out)
        return out


def resolve_parameters(parameters: Sequence[Parameter], overrides: Mapping[str, float] | None = None,
                       ) -> tuple[Parameters, dict[str, FormulaError]]:
    """Compile and evaluate ``parameters`` in dependency order; collect every problem.

    Parameters
    ----------
    parameters : sequence of Parameter
        Unique, valid names (see :func:`name_problem`); each with a value or a formula.
    overrides : mapping name → value, optional
        Values replacing those of the document (a scenario); a formula parameter overridden
        becomes a plain value.

    Returns
    -------
    (Parameters, errors)
        ``errors[name]`` says why parameter ``name`` has no value: a formula outside the whitelist,
        an unknown name, a cycle (named in the message, reported once at its first member) or an
        evaluation error.  Parameters that only depend on a failed one are left out silently (the
        cause is reported).

    Notes
    -----
    The order is a topological sort of "uses" (:class:`graphlib.TopologicalSorter`); each cycle
    found is removed and reported, and the sort repeated, so every cycle is reported at once.
    """
    overrides = dict(overrides or {})
    defs = {p.name: p for p in parameters}
    unknown = sorted(set(overrides) - set(defs))
    if unknown:
        raise LCAError(f"no parameter {', '.join(map(repr, unknown))} to override",
                       fix=f"override one of {sorted(defs)[:20]}")
    errors: dict[str, FormulaError] = {}
    values: dict[str, float] = {}
    formulas: dict[str, Formula] = {}
    for p in parameters:
        if p.name in overrides:
            values[p.name] = float(overrides[p.name])
        elif p.formula is not None:
            try:
                formulas[p.name] = compile_formula(p.formula)
            except FormulaError as exc:
                errors[p.name] = exc
        elif p.value is not None:
            values[p.name] = float(p.value)
    for name, f in formulas.items():
        missing = sorted(f.names - set(defs))
        if missing:
            errors[name] = FormulaError(f"formula {f.text!r} uses unknown parameter(s) {', '.join(missing)}",
                                        fix="declare each name under parameters (or correct its spelling)")
    graph = {n: set(f.names) & set(defs) for n, f in formulas.items() if n not in errors}
    order: list[str] = []
    while graph:
        try:
            order = [n for n in graphlib.TopologicalSorter(graph).static_order() if n in graph]
            break
        except graphlib.CycleError as exc:
            cycle: list[str] = list(exc.args[1])
            first = min(cycle, key=list(defs).index)
            errors[first] = FormulaError(f"parameters form a cycle: {' → '.join(cycle)}",
                                         fix="break the cycle: give one of them a value instead of a formula")
            for n in cycle:
                graph.pop(n, None)
    failed = set(errors)
    evaluated: list[str] = []
    for n in order:
        f = formulas[n]
        if f.names & failed or any(m not in values for m in f.names):
            failed.add(n)
            continue
        try:
            v = f.evaluate(values)
            assert isinstance(v, float)
            values[n] = v
            evaluated.append(n)
        except FormulaError as exc:
            errors[n] = exc
            failed.add(n)
    return Parameters(defs, values, {n: formulas[n] for n in evaluated}, tuple(evaluated)), errors


# --- Monte Carlo with parameters ------------------------------------------------------------------------

@dataclass(frozen=True)
class LinkedAmount:
    """A matrix entry computed from a formula: ``amount = scale × formula(parameters)``.

    ``index`` is the position of the exchange in ``ProductSystem.technosphere`` (``matrix=
    "technosphere"``) or ``.biosphere``; ``scale`` [reference unit per formula unit] holds the unit
    conversion and, for a co-product of a multi-output process, its allocation factor.
    """

    matrix: Literal["technosphere", "biosphere"]
    index: int
    formula: Formula
    scale: float


def _flagged(arrays: ExchangeArrays, positions: Sequence[int]) -> ExchangeArrays:
    """``arrays`` with the entries at ``positions`` marked uncertain (a degenerate uniform on [a, a]).

    The mark puts them among the exchanges the Monte Carlo redraws (and their processes in its
    foreground); :meth:`ParameterMonteCarlo.draw` then replaces their values.
    """
    if not positions:
        return arrays
    dist, lo, hi = arrays.distribution.copy(), arrays.minimum.copy(), arrays.maximum.copy()
    idx = np.asarray(positions, dtype=np.int64)
    dist[idx], lo[idx], hi[idx] = UNIFORM, arrays.amounts[idx], arrays.amounts[idx]
    return replace(arrays, distribution=dist, minimum=lo, maximum=hi)


class ParameterMonteCarlo(MonteCarlo):
    """Monte Carlo in which uncertain parameters are drawn and formulas re-evaluated every iteration.

    Parameters
    ----------
    data : MatrixData
        The system's matrix data (exchanges may carry their own distributions too).
    demands : mapping label → demand
        Compared with common random numbers, as in :class:`~rareeco.lca.uncertainty.MonteCarlo`.
    parameters : Parameters
        The resolved parameters; those with a distribution are drawn.
    linked : sequence of LinkedAmount
        Exchange amounts written as formulas.  Those depending on an uncertain parameter are
        re-evaluated per iteration (an exchange may not also carry its own distribution: the model
        loader refuses that).

    Notes
    -----
    Each batch draws one array of uniforms, iteration-major, with a column per uncertain
    exchange and then per uncertain parameter, so a seed gives the same draws whatever the batch
    size.  A formula's value in iteration *i* is exactly the formula of that iteration's parameter
    values (no linearisation); exchanges sharing a parameter are therefore correlated as the
    formulas say.
    """

    def __init__(self, data: MatrixData, demands: Mapping[str, Demand], parameters: Parameters,
                 linked: Sequence[LinkedAmount], seed: int | None = None, partition: bool = True) -> None:
        self.parameters = parameters
        n = len(data.processes)
        live = [x for x in linked if parameters.uncertain_in(x.formula)]
        t_pos = [n + x.index for x in live if x.matrix == "technosphere"]
        b_pos = [x.index for x in live if x.matrix == "biosphere"]
        if data.technosphere.uncertain[t_pos].any() or data.biosphere.uncertain[b_pos].any():
            raise LCAError("an exchange computed from uncertain parameters also has its own distribution",
                           fix="give the uncertainty to a parameter, or to the exchange, not both")
        data = replace(data, technosphere=_flagged(data.technosphere, t_pos),
                       biosphere=_flagged(data.biosphere, b_pos))
        super().__init__(data, demands, seed=seed, partition=partition)
        self._t_links = [(int(np.searchsorted(self._t_unc, n + x.index)), x) for x in live
                         if x.matrix == "technosphere"]
        self._b_links = [(int(np.searchsorted(self._b_unc, x.index)), x) for x in live if x.matrix == "biosphere"]

    def draw(self, iterations: int) -> tuple[FloatArray, FloatArray]:
        """Values of the uncertain exchanges for the next ``iterations``, formulas re-evaluated per draw."""
        m_t, m_b, m_p = self._t_unc.size, self._b_unc.size, len(self.parameters.uncertain)
        u = self._rng.random((iterations, m_t + m_b + m_p))
        t_vals, b_vals = transform(self._tech_u, u[:, :m_t]), transform(self._bio_u, u[:, m_t:m_t + m_b])
        values = self.parameters.sample(u[:, m_t + m_b:])
        for col, x in self._t_links:
            t_vals[:, col] = -x.scale * np.broadcast_to(x.formula.evaluate(values), (iterations,))
        for col, x in self._b_links:
            b_vals[:, col] = x.scale * np.broadcast_to(x.formula.evaluate(values), (iterations,))
        return t_vals, b_vals

