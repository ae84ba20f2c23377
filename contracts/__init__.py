"""The only code modules share: Protocols, DTOs, events and errors, one file per module.

Nothing here imports `app`, SQLAlchemy or Litestar (enforced by `importlinter.ini`), so
every type can cross a process boundary as JSON unchanged.
"""
