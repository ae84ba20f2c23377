"""Cross-module writes: durable sagas whose steps are contract calls with compensations.

Imports `contracts` only, never `app.modules` (`importlinter.ini`).
"""
