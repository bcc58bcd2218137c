"""Serve the sandbox on loopback.

    python -m partner_console.sandbox --port 8765 --rate-per-minute 300 --latency-ms 0 \\
        --fail-rate 0
"""

from __future__ import annotations

import argparse

from partner_console.sandbox.app import SANDBOX_KEYS, Faults, SandboxApp
from partner_console.sandbox.server import SandboxServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the Upheal sandbox on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--rate-per-minute", type=int, default=300)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share answered 500/503")
    parser.add_argument("--timeout-rate", type=float, default=0.0)
    parser.add_argument("--drop-rate", type=float, default=0.0)
    parser.add_argument("--lost-response-rate", type=float, default=0.0)
    parser.add_argument("--hang-seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    app = SandboxApp(
        rate_per_minute=args.rate_per_minute,
        faults=Faults(latency_ms=args.latency_ms, server_error_rate=args.fail_rate,
                      timeout_rate=args.timeout_rate, drop_rate=args.drop_rate,
                      lost_response_rate=args.lost_response_rate),
        seed=args.seed,
    )
    server = SandboxServer(app, args.host, args.port, hang_seconds=args.hang_seconds)
    print(f"Upheal sandbox on {server.base_url} - keys: {', '.join(SANDBOX_KEYS)}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
