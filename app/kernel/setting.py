"""How a setting is declared: once, as a dataclass field with its variable, kind and meaning.

Every group of settings (the kernel's, the event system's, each module's) is a frozen
dataclass whose fields are made by `setting(...)`. The field's default is the only copy of
the default; its `Kind` parses the variable and writes the default back the way a user
would type it, so `bulkhead settings` and the README's table come from the same place.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, Generic, Literal, Protocol, TypeVar

T = TypeVar("T")
G = TypeVar("G")

PREFIX = "BULKHEAD_"
Source = Literal["default", "environment", "file"]


class SettingsError(ValueError):
    """A `BULKHEAD_*` variable has a value the server cannot use. The message never
    carries a password: URLs in it are masked."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {mask_credentials(problem)}")
        self.variable = variable


# `user:password@` in a URL, well-formed or not: whatever lies between a colon and an @.
_CREDENTIALS = re.compile(r":[^:@\s'\"/]*@")


def mask_credentials(text: str) -> str:
    """`redis://u:secret@host` -> `redis://u:***@host`, wherever such a part appears."""
    return _CREDENTIALS.sub(":***@", text)


class Kind(Protocol[T]):
    """How one kind of value is read from its variable, and written back for people."""

    def parse(self, raw: str, variable: str) -> T: ...

    def show(self, value: T) -> str: ...


@dataclass(frozen=True)
class Declared:
    """What `setting()` stores on a field: everything but the default."""

    variable: str  # the whole name, BULKHEAD_ included
    kind: Kind[Any]
    doc: str
    secret: bool = False  # shown masked by `bulkhead settings`
    default_text: str | None = None  # when the default is not a value (generated, unset: ...)
    empty_is_unset: bool = True  # False: an empty value is parsed (and may be refused)

    def shown_default(self, default: object) -> str:
        if self.default_text is not None:
            return self.default_text
        return "unset" if default is None else self.kind.show(default)


def setting(
    variable: str,
    default: T,
    kind: Kind[Any],
    doc: str,
    *,
    secret: bool = False,
    default_text: str | None = None,
    empty_is_unset: bool = True,
) -> T:
    """A settings field read from `BULKHEAD_<variable>`; `default` when unset or empty."""
    declared = Declared(f"{PREFIX}{variable}", kind, doc, secret, default_text, empty_is_unset)
    if isinstance(default, dict | list | set):  # each instance gets its own copy
        return field(default_factory=lambda: copy.copy(default), metadata={"setting": declared})
    return field(default=default, metadata={"setting": declared})


def declared_fields(group: type) -> list[tuple[Field[Any], Declared]]:
    """The group's fields made by `setting()`, in order."""
    return [(f, f.metadata["setting"]) for f in fields(group) if "setting" in f.metadata]


def default_of(f: Field[Any]) -> object:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None


def parse_group(group: type[G], environ: Mapping[str, str]) -> G:
    """The group's values: each variable parsed when set and not empty, else its default.
    A group that checks values together does so in its `__post_init__`."""
    values: dict[str, Any] = {}
    for f, declared in declared_fields(group):
        raw = environ.get(declared.variable)
        if raw is not None and (raw != "" or not declared.empty_is_unset):
            values[f.name] = declared.kind.parse(raw, declared.variable)
    return group(**values)


def source_of(declared: Declared, environ: Mapping[str, str]) -> Source:
    return "environment" if environ.get(declared.variable) else "default"


# -- the kinds every group uses ---------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """Any text; `pattern` (a full match) narrows it, `hint` says what is expected."""

    pattern: str | None = None
    hint: str = ""

    def parse(self, raw: str, variable: str) -> str:
        if self.pattern is not None and not re.fullmatch(self.pattern, raw):
            raise SettingsError(variable, f"{raw!r}; {self.hint}")
        return raw

    def show(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class Integer:
    minimum: int

    def parse(self, raw: str, variable: str) -> int:
        try:
            value = int(raw)
        except ValueError as exc:
            raise SettingsError(variable, f"{raw!r} is not an integer") from exc
        if value < self.minimum:
            raise SettingsError(variable, f"must be at least {self.minimum}, got {value}")
        return value

    def show(self, value: int) -> str:
        return str(value)


@dataclass(frozen=True)
class Milliseconds:
    """Written in milliseconds, held in seconds (a float)."""

    minimum: int = 1

    def parse(self, raw: str, variable: str) -> float:
        return Integer(self.minimum).parse(raw, variable) / 1000

    def show(self, value: float) -> str:
        return str(round(value * 1000))


_DURATION_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}


@dataclass(frozen=True)
class Duration:
    """`90s`, `30m`, `1h`, `30d`, `2w`, held in whole seconds."""

    def parse(self, raw: str, variable: str) -> int:
        match = re.fullmatch(r"(\d{1,7})([smhdw])", raw.strip())
        if not match or int(match.group(1)) == 0:
            raise SettingsError(variable, f"{raw!r}; use a positive duration like 90s, 1h, 30d")
        return int(match.group(1)) * _DURATION_UNITS[match.group(2)]

    def show(self, value: int) -> str:
        unit = next(u for u, s in _DURATION_UNITS.items() if value % s == 0)
        return f"{value // _DURATION_UNITS[unit]}{unit}"


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]
    upper: bool = False  # accept any case, hold upper case (log levels)

    def parse(self, raw: str, variable: str) -> str:
        value = raw.upper() if self.upper else raw
        if value not in self.options:
            raise SettingsError(variable, f"{raw!r}; use one of {', '.join(self.options)}")
        return value

    def show(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class Url:
    """A URL with one of `schemes`."""

    schemes: tuple[str, ...]

    def parse(self, raw: str, variable: str) -> str:
        if not raw.startswith(tuple(f"{s}://" for s in self.schemes)):
            readable = ", ".join(f"{s}://" for s in self.schemes)
            raise SettingsError(variable, f"{raw!r} is not a URL of {readable}")
        return raw

    def show(self, value: str) -> str:
        return mask_credentials(value)


@dataclass(frozen=True)
class Parsed(Generic[T]):
    """A kind of its own: a parse function and how to show a value."""

    parse_with: Callable[[str, str], T]
    show_with: Callable[[T], str] = str

    def parse(self, raw: str, variable: str) -> T:
        return self.parse_with(raw, variable)

    def show(self, value: T) -> str:
        return self.show_with(value)
