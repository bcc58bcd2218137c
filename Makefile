# Two commands: `make run` and `make test`. Each sets up what it needs and is quick when nothing changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
# Four pytest workers on two cores. The run weaves the browser tests (a core each: Chromium and
# a `streamlit run`) among the others, which mostly wait for paced calls, killed children and
# sandboxes (tests/conftest.py), so four keep both cores busy without four browsers fighting
# over them (1.87-1.90 cores busy instead of 1.67): 435-494 s of tests in four runs, where
# three workers took 498-544 s. Before the weaving a fourth worker only added contention, and
# a fifth still does (450 s, 876 CPU-seconds where four used 807-866) (2026-12-07). Since
# then the suite uses about a tenth less CPU (forked servers and children, shared TLS contexts,
# migrated template databases, reduced motion): 430-448 s of tests on four fresh clones,
# 455-467 s with the setup. Later that day, a setup of 13 s instead of 20 and less work (side
# by side, module by module, about 25 CPU-seconds): 382-439 s of tests in four runs with four
# workers, as this machine's speed varied through the day; five workers took 399 s between two
# of them (1.96 cores busy where four kept 1.88), within that spread, so four stay.
# A day later, on a slower machine: 460 s of tests, 477 s in all, on a fresh clone. The next
# day 464-515 s of tests (1.91 cores busy, 970 CPU-seconds: Chromium 450, the pytest workers
# 200, the `streamlit run` servers 165); five workers took 537 s where four then took 511.
# A day later the test browser ran without V8's optimising compiler (tests/e2e/conftest.py):
# 358 s of tests, 370 s in all, where the commit before took 388 s and 400 s just after.
# 2026-12-08: 416-467 s in all on fresh clones in the small hours; later, on a faster machine,
# the test workers' larger GC threshold (tests/conftest.py) side by side: 344 s in all before
# it, 333 and 336 s after (321-324 s of tests, 795 passed).
PYTEST_WORKERS ?= 4
# loadgroup hands out the tests one by one, in collection order, as workers free up (two
# queued per worker). Its `xdist_group` marks are not honoured by pytest-xdist 3.8 under
# pytest 9, which moved the node id the mark is written into, so none are used: a module's
# shared server is started on each worker that runs some of its tests, and kept until the
# worker ends.

.PHONY: run test browser-programs lint sandbox bench soak clean lock lock-uv backup restore

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv installs the lock files (pip took 34 s for what uv does in 16). uv itself comes from
# requirements/tools.lock, pinned with its hashes, through the pip every venv has.
$(BIN)/uv: requirements/tools.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/tools.lock
	touch $@
# Then compiled ahead, as pip does: where PYTHONDONTWRITEBYTECODE is set no process writes it
# later, and each would compile every module it imports again (70 s more of `make test` on two
# cores). Not what nothing imports: the libraries' own test suites, phonenumbers' geocoding,
# carrier and time zone data, Pygments' lexers, and mypy (itself compiled to machine code): of
# 117 MB of Python the suite imports about 40. A fresh `make test` set up in 14 s with uv's
# --compile-bytecode (all of it, for each lock file), 7 s this way. A second compile only
# compiles what is new.
SITE_PACKAGES = $(shell $(BIN)/python -c "import sysconfig; print(sysconfig.get_path('purelib'))")
NOT_IMPORTED = /tests?/|/site-packages/mypyc?/|/phonenumbers/(geodata|carrierdata|tzdata)/|/pygments/lexers/
INSTALL = $(BIN)/uv pip install --quiet --python $(BIN)/python
COMPILE_INSTALLED = $(BIN)/python -m compileall -q -j 0 -x '$(NOT_IMPORTED)' $(SITE_PACKAGES)

# Exactly what the lock files pin, each file checked against its hash (requirements/*.lock,
# made by `make lock`). The console runs from this folder: nothing of it is installed.
$(RUNTIME_STAMP): requirements/run.lock | $(BIN)/uv
	$(INSTALL) --require-hashes --no-deps -r requirements/run.lock
	$(COMPILE_INSTALLED)
	touch $@

