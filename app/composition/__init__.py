"""Cross-module reads: call several contracts in parallel and compose the answer.

Imports `contracts` only, never `app.modules` (`importlinter.ini`).
"""
