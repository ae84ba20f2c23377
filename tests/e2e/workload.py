"""One workload through the public API that touches every module, and the end state it
leaves, read back through the public API.

Run against a single process and against a split deployment, the two end states must be
equal: nothing in it depends on where a module runs. Ids and times are left out of it; what
a user and an operator can see is in it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import httpx

Token = Callable[[str, bool], str]  # (user, admin) -> a bearer token
USERS = ("ana", "ben", "cy")
LEAVER = "cy"  # deletes her account at the end
DOCUMENTS = {
    "harbour.md": "The harbour opens at dawn. Fishing boats leave before the ferries do.",
    "tea.md": "Green tea is steeped at eighty degrees for two minutes, never boiled.",
    "trains.md": "The night train to the coast stops at every station after midnight.",
    "bread.md": "Sourdough needs a starter fed the day before, and a long cold proof.",
}
# Counts the analytics read model must agree on with the modules that own them.
ANALYTICS_VS_OWNERS = {
    "sessions_created": ("conversation", "sessions_created"),
    "messages": ("conversation", "messages"),
    "tool_calls": ("tools", "calls"),
    "searches": ("rag", "searches"),
    "memories_added": ("memory", "entries_added"),
}


def run_workload(base: str, token: Token) -> dict[str, Any]:
    """Drive every module, wait for the events to settle, delete one account; return the
    end state."""
    admin = _client(base, token("ops", True))
    for source, text in DOCUMENTS.items():
        _ok(admin.post("/v1/documents", json={"source": source, "text": text}), 201)
    sessions: dict[str, list[str]] = {}
    for user in USERS:
        sessions[user] = _use_as(_client(base, token(user, False)), user)
    before_deletion = analytics_settled(admin)  # before anything is deleted
    for user in USERS:
        _turns_settled(_client(base, token(user, False)), sessions[user])
    doomed = sessions["ana"].pop()
    _ok(_client(base, token("ana", False)).delete(f"/v1/sessions/{doomed}"), 204)
    asked = _ok(_client(base, token(LEAVER, False)).delete("/v1/users/me"), 202)
    revoked_in = math.floor(time.time())
    progress = _deletion_done(admin, asked["deletion_id"])
    # A token's `iat` is in whole seconds, so one issued in the second of the revocation is
    # refused like those before it: the leaver's new token comes from the next second.
    time.sleep(max(0.0, revoked_in + 1 - time.time()))
    return {
        "analytics before the deletion": before_deletion,
        "deletion": progress,
        "users": {u: _state_of(_client(base, token(u, False)), sessions[u]) for u in USERS},
        "tool runs": _tool_runs(admin),
        "dashboard parts": _dashboard_parts(admin),
    }


def _use_as(client: httpx.Client, user: str) -> list[str]:
    """Two sessions (through the create-session saga), messages, working memory, memories
    and recall, tool runs, searches and one session's composed context."""
    session_ids = []
    for n in range(2):
        made = _ok(client.post("/v1/sessions", json={"title": f"{user} {n}"}), 201)
        session_ids.append(made["id"])
        for i, role in enumerate(("user", "assistant", "user")):
            body = {"role": role, "content": f"{user} says {i} in {n}"}
            _ok(client.post(f"/v1/sessions/{made['id']}/messages", json=body), 201)
        note = {"kind": "fact", "content": f"{user} is working on plan {n}"}
        _ok(client.post(f"/v1/sessions/{made['id']}/working-memory", json=note), 201)
    for content in (f"{user} likes green tea", f"{user} takes the night train"):
        _ok(client.post("/v1/memories", json={"content": content, "importance": 0.7}), 201)
    _ok(client.post("/v1/memories/search", json={"query": "tea"}), 200)
    for expression in ("6 * 7", "2 ** 10"):
        run = {"params": {"expression": expression}}
        _ok(client.post("/v1/tools/math.evaluate/executions", json=run), 201)
    _ok(client.post("/v1/search", json={"query": "when is tea steeped", "k": 2}), 200)
    _ok(client.get(f"/v1/sessions/{session_ids[0]}/context"), 200)
    return session_ids