# dev.lock holds every pin of run.lock, at the same version (tests/test_deploy.py): one
# install and one compile set up both.
$(DEV_STAMP): requirements/dev.lock requirements/run.lock | $(BIN)/uv
	$(INSTALL) --require-hashes --no-deps -r requirements/dev.lock
	$(COMPILE_INSTALLED)
	touch $(RUNTIME_STAMP) $@

# The lock files again, from pyproject.toml's ranges: `make lock` takes the newest of each;
# `make lock UPGRADE=streamlit` moves that one package (and what it needs) only.
LOCK = $(BIN)/uv pip compile pyproject.toml --generate-hashes --universal \
	--python-version 3.11 --quiet $(if $(UPGRADE),--upgrade-package $(UPGRADE),--upgrade)
lock: | $(BIN)/uv
	$(LOCK) -o requirements/run.lock
	$(LOCK) --extra dev -o requirements/dev.lock

# uv's own pin, after requirements/tools.in names another version.
lock-uv: | $(BIN)/uv
	$(BIN)/uv pip compile requirements/tools.in --generate-hashes --universal \
		--python-version 3.11 --quiet -o requirements/tools.lock

# The console's own modules compiled ahead too (only what changed since; a second or less):
# where PYTHONDONTWRITEBYTECODE is set, every process compiled each module it imports from
# source again: each `streamlit run`, each killed and restarted child, each pytest worker (2-3%
# of `make test`'s CPU, measured with py-spy).
OWN_CODE = app.py serve.py partner_console components pages tests bench
COMPILE_OWN = $(BIN)/python -m compileall -q -j 0 $(OWN_CODE)

run: $(RUNTIME_STAMP)
	$(COMPILE_OWN)
	$(BIN)/streamlit run serve.py

# A checked copy of a SQLite deployment's history (with its link journal and secret) in
# data/backups/<date>; the last PARTNER_CONSOLE_BACKUPS_KEPT are kept. Safe while it runs.
backup: $(RUNTIME_STAMP)
	$(BIN)/python -m partner_console.backup

# Put a copy back, the console stopped: make restore BACKUP=data/backups/<date>
restore: $(RUNTIME_STAMP)
	@test -n "$(BACKUP)" || { echo "Say which copy: make restore BACKUP=data/backups/<date>"; \
		$(BIN)/python -m partner_console.backup list; exit 2; }
	$(BIN)/python -m partner_console.backup restore "$(BACKUP)"

sandbox: $(RUNTIME_STAMP)
	$(BIN)/python -m partner_console.sandbox --port 8765

# On a machine without them (as root), Chromium and nginx for the browser and proxy tests are
# installed with apt in the background while the environment is set up (tests/e2e/debian.py,
# with the machine's own Python; what apt refused in build/apt.log). The tests wait for it.
browser-programs:
	@mkdir -p build && ($(PYTHON) tests/e2e/debian.py > build/apt.log 2>&1 &)

# The 25 slowest tests are listed at the end of each run: where the time goes.
test: browser-programs $(DEV_STAMP)
	$(COMPILE_OWN)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup --durations=25 $(PYTEST_ARGS)

# The kill loops at full size: 100 kills of single creates, 20 of a bulk import, the real
# server killed 3 times mid-create and 6 times mid-import, and 100 trials of a kill followed
# by two Resumes at once for each kind of job.
soak: $(DEV_STAMP)
	$(COMPILE_OWN)
	SOAK=1 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup \
		tests/test_reliability_kill.py tests/e2e/test_replicas_browser.py -k "kill"
	SOAK=1 $(BIN)/python -m pytest tests/test_resume_race.py tests/e2e/test_resume_race_browser.py
	$(BIN)/python -m tests.report

# Benchmarks at full size (several minutes): figures in bench/results/full.json.
bench: $(DEV_STAMP)
	$(COMPILE_OWN)
	$(BIN)/python -m bench.run --size full

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/mypy components pages app.py bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
