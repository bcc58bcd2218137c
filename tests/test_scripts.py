"""The scripts run by hand (scripts/): nothing runs them in `make test`, so a rename elsewhere
would break them unnoticed. Each must at least load, with every name it imports."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).resolve().parent.parent / "scripts").glob("*.py"))


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_each_script_loads_with_everything_it_imports(path):
    spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # (their work is under `if __name__ == "__main__"`)
    assert callable(getattr(module, "main", None)), f"{path.name} has no main()"
