"""Reading an uploaded file in a child process with a memory cap and a time limit.

A hostile file (a zip bomb, a sheet that claims a million columns, a CSV of 40,000 columns)
can then slow only the person who uploaded it: the child runs out of its own memory or time
and is ended, the server and everyone else's sessions are untouched, and the person gets a
sentence. The reader's own limits (read.py) refuse most such files before they are expanded;
this is the guarantee behind them.

    python -m partner_console.bulk.isolated MEMORY_LIMIT FILENAME < file bytes > JSON
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from dataclasses import asdict

from partner_console.bulk.read import ImportFileError, ReadResult, read_file

MEMORY_LIMIT = 1024 * 1024 * 1024  # bytes of address space for the reading process
TIME_LIMIT = 30.0  # seconds


def read_file_isolated(data: bytes, filename: str, *, memory_limit: int = MEMORY_LIMIT,
                       time_limit: float = TIME_LIMIT) -> ReadResult:
    """`read_file`, in a child process. Raises ImportFileError with a sentence, whatever the
    file does to the child."""

    try:
        done = subprocess.run(  # noqa: S603  (our own module, no shell)
            [sys.executable, "-m", "partner_console.bulk.isolated", str(memory_limit),
             filename[-200:]], input=data, capture_output=True, timeout=time_limit,
            check=False)
    except subprocess.TimeoutExpired:
        raise ImportFileError("Reading this file took too long, so it was stopped. Save it "
                              "again as CSV or Excel (.xlsx) with only the provider columns "
                              "and rows, and try again.") from None
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        raise ImportFileError("This file needed far more memory to open than a list of "
                              "providers does, so it was not read. Save it again as CSV or "
                              "Excel (.xlsx) with only the provider columns and rows.") from None
    if "error" in answer:
        raise ImportFileError(answer["error"])
    result = answer["result"]
    result["rows"] = [(number, cells) for number, cells in result["rows"]]
    return ReadResult(**result)


def main() -> None:
    # The cap is set here, in the child (a preexec_fn is unsafe in a threaded server).
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    data = sys.stdin.buffer.read()
    try:
        answer: dict[str, object] = {"result": asdict(read_file(data, sys.argv[2]))}
    except ImportFileError as exc:
        answer = {"error": str(exc)}
    except MemoryError:
        sys.exit(3)  # the parent says it in words
    answer["peak_kb"] = _peak_kb()
    sys.stdout.write(json.dumps(answer))


def _peak_kb() -> int:
    """This process's peak resident memory since it started (VmHWM; ru_maxrss would count
    the parent's memory from before the exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    main()
