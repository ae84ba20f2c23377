"""The tools Bulkhead ships, kept current in the registry by `bulkhead db upgrade`.

Their code lives beside this file in `builtin/`, as plain scripts that run in the sandbox.
When a release changes one, the upgrade adds a new version; an admin's own versions and
a tool of the same name that an admin registered are left alone.
"""

from __future__ import annotations

from pathlib import Path

from contracts.tools import ToolAnnotations, ToolCreate

_CODE = Path(__file__).parent / "builtin"
_READ_ONLY = ToolAnnotations(read_only=True)

BUILTIN_TOOLS = (
    ToolCreate(
        name="python.exec",
        description=(
            "Run Python code (standard library only) in a sandbox with no network. Returns "
            "what it printed, the repr of a final expression, and any traceback."
        ),
        source=(_CODE / "python_exec.py").read_text(),
        schema={
            "type": "object",
            "properties": {
                "code": {"type": "string", "minLength": 1, "maxLength": 100_000},
                "stdin": {"type": "string", "maxLength": 100_000},
            },
            "required": ["code"],
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {
                "stdout": {"type": "string"},
                "stderr": {"type": "string"},
                "value": {"type": ["string", "null"]},
                "error": {"type": ["string", "null"]},
            },
            "required": ["stdout", "stderr", "value", "error"],
        },
        timeout_s=10.0,
        memory_mb=512,
        annotations=_READ_ONLY,
    ),
    ToolCreate(
        name="math.evaluate",
        description=(
            "Evaluate an arithmetic expression: + - * / // % **, parentheses, pi, e, tau, "
            "and functions such as sqrt, log, sin, factorial, min, max."
        ),
        source=(_CODE / "math_evaluate.py").read_text(),
        schema={
            "type": "object",
            "properties": {"expression": {"type": "string", "minLength": 1, "maxLength": 1_000}},
            "required": ["expression"],
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {"value": {"type": "number"}},
            "required": ["value"],
        },
        timeout_s=2.0,
        memory_mb=128,
        annotations=_READ_ONLY,
    ),
    ToolCreate(
        name="text.stats",
        description=(
            "Count characters, words, unique words, lines and sentences of a text, with its "
            "most frequent words."
        ),
        source=(_CODE / "text_stats.py").read_text(),
        schema={
            "type": "object",
            "properties": {
                "text": {"type": "string", "maxLength": 1_000_000},
                "top": {"type": "integer", "minimum": 1, "maximum": 100},
            },
            "required": ["text"],
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {
                "characters": {"type": "integer"},
                "words": {"type": "integer"},
                "unique_words": {"type": "integer"},
                "lines": {"type": "integer"},
                "sentences": {"type": "integer"},
                "average_word_length": {"type": "number"},
                "top_words": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"word": {"type": "string"}, "count": {"type": "integer"}},
                        "required": ["word", "count"],
                    },
                },
            },
            "required": ["characters", "words", "unique_words", "lines", "sentences"],
        },
        timeout_s=5.0,
        memory_mb=256,
        annotations=_READ_ONLY,
    ),
)
