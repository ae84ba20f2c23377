"""The tools module's face: a registry of versioned tools, and their sandboxed execution.

One file (~340 lines) by rule: a module's whole contract is `contracts/<module>.py`.

Every call to `execute` leaves one audit row, whatever its outcome: run, failed, refused,
rate-limited. Calls that never reach the sandbox raise; calls that ran return an
`Execution` whose `status` says how the run ended.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Protocol, runtime_checkable
from uuid import UUID

import msgspec

from .errors import Conflict, InvalidInput, LimitExceeded, NotFound, PermissionDenied, Unavailable
from .events import Event, EventSource
from .paging import DEFAULT_PAGE_LIMIT

# Dotted lowercase names, like MCP's: `python.exec`, `math.evaluate`.
ToolName = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"),
]
ClientId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")]
ToolPattern = Annotated[
    str, msgspec.Meta(min_length=1, max_length=101, pattern=r"^[a-z0-9_.]+\*?$|^\*$")
]
Source = Annotated[str, msgspec.Meta(min_length=1, max_length=65_536)]
Description = Annotated[str, msgspec.Meta(max_length=2_000)]
TimeoutSeconds = Annotated[float, msgspec.Meta(gt=0, le=60)]
MemoryMB = Annotated[int, msgspec.Meta(ge=32, le=4_096)]
RateCalls = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
RateWindowSeconds = Annotated[int, msgspec.Meta(ge=1, le=86_400)]
Runtime = Literal["python"]

# How a call ended. The first group ran in the sandbox and returns an `Execution`;
# the second never ran and raises the matching error (the audit row is written anyway).
RunStatus = Literal[
    "succeeded",  # exit 0 and a JSON result that fits output_schema
    "failed",  # the tool exited non-zero or was killed by a signal
    "timed_out",  # wall-clock or CPU-time limit
    "memory_limit",  # the address-space limit stopped an allocation
    "output_limit",  # stdout passed the output-size limit; the tool was stopped
    "invalid_output",  # exit 0 but stdout is not JSON, or does not fit output_schema
]
RefusalStatus = Literal["refused", "invalid_params", "rate_limited", "unavailable"]
ExecutionStatus = RunStatus | RefusalStatus


class ToolAnnotations(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Hints for a caller deciding whether to run the tool (MCP's annotations)."""

    read_only: bool = False  # changes nothing outside its sandbox
    destructive: bool = False
    open_world: bool = False  # would talk to the outside world (never allowed here)


