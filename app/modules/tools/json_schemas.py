"""JSON Schema checks with the `jsonschema` library: tool definitions, params, results.

Schemas are written by admins but evaluated on every call, on the event loop, against
callers' input, so two things `jsonschema` would do by default are closed off:
- references are local only (`#...`): a remote `$ref` is refused at registration, and the
  validators get an empty registry that never fetches (no request forgery, no stalls);
- regular expressions (`pattern`, `patternProperties`, and the additional properties they
  decide) run on RE2, whose time is linear in the input: `^(a+)+$` cannot backtrack for
  seconds. A pattern RE2 cannot express (back-references, look-around) is refused at
  registration with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

import re2
from jsonschema import Draft202012Validator, _keywords, validators
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from contracts.tools import InvalidParams, InvalidToolDefinition

_REFERENCE_KEYWORDS = ("$ref", "$dynamicRef")
# A keyword's rule, as the library calls it: (validator, value, instance, schema) -> errors.
# The stubs describe the library's own rules as returning None; they are generators.
Rule = Callable[[Any, Any, Any, dict[str, Any]], Iterator[ValidationError]]
_additional_properties = cast(Rule, _keywords.additionalProperties)
_LOCAL_BASE = "urn:bulkhead:tool-schema"


def _search(pattern: str, text: str) -> bool:
    return re2.search(pattern, text) is not None


def _pattern(
    validator: Validator, pattern: str, instance: Any, _: Any
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Draft202012Validator, patterns: dict[str, Any], instance: Any, _: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties_re2(
    validator: Validator, additional: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    patterns = list(schema.get("patternProperties", {}))
    if not patterns or not validator.is_type(instance, "object"):
        yield from _additional_properties(validator, additional, instance, schema)
        return
    known = schema.get("properties", {})
    # The library's own rule, with the matching done by RE2 and matched keys set aside.
    matched = {k for k in instance if k in known or any(_search(p, k) for p in patterns)}
    narrowed = {**schema, "properties": dict.fromkeys(matched, True), "patternProperties": {}}
    yield from _additional_properties(validator, additional, instance, narrowed)


BoundedValidator: type[Validator] = validators.extend(  # type: ignore[no-untyped-call]  # untyped in the stubs
    Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties_re2,
    },
)


def _validator(schema: dict[str, Any]) -> Validator:
    return BoundedValidator(schema, registry=Registry())


def check_schema(schema: dict[str, Any], *, field: str) -> None:
    """A tool's `schema` / `output_schema` must be valid (Draft 2020-12), local and safe."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidToolDefinition(
            f"{field} is not a valid JSON Schema: {exc.message}", field=field
        ) from exc
    for path, keyword, value in _walk(schema, field):
        if keyword in _REFERENCE_KEYWORDS and isinstance(value, str):
            _check_reference(schema, path, value, field)
        if keyword == "unevaluatedProperties" and _has_pattern_properties(schema):
            raise InvalidToolDefinition(
                f"{path}: unevaluatedProperties together with patternProperties is not supported",
                field=field,
            )
        for pattern in _patterns_of(keyword, value):
            try:
                re2.compile(pattern)
            except re2.error as exc:
                raise InvalidToolDefinition(
                    f"{path}: the pattern {pattern!r} needs backtracking, which is not allowed "
                    f"(RE2 syntax: no back-references or look-around): {exc}",
                    field=field,
                ) from exc


def _first_error(schema: dict[str, Any], instance: Any) -> ValidationError | None:
    try:
        found: ValidationError | None = best_match(_validator(schema).iter_errors(instance))
        return found
    except Unresolvable as exc:  # registration checks references; a nested $id can still hide one
        raise InvalidToolDefinition(
            f"the tool's schema has a reference to nothing: {exc}"
        ) from None


def check_params(schema: dict[str, Any], params: dict[str, Any]) -> None:
    """Raise `InvalidParams` naming the path of the most relevant failure."""
    error = _first_error(schema, params)
    if error is not None:
        path = _dotted("params", error.absolute_path)
        raise InvalidParams(f"{path}: {error.message}", field=path)


def output_problem(schema: dict[str, Any], result: Any) -> str | None:
    """Why the tool's result does not fit its `output_schema`, or None when it does."""
    error = _first_error(schema, result)
    if error is None:
        return None
    return f"the result does not fit output_schema at {_dotted('result', error.absolute_path)}: {error.message}"


def _check_reference(schema: dict[str, Any], path: str, reference: str, field: str) -> None:
    if not reference.startswith("#"):
        raise InvalidToolDefinition(
            f"{path}: only references inside the schema ('#/...') are allowed, not {reference!r}",
            field=field,
        )
    resource = Resource.from_contents(schema, default_specification=DRAFT202012)
    base = resource.id() or _LOCAL_BASE
    try:
        Registry().with_resource(base, resource).resolver(base_uri=base).lookup(reference)
    except Unresolvable:
        raise InvalidToolDefinition(
            f"{path}: the reference {reference!r} points at nothing in the schema", field=field
        ) from None


def _walk(node: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    """Every (path, keyword, value) in a schema, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


def _patterns_of(keyword: str, value: Any) -> list[str]:
    if keyword == "pattern" and isinstance(value, str):
        return [value]
    if keyword == "patternProperties" and isinstance(value, dict):
        return list(value)
    return []


def _has_pattern_properties(schema: dict[str, Any]) -> bool:
    return any(keyword == "patternProperties" for _, keyword, _ in _walk(schema, ""))


def _dotted(root: str, path: Any) -> str:
    return "".join([root, *(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)])
