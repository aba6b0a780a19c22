"""Parameters and formulas (rareeco.lca.parameters): safe evaluation, dependency order, Monte Carlo.

The model used is docs/examples/oxide-separation.yaml (made-up numbers), solved by hand:

    parameters: yield_sx = 0.8 (uniform 0.7–0.9), acid_per_run = 2 / yield_sx = 2.5, kwh_per_run = 5
    one run of sx: 5 kWh × 0.8 + 2.5 kg acid × 0.5 + 4.75 direct = 4 + 1.25 + 4.75 = 10 kg CO2e,
    making 1 kg La oxide and 3 kg Ce oxide; economic allocation on 2024-06-30:
    La 1 × 10 CNY = 10, Ce 3 × 5 CNY = 15 → factors 0.4 / 0.6,
    so 1 kg La oxide = 0.4 × 10 = 4 kg CO2e and 1 kg Ce oxide = 0.6 × 10 / 3 = 2 kg CO2e.

With yield_sx = y: one run = 4 + 0.5 · 2/y + 4.75 = 8.75 + 1/y, so La = 0.4 (8.75 + 1/y) = 3.5 + 0.4/y and
Ce = 0.2 (8.75 + 1/y) = La / 2 exactly, in every Monte Carlo draw (common parameter).
For y ~ U(0.7, 0.9): E[1/y] = ln(0.9/0.7) / 0.2, so E[La] = 3.5 + 2 ln(9/7) ≈ 4.002629 — not 4:
the formula is propagated exactly, not linearised.  La lies in [3.5 + 0.4/0.9, 3.5 + 0.4/0.7].
"""

from __future__ import annotations

import ast
import builtins
import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rareeco.errors import ValidationFailed
from rareeco.lca import LCA, LCAError
from rareeco.lca.model import load_model, model_from_document
from rareeco.lca.parameters import (
    MAX_FORMULA_CHARS,
    FormulaError,
    Parameter,
    compile_formula,
    name_problem,
    resolve_parameters,
)

ROOT = Path(__file__).resolve().parents[1]
OXIDES = ROOT / "docs" / "examples" / "oxide-separation.yaml"


def oxide_doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(OXIDES.read_text(encoding="utf-8"))
    return doc


def value(text: str, **values: float) -> float:
    v = compile_formula(text).evaluate(values)
    assert isinstance(v, float)
    return v


# --- the evaluator ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("2 + 3 * 4 ** 2", 50.0),                 # precedence as in Python: 4² = 16, × 3 = 48, + 2
    ("-2 ** 2", -4.0),                        # unary minus binds looser than **
    ("(1 + 2) / 4", 0.75),
    ("+x - -y", 5.0),                         # x = 2, y = 3
    ("2 ** -1", 0.5),
    ("min(x, y, 1)", 1.0), ("max(x, y)", 3.0), ("abs(x - y)", 1.0),
    ("sqrt(16)", 4.0), ("log(exp(2))", 2.0), ("log10(1000)", 3.0),
    ("1e3 / x", 500.0), ("1_000", 1000.0),
    ("x ** 0.5 * x ** 0.5", 2.0),
])
def test_formulas_give_the_hand_values(text: str, expected: float) -> None:
    assert value(text, x=2.0, y=3.0) == pytest.approx(expected, rel=1e-15)


def test_a_formula_lists_the_names_it_uses() -> None:
    assert compile_formula("a * sqrt(b) + min(a, c)").names == {"a", "b", "c"}


REFUSED = [
    "__import__('os')", "__import__('os').system('true')", "os.system('true')", "().__class__",
    "x.real", "x[0]", "lambda: 1", "(lambda x: x)(1)", "[i for i in x]", "{1: 2}", "'text'", "b'x'", "f'{x}'",
    "x if y else 1", "x < y", "x and y", "not x", "~x", "x // 2", "x % 2", "x ^ 2", "x @ y", "x << 1",
    "2 ** 1000", "10 ** -101", "open('f')", "eval('1')", "exec('1')", "getattr(x, 'y')", "globals()",
    "min()", "min(1)", "sqrt(1, 2)", "sqrt(x=1)", "max(*x)", "(x := 1)", "True", "None", "...", "1j",
    "1e400", "9" * 400, "sqrt", "x; y", "x = 1", "import os", "", "  ", "(1, 2)", "[1]",
    "sqrt(" * 40 + "1" + ")" * 40, "1" + "+1" * 40, "-" * 40 + "1", "x" * (MAX_FORMULA_CHARS + 1),
]


