"""Partner Console: the entry point. The router and frame are in components/router.py."""

from components.router import run_app

run_app()
