"""Built-in tool `math.evaluate`: evaluate an arithmetic expression, safely.

Only numbers, + - * / // % **, parentheses, the functions and constants below; the
expression is parsed, never `eval`ed. Huge powers and factorials are refused.
"""

import ast
import json
import math
import operator
import sys
from collections.abc import Callable
from typing import Any

Number = int | float
FUNCTIONS: dict[str, Callable[..., Any]] = {
    name: getattr(math, name)
    for name in (
        "sqrt",
        "exp",
        "log",
        "log2",
        "log10",
        "sin",
        "cos",
        "tan",
        "asin",
        "acos",
        "atan",
        "atan2",
        "sinh",
        "cosh",
        "tanh",
        "floor",
        "ceil",
        "fabs",
        "factorial",
        "gcd",
        "hypot",
        "degrees",
        "radians",
        "comb",
        "perm",
    )
} | {"abs": abs, "round": round, "min": min, "max": max}
CONSTANTS: dict[str, Number] = {"pi": math.pi, "e": math.e, "tau": math.tau}
BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


class Refused(ValueError):
    pass


def evaluate(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        return CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        return UNARY[type(node.op)](evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        left, right = evaluate(node.left), evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 10_000 and abs(left) > 1:
            raise Refused("exponent too large (at most 10000)")
        return BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        function = FUNCTIONS.get(node.func.id)
        if function is None:
            raise Refused(
                f"unknown function {node.func.id!r}; known: {', '.join(sorted(FUNCTIONS))}"
            )
        args = [evaluate(arg) for arg in node.args]
        if function is math.factorial and args and args[0] > 5_000:
            raise Refused("factorial argument too large (at most 5000)")
        return function(*args)
    raise Refused(f"not allowed in an expression: {ast.unparse(node)!r}")


expression = json.load(sys.stdin)["expression"]
try:
    value = evaluate(ast.parse(expression, mode="eval"))
    if isinstance(value, float) and not math.isfinite(value):
        raise Refused("the result is not a finite number")
    if isinstance(value, int) and value.bit_length() > 1_000:
        raise Refused("the result is too large (over 1000 bits)")
except (SyntaxError, Refused, ArithmeticError, ValueError, TypeError) as exc:
    sys.exit(f"cannot evaluate {expression!r}: {exc}")
json.dump({"value": value}, sys.stdout)
