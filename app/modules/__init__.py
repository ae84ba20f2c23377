"""The modules. Each is independent of the others (`importlinter.ini`) and owns its database."""