class RateLimit(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    calls: RateCalls
    window_s: RateWindowSeconds


class Tool(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID  # of this version
    name: str
    version: int  # 1, 2, 3 ... per name
    description: str
    schema: dict[str, Any]  # JSON Schema of the parameters
    output_schema: dict[str, Any] | None
    runtime: Runtime
    source: str
    timeout_s: float
    memory_mb: int
    annotations: ToolAnnotations
    rate_limit: RateLimit | None  # None: the server's default
    enabled: bool
    builtin: bool  # shipped with Bulkhead and kept current by `bulkhead db upgrade`
    created_at: datetime


class ToolCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: ToolName
    source: Source
    schema: dict[str, Any]
    description: Description = ""
    output_schema: dict[str, Any] | None = None
    runtime: Runtime = "python"
    timeout_s: TimeoutSeconds = 5.0
    memory_mb: MemoryMB = 256
    annotations: ToolAnnotations = msgspec.field(default_factory=ToolAnnotations)
    rate_limit: RateLimit | None = None
    enabled: bool = True


class ToolVersionCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A new version: fields left out are copied from the latest version."""

    source: Source | msgspec.UnsetType = msgspec.UNSET
    schema: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    output_schema: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET
    timeout_s: TimeoutSeconds | msgspec.UnsetType = msgspec.UNSET
    memory_mb: MemoryMB | msgspec.UnsetType = msgspec.UNSET
    annotations: ToolAnnotations | msgspec.UnsetType = msgspec.UNSET
    rate_limit: RateLimit | msgspec.UnsetType | None = msgspec.UNSET
    enabled: bool = True


class ToolEnabledUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    enabled: bool


class ToolPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Tool]


class Caller(msgspec.Struct, frozen=True, kw_only=True):
    """On whose behalf a tool runs: the user, and the client (agent) acting for them."""

    user_id: str
    client_id: str


class ExecutionRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    params: dict[str, Any]
    # None: the latest enabled. Bounded like the column it is looked up in.
    version: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)] | None = None


class CapturedStream(msgspec.Struct, frozen=True, kw_only=True):
    text: str  # the first bytes, decoded; the whole stream when not truncated
    size: int  # bytes the tool wrote in all (up to where it was stopped)
    sha256: str  # of those bytes
    truncated: bool


class ResourceUse(msgspec.Struct, frozen=True, kw_only=True):
    cpu_ms: int
    max_rss_kb: int


class Execution(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    tool_id: UUID | None  # None when no such tool existed
    tool_name: str
    tool_version: int | None
    user_id: str
    client_id: str
    status: ExecutionStatus
    reason: str | None  # why it was refused, failed or stopped
    params: dict[str, Any]
    result: Any  # the tool's JSON output when it succeeded
    exit_code: int | None
    duration_ms: float | None  # wall clock of the sandbox run
    stdout: CapturedStream | None
    stderr: CapturedStream | None
    resources: ResourceUse | None
    created_at: datetime


class ExecutionPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Execution]
    next_cursor: str | None


class ClientPolicy(msgspec.Struct, frozen=True, kw_only=True):
    client_id: str  # "*": clients with no policy of their own
    allowed_tools: list[str]  # names, `prefix.*` patterns, or "*" for every tool
    source: Literal["settings", "admin"]


class ClientPolicyUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    allowed_tools: Annotated[list[ToolPattern], msgspec.Meta(max_length=1_000)]


class ToolUsage(msgspec.Struct, frozen=True, kw_only=True):
    tool_name: str
    calls: int
    succeeded: int
    success_rate: float | None  # succeeded / runs; None when nothing ran
    p50_duration_ms: float | None
    p95_duration_ms: float | None
    refused: int
    rate_limited: int


class ToolStats(msgspec.Struct, frozen=True, kw_only=True):
    since: datetime
    until: datetime
    calls: int
    runs: int  # calls that reached the sandbox
    by_status: dict[str, int]
    success_rate: float | None
    p50_duration_ms: float | None
    p95_duration_ms: float | None
    refused: int
    rate_limited: int
    per_tool: list[ToolUsage]


class ToolNotFound(NotFound):
    """No tool (or no such version of it) by that name."""


class ExecutionNotFound(NotFound):
    """No execution with that id is visible to the caller."""


class ToolExists(Conflict):
    """A tool with that name is registered; add a version instead."""


class ToolDisabled(Conflict):
    """The tool (or the pinned version) is disabled: nothing ran."""


class ToolNotAllowed(PermissionDenied):
    """The client's allow-list does not include this tool: nothing ran."""


class InvalidParams(InvalidInput):
    """The parameters do not fit the tool's JSON Schema; `field` names the path."""


class InvalidToolDefinition(InvalidInput):
    """A schema is not valid JSON Schema, or the definition is otherwise unusable."""


class ToolRateLimited(LimitExceeded):
    """Too many calls of this tool by this client in the sliding window."""


class SandboxUnavailable(Unavailable):
    """The sandbox cannot run here (no bwrap, no namespaces); nothing runs unsandboxed."""


# -- events -----------------------------------------------------------------------------


class ToolExecuted(Event, frozen=True, kw_only=True):
    """Every call, run or refused, as its audit row records it."""

    TYPE: ClassVar[str] = "ToolExecuted"
    AGGREGATE: ClassVar[str] = "execution"
    execution_id: UUID
    tool_name: str
    tool_version: int | None
    client_id: str
    status: str  # an ExecutionStatus
    duration_ms: float | None
    executed_at: datetime

    def aggregate_id(self) -> str:
        return str(self.execution_id)


@runtime_checkable  # Litestar checks injected dependencies against their annotation
class ToolsAPI(EventSource, Protocol):
    async def exists(self, *, name: str, version: int | None = None) -> bool:
        """Whether the tool (or that version of it) is registered and not deleted;
        a disabled tool exists."""
        ...

    async def get(self, *, name: str, version: int | None = None) -> Tool:
        """That version, or the latest enabled one (the latest if none is enabled).
        Raises `ToolNotFound`."""
        ...

    async def list_tools(self, *, include_disabled: bool = False) -> ToolPage:
        """The latest version of every tool, by name."""
        ...

    async def list_versions(self, *, name: str) -> ToolPage:
        """Every version of one tool, oldest first. Raises `ToolNotFound`."""
        ...

    async def register(self, *, tool: ToolCreate) -> Tool:
        """Version 1 of a new tool. Raises `ToolExists`, `InvalidToolDefinition`."""
        ...

    async def add_version(self, *, name: str, version: ToolVersionCreate) -> Tool:
        """The next version; fields not given are the latest version's."""
        ...

    async def set_enabled(
        self, *, name: str, enabled: bool, version: int | None = None
    ) -> ToolPage:
        """Enable or disable one version, or every version when `version` is None."""
        ...

    async def delete(self, *, name: str) -> None:
        """Remove the tool from the registry; its executions stay in the audit log."""
        ...

    async def execute(
        self, *, name: str, params: dict[str, Any], caller: Caller, version: int | None = None
    ) -> Execution:
        """Check, then run in the sandbox. Raises `ToolNotFound`, `ToolDisabled`,
        `ToolNotAllowed`, `InvalidParams`, `ToolRateLimited`, `SandboxUnavailable`; each of
        those calls is recorded too."""
        ...

    async def get_execution(
        self, *, execution_id: UUID, user_id: str, is_admin: bool = False
    ) -> Execution:
        """The caller's own execution (any one for an admin)."""
        ...

    async def list_executions(
        self,
        *,
        tool_name: str | None = None,
        status: str | None = None,
        client_id: str | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> ExecutionPage:
        """The audit log, newest first (an admin view)."""
        ...

    async def list_policies(self) -> list[ClientPolicy]:
        """Every client's allow-list: from settings, overridden by admin-set ones."""
        ...

    async def set_policy(self, *, client_id: str, policy: ClientPolicyUpdate) -> ClientPolicy:
        """Replace the client's allow-list (overrides the settings for that client)."""
        ...

    async def delete_policy(self, *, client_id: str) -> None:
        """Drop the admin-set allow-list; the settings apply again."""
        ...

    async def stats(self, *, since: datetime, until: datetime) -> ToolStats:
        """Calls in [since, until): outcomes, durations, refusals, per tool."""
        ...
