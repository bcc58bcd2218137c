"""Background jobs: the engine (engine.py), their storage (store.py) and each kind (kinds/)."""