def _state_of(client: httpx.Client, session_ids: list[str]) -> dict[str, Any]:
    sessions = _ok(client.get("/v1/sessions"), 200)["items"]
    working = {}
    for session_id in session_ids:
        answer = client.get(f"/v1/sessions/{session_id}/working-memory")
        working[session_id] = (
            sorted(i["content"] for i in answer.json()["items"] if i["kind"] == "fact")
            if answer.status_code == 200
            else answer.status_code
        )
    usage = _ok(client.get("/v1/usage"), 200)
    recalled = _ok(client.post("/v1/memories/search", json={"query": "tea"}), 200)
    # Both hits score apart from the rest: equal scores are ordered by chunk id, and ids
    # differ from one deployment to the other.
    query = {"query": "night train to the coast harbour", "k": 2}
    found = _ok(client.post("/v1/search", json=query), 200)
    context = _ok(client.get(f"/v1/sessions/{session_ids[0]}/context"), 200) if sessions else None
    return {
        "sessions": sorted(s["title"] for s in sessions),
        "messages": sorted(
            m["content"]
            for s in sessions
            for m in _ok(client.get(f"/v1/sessions/{s['id']}/messages"), 200)["items"]
        ),
        "working memory facts": sorted(map(str, working.values())),
        "sessions with working memory": sum(isinstance(w, list) for w in working.values()),
        "usage": {k: usage[k] for k in ("active_sessions", "sessions_today", "sessions_total")},
        "memories": sorted(m["content"] for m in _ok(client.get("/v1/memories"), 200)["items"]),
        "recalled": [r["entry"]["content"] for r in recalled["items"]],
        "search": [h["source"] for h in found["hits"]],
        "context parts": _context_summary(context),
    }


def _tool_runs(admin: httpx.Client) -> list[str]:
    """The audit log (admin): who ran what, with what outcome."""
    runs = _ok(admin.get("/v1/tools/executions", params={"limit": 100}), 200)["items"]
    return sorted(f"{r['user_id']} {r['tool_name']} {r['status']} {r['result']}" for r in runs)


def _context_summary(context: dict[str, Any] | None) -> dict[str, Any] | None:
    """Per part of the composed context: whether it arrived, and how many items it held."""
    if context is None:
        return None
    return {name: (part["ok"], _count(part.get("data"))) for name, part in context["parts"].items()}


def _count(data: Any) -> int:
    items = data.get("items", []) if isinstance(data, dict) else data
    return len(items) if isinstance(items, list) else 0


def analytics_settled(
    admin: httpx.Client, timeout_s: float = 60.0, *, deleted_messages: int = 0
) -> dict[str, Any]:
    """The report's totals, once they equal the owning modules' own counts; less
    `deleted_messages`, the messages of sessions deleted since they were sent, which
    the report still counts (it is a history) and their owner no longer holds."""
    deadline = time.monotonic() + timeout_s
    while True:
        report = _ok(admin.get("/v1/analytics/report", params={"range": "24h"}), 200)
        owners = {
            m: _ok(admin.get(f"/v1/{m}/stats", params={"range": "24h"}), 200)
            for m in ("conversation", "tools", "rag", "memory")
        }
        totals = {k: sum(day[k] for day in report["days"]) for k in ANALYTICS_VS_OWNERS}
        totals["messages"] -= deleted_messages
        counted = {k: owners[m][f] for k, (m, f) in ANALYTICS_VS_OWNERS.items()}
        if totals == counted or time.monotonic() > deadline:
            return {"analytics": totals, "owners": counted}
        time.sleep(0.3)


def _turns_settled(client: httpx.Client, session_ids: list[str], timeout_s: float = 30.0) -> None:
    """Each message becomes a turn in its session's working memory, by event: wait for all
    three, beside the fact added directly."""
    deadline = time.monotonic() + timeout_s
    for session_id in session_ids:
        while time.monotonic() < deadline:
            memory = _ok(client.get(f"/v1/sessions/{session_id}/working-memory"), 200)
            if sum(i["kind"] == "turn" for i in memory["items"]) >= 3:
                break
            time.sleep(0.2)


def _deletion_done(admin: httpx.Client, deletion_id: str, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        progress = _ok(admin.get(f"/v1/admin/users/deletions/{deletion_id}"), 200)
        if progress["complete"] or time.monotonic() > deadline:
            return {"modules": progress["modules"], "complete": progress["complete"]}
        time.sleep(0.3)


def _dashboard_parts(admin: httpx.Client) -> dict[str, bool]:
    parts = _ok(admin.get("/v1/dashboard"), 200)["parts"]
    return {name: part["ok"] for name, part in parts.items()}


def _client(base: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _ok(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, (response.request.url, response.text)
    return response.json() if response.content else None
