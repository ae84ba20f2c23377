"""Contracts over HTTP: any module's Protocol served on internal routes and called through a
client that type-checks as the Protocol, derived generically (no per-method code)."""
