"""JSON Schema checks with the `jsonschema` library: tool definitions, params, results."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match

from contracts.tools import InvalidParams, InvalidToolDefinition


def check_schema(schema: dict[str, Any], *, field: str) -> None:
    """A tool's `schema` / `output_schema` must itself be valid (Draft 2020-12)."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidToolDefinition(
            f"{field} is not a valid JSON Schema: {exc.message}", field=field
        ) from exc


def check_params(schema: dict[str, Any], params: dict[str, Any]) -> None:
    """Raise `InvalidParams` naming the path of the most relevant failure."""
    error = best_match(Draft202012Validator(schema).iter_errors(params))
    if error is not None:
        path = _dotted("params", error.absolute_path)
        raise InvalidParams(f"{path}: {error.message}", field=path)


def output_problem(schema: dict[str, Any], result: Any) -> str | None:
    """Why the tool's result does not fit its `output_schema`, or None when it does."""
    error = best_match(Draft202012Validator(schema).iter_errors(result))
    if error is None:
        return None
    return f"the result does not fit output_schema at {_dotted('result', error.absolute_path)}: {error.message}"


def _dotted(root: str, path: Any) -> str:
    return "".join([root, *(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)])