@pytest.mark.parametrize("text", REFUSED)
def test_everything_outside_the_whitelist_is_refused(text: str) -> None:
    with pytest.raises(FormulaError) as info:
        compile_formula(text)
    assert info.value.fix


@pytest.mark.parametrize(("text", "values", "match"), [
    ("1 / x", {"x": 0.0}, "division by zero"),
    ("0 / x", {"x": 0.0}, "invalid operation"),
    ("log(x)", {"x": 0.0}, "division by zero"),
    ("sqrt(x)", {"x": -1.0}, "invalid operation"),
    ("x ** (1/3)", {"x": -8.0}, "invalid operation"),
    ("exp(x)", {"x": 1000.0}, "overflow"),
    ("2 ** x", {"x": 101.0}, "exponent 101 exceeds"),       # an exponent from a parameter is bounded too
    ("x * y", {"x": 1.0}, "unknown parameter"),
])
def test_evaluation_errors_are_formula_errors(text: str, values: dict[str, float], match: str) -> None:
    with pytest.raises(FormulaError, match=match):
        compile_formula(text).evaluate(values)


TOKENS = st.sampled_from([
    "x", "y", "1", "2.5", "1e308", "0", "+", "-", "*", "/", "**", "(", ")", ",", "min", "max", "sqrt", "log",
    "exp", "abs", "__import__", "'os'", ".", "system", "[", "]", "lambda", ":", "for", "in", "if", "else", "==",
    "//", "%", "^", "getattr", "__class__", "__builtins__", "open", "eval", "=", ";", "\n", " ", "{", "}", "@",
    "not", "and", "True", "None", "9" * 30,
])


