"""Model gates: rules on the test metrics (``eval.gates``), e.g. 'recall>=0.9'."""

from __future__ import annotations

from typing import Any

from distml.config.eval import parse_gate

_OPS = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
}


def model_gates(gates: list[str], metrics: dict[str, Any]) -> dict[str, Any]:
    """Each 'metric op value' rule against the test metrics: {passed, gates, reasons}."""
    reasons, results = [], []
    for g in gates:
        name, op, value = parse_gate(g)
        got = metrics.get(name)
        ok = got is not None and _OPS[op](got, value)
        results.append({"gate": g, "value": got, "passed": bool(ok)})
        if not ok:
            reasons.append(
                f"{name}={got!r} does not satisfy {op} {value:g}"
                if got is not None
                else f"{name} is undefined on test"
            )
    return {"passed": not reasons, "gates": results, "reasons": reasons}