@settings(max_examples=400, deadline=None)
@given(st.lists(TOKENS, max_size=25).map(" ".join), st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_no_text_escapes_the_whitelist(text: str, x: float, y: float) -> None:
    """Any text is refused with a FormulaError, or accepted with only whitelisted nodes; evaluating it gives
    a finite number or a FormulaError; Python's compiler is only ever asked for a syntax tree, never for code."""
    allowed = (ast.Expression, ast.Constant, ast.Name, ast.Load, ast.BinOp, ast.UnaryOp, ast.Call, ast.Add,
               ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.UAdd, ast.USub)
    real_compile = builtins.compile
    calls: list[int] = []

    def guarded(source: Any, filename: Any, mode: Any, flags: int = 0, *args: Any, **kwargs: Any) -> Any:
        calls.append(flags)
        assert flags & ast.PyCF_ONLY_AST, "compile() asked for code, not a syntax tree"
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    builtins.compile = guarded
    try:
        try:
            f = compile_formula(text)
        except FormulaError:
            return
        for node in ast.walk(f.tree):
            assert isinstance(node, allowed), ast.dump(node)
            if isinstance(node, ast.Call):
                assert isinstance(node.func, ast.Name) and node.func.id in {"min", "max", "abs", "sqrt", "exp",
                                                                              "log", "log10"}
        try:
            v = f.evaluate({"x": x, "y": y})
        except FormulaError:
            return
        assert math.isfinite(float(v))
    finally:
        builtins.compile = real_compile
    assert all(flags & ast.PyCF_ONLY_AST for flags in calls)


@pytest.mark.parametrize(("name", "ok"), [("yield_sx", True), ("_x1", True), ("1x", False), ("a-b", False),
                                          ("lambda", False), ("sqrt", False), ("__class__", False), ("é", False)])
def test_parameter_names(name: str, ok: bool) -> None:
    assert (name_problem(name) is None) is ok


# --- resolving parameters ----------------------------------------------------------------------------

def test_parameters_are_evaluated_in_dependency_order() -> None:
    """c = a + b, b = 2a, a = 1 (declared in that order) → b = 2, c = 3."""
    params, errors = resolve_parameters([Parameter("c", formula="a + b"), Parameter("b", formula="2 * a"),
                                         Parameter("a", value=1.0)])
    assert not errors
    assert dict(params.values) == {"a": 1.0, "b": 2.0, "c": 3.0}
    assert params.order == ("b", "c")
    params, _ = resolve_parameters([Parameter("c", formula="a + b"), Parameter("b", formula="2 * a"),
                                    Parameter("a", value=1.0)], overrides={"a": 5.0, "b": 1.0})
    assert dict(params.values) == {"a": 5.0, "b": 1.0, "c": 6.0}   # an overridden formula becomes a value
    with pytest.raises(LCAError, match="no parameter 'z' to override"):
        resolve_parameters([Parameter("a", value=1.0)], overrides={"z": 1.0})


def test_every_cycle_is_named_once_and_dependents_are_not_reported() -> None:
    params, errors = resolve_parameters([
        Parameter("a", formula="b + 1"), Parameter("b", formula="a * 2"),         # a → b → a
        Parameter("c", formula="c"),                                              # c → c
        Parameter("d", formula="a + 1"),                                          # depends on the loop
        Parameter("e", formula="unknown * 2"), Parameter("f", formula="1 / g"), Parameter("g", value=0.0),
        Parameter("h", formula="g + 1"),
    ])
    assert set(errors) == {"a", "c", "e", "f"}
    assert "cycle" in errors["a"].message and ("a → b → a" in errors["a"].message
                                               or "b → a → b" in errors["a"].message)
    assert "c → c" in errors["c"].message
    assert "unknown parameter(s) unknown" in errors["e"].message
    assert "division by zero" in errors["f"].message
    assert dict(params.values) == {"g": 0.0, "h": 1.0}


# --- parameters in a model document --------------------------------------------------------------------

def test_formula_amounts_give_the_hand_solution() -> None:
    model = load_model(OXIDES)
    lca = LCA.from_system(model.system, "test-gwp")
    assert model.parameters.values["acid_per_run"] == 2.5
    assert lca.score({"la-oxide": 1.0}) == pytest.approx(4.0, rel=1e-14)
    assert lca.score({"ce-oxide": 1.0}) == pytest.approx(2.0, rel=1e-14)
    scenario = load_model(OXIDES, parameters={"yield_sx": 0.5})           # acid 4 kg: La = 0.4 (8.75 + 2)
    assert LCA.from_system(scenario.system, "test-gwp").score({"la-oxide": 1.0}) == pytest.approx(4.3, rel=1e-14)


def problems(doc: Any) -> list[str]:
    with pytest.raises(ValidationFailed) as info:
        model_from_document(doc, "model.yaml")
    for f in info.value.findings:
        assert f.fix and f.message.startswith(f"{f.column}: ")
    return [str(f.column) for f in info.value.findings]


@pytest.mark.parametrize("text", ["__import__('os').system('touch /tmp/pwned')", "kwh_per_run.real",
                                  "(lambda: 1)()", "kwh_per_run ** 1000", "'5'", "kwh_per_run[0]",
                                  "kwh_per_rum * 2", "1 / (kwh_per_run - 5)"])
def test_bad_formulas_in_a_document_are_findings_with_their_path(text: str) -> None:
    doc = oxide_doc()
    doc["processes"][0]["inputs"][0]["amount"] = text
    assert problems(doc) == ["processes[0].inputs[0].amount"]


@pytest.mark.parametrize(("change", "paths"), [
    (lambda d: d["parameters"].extend([{"name": "a", "formula": "b"}, {"name": "b", "formula": "a"}]),
     ["parameters[3].formula"]),
    (lambda d: d["parameters"].append({"name": "yield_sx", "value": 1}), ["parameters[3].name"]),
    (lambda d: d["parameters"].append({"name": "2x", "value": 1}), ["parameters[3].name"]),
    (lambda d: d["parameters"].append({"name": "z", "value": 1, "formula": "2"}), ["parameters[3]"]),
    (lambda d: d["parameters"].append({"name": "z"}), ["parameters[3].value"]),
    (lambda d: d["parameters"].append({"name": "z", "formula": "yield_sx * 2",
                                       "uncertainty": {"distribution": "normal", "std": 1}}), ["parameters[3]"]),
    (lambda d: d["parameters"][2].update(value=0, uncertainty={"distribution": "lognormal", "sigma": 0.1}),
     ["parameters[2].uncertainty"]),                     # a lognormal needs a non-zero median
    (lambda d: d["parameters"][0].update(value=0),                  # outside its uniform; 2 / yield_sx: ÷ 0
     ["parameters[0].uncertainty", "parameters[1].formula"]),
    (lambda d: d["processes"][0]["inputs"][1].update(uncertainty={"distribution": "normal", "std": 0.1}),
     ["processes[0].inputs[1].uncertainty"]),            # acid_per_run already depends on uncertain yield_sx
    (lambda d: d["processes"][1].update(production_amount="kwh_per_run - 5"), ["processes[1].production_amount"]),
])
def test_parameter_problems_name_their_path(change: Any, paths: list[str]) -> None:
    doc = copy.deepcopy(oxide_doc())
    change(doc)
    assert problems(doc) == paths


def test_an_exchange_using_a_failed_parameter_is_not_reported_twice() -> None:
    doc = oxide_doc()
    doc["parameters"][1]["formula"] = "2 / (yield_sx - 0.8)"       # acid_per_run fails; inputs[1] uses it
    assert problems(doc) == ["parameters[1].formula"]


# --- Monte Carlo -------------------------------------------------------------------------------------------

def test_monte_carlo_propagates_parameters_through_formulas() -> None:
    """E[La] = 3.5 + 2 ln(9/7); every draw within [3.5 + 0.4/0.9, 3.5 + 0.4/0.7]; Ce = La / 2 in each draw."""
    model = load_model(OXIDES)
    demands = {"La": {"la-oxide": 1.0}, "Ce": {"ce-oxide": 1.0}}
    r = model.monte_carlo(demands, seed=7).run(20_000)
    la, ce = r.column("La"), r.column("Ce")
    s = r.summary()["La"]
    assert abs(s.mean - (3.5 + 2 * math.log(9 / 7))) < 4 * s.sem
    assert abs(s.mean - 4.0) > 4 * s.sem                                   # not the linearised value
    assert la.min() >= 3.5 + 0.4 / 0.9 - 1e-12 and la.max() <= 3.5 + 0.4 / 0.7 + 1e-12
    assert np.allclose(ce, la / 2, rtol=1e-13, atol=0)
    again = model.monte_carlo(demands, seed=7).run(20_000, batch_size=333)
    assert np.array_equal(again.scores, r.scores)                          # a seed gives the same draws
    full = model.monte_carlo({"La": {"la-oxide": 1.0}}, seed=7, partition=False).run(100)
    assert np.allclose(full.column("La"), la[:100], rtol=1e-12)            # same draws, other demands


def test_each_draw_equals_the_model_rebuilt_with_the_drawn_value() -> None:
    """From a draw's La score, y = 0.4 / (La − 3.5); rebuilding the model with that y gives the same score."""
    model = load_model(OXIDES)
    la = model.monte_carlo({"La": {"la-oxide": 1.0}}, seed=3).run(5).column("La")
    for score in la:
        y = 0.4 / (score - 3.5)
        rebuilt = load_model(OXIDES, parameters={"yield_sx": y})
        assert LCA.from_system(rebuilt.system, "test-gwp").score({"la-oxide": 1.0}) == pytest.approx(score, rel=1e-12)


def test_without_uncertain_parameters_the_plain_monte_carlo_is_used() -> None:
    doc = oxide_doc()
    del doc["parameters"][0]["uncertainty"]
    model = model_from_document(doc)
    mc = model.monte_carlo({"La": {"la-oxide": 1.0}}, seed=1)
    assert type(mc).__name__ == "MonteCarlo"
    assert np.all(mc.run(10).column("La") == pytest.approx(4.0, rel=1e-14))
