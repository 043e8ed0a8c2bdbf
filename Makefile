# mnistlab: every set-up step lives here, so a fresh machine needs only `make book` or `make test`.
#
#   make book    build the whole book (installs the locked environment, fetches MNIST, releases the
#                student notebooks the book links to, executes every chapter) into _build/html, and
#                its Simplified Chinese edition from the same execution into _build/html/zh_CN
#   make translations
#                after changing English prose: update the Chinese catalogs (book/locale/zh_CN), whose
#                new and fuzzy entries tests/test_translations.py then names
#   make book EDITION=class
#                the class edition into _build/html-class: each graded function shows its signature
#                and docstring, not its body (book/_ext/mnistlab_listing.py); shares the execution cache
#   make test    check the import rules between the package's parts (lint-imports), then run every
#                test: the library, the data chain, the strict book build, the browser
#                check of the built pages and the real nbgrader runs (CI runs this)
#   make check   the developer's fast loop, under a minute: the import rules and the unit tests of
#                the library, the checks and the grader's pure-Python parts (no MNIST files, no
#                nbgrader runs, no book build, no sandboxed processes)
#   make bench   print the speed figures (`mnistlab bench`)
#   make lock    re-pin requirements.lock from the current environment (after changing dependencies)

PYTHON ?= python3
# The book's edition: reader (every reference function in full) or class (graded functions hidden).
EDITION ?= reader
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install data release book html translations test check bench bench-grading lock clean system-deps

install: $(STAMP)

# The environment is exactly requirements.lock; the package itself is installed editable on top,
# without resolving anything again (--no-deps), so nothing drifts from the lock.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $@

# Debian's packages the tests use (root on CI and here). chromium: the browser tests of the rendered
# book; fonts-noto-cjk: the Chinese edition's glyphs in it (without them every character is a box);
# gettext: msgfmt, which checks the translation catalogs; bubblewrap: the sandbox of the grading kernels
# (mnistlab.grader.os_sandbox). munge, slurmctld and slurmd: the one-node Slurm cluster of
# tests/test_slurm.py, which runs the README's job array (optional: that test also installs them, and
# skips saying why where it cannot).
SYSTEM_PACKAGES := chromium fonts-noto-cjk gettext bubblewrap
SLURM_PACKAGES := slurmctld slurmd munge
system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian's" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	@missing=$$(for p in $(SLURM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian's" $$missing "for the Slurm test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } || \
	  echo "could not install $$missing: tests/test_slurm.py will be skipped"; fi

data: install
	$(BIN)/mnistlab data fetch --no-progress

release: install
	cd assignments && PATH="$(CURDIR)/$(BIN):$$PATH" nbgrader generate_assignment "*" --force

# Strict, like CI: any warning or broken reference fails the build (-W -n; --keep-going lists them
# all first), and a failing cell stops it, naming the notebook. Executed notebooks are cached in
# _build/.jupyter_cache, so only changed chapters run again; `make clean` forces a cold build.
book: install data release
	$(MAKE) --no-print-directory html EDITION=$(EDITION)

# The Chinese edition reads its text from gettext catalogs (book/locale/zh_CN/LC_MESSAGES/book/*.po).
# After changing English prose: extract and update the catalogs, translate the new or fuzzy entries
# (tests/test_translations.py names them), and build.
translations: install
	$(BIN)/python book/i18n.py update zh_CN

# The build alone, without the set-up steps (what `make book` runs after them; the tests run it too).
# One BLAS thread for the chapters' kernels: steady build times on a shared 2-core machine (a
# 2-thread OpenBLAS slows down ~6x when another process takes a core) and no slower when it is quiet.
# The class edition builds in _build/class (its own doctrees: its pages differ) and executes nothing
# itself: its execution cache is a link to the reader's, _build/.jupyter_cache. Its HTML then moves
# to _build/html-class. book/_ext/mnistlab_listing.py reads the edition from MNISTLAB_EDITION.
html: export OPENBLAS_NUM_THREADS = 1
html: export OMP_NUM_THREADS = 1
html: export MNISTLAB_EDITION = $(EDITION)
html:
ifeq ($(EDITION),reader)
	$(BIN)/jupyter-book build --all -W -n --keep-going .
	$(BIN)/python book/i18n.py build zh_CN
	@echo "The book is in _build/html/index.html, its Chinese edition in _build/html/zh_CN/ (both read offline)."
else ifeq ($(EDITION),class)
	mkdir -p _build/.jupyter_cache _build/class/_build
	ln -sfn ../../.jupyter_cache _build/class/_build/.jupyter_cache
	$(BIN)/jupyter-book build --all -W -n --keep-going --path-output _build/class .
	rm -rf _build/html-class
	mv _build/class/_build/html _build/html-class
	@echo "The class edition is in _build/html-class/index.html (it reads offline)."
else
	$(error EDITION must be reader or class, not "$(EDITION)")
endif

test: install system-deps data release
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# Explicit files, and within them no test marked slow (real MNIST, book build): each of these
# writes its own small data, so the target needs neither `data` nor `release`. The sandbox and
# isolated re-check tests (test_sandbox.py, test_isolation.py) start guarded processes: `make test`.
FAST_TESTS := tests/test_data.py tests/test_fetch.py tests/test_functional.py tests/test_gradcheck.py \
	tests/test_layers.py tests/test_model.py tests/test_optim.py tests/test_fused.py tests/test_train.py \
	tests/test_metrics_plots.py tests/test_bench.py tests/test_cli.py tests/test_layout.py \
	tests/test_grading.py tests/test_assignment_sources.py tests/test_grading_pool.py \
	tests/test_item_analysis.py tests/test_lms.py tests/test_similarity.py tests/test_translations.py \
	tests/test_slurm.py tests/test_course_secret.py tests/test_os_sandbox_parts.py
check: install
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -m "not slow" $(FAST_TESTS)

# Throughput of `mnistlab grade` on a synthetic class of 200 a2 submissions: 1 worker against one per core.
bench-grading: install
	$(BIN)/python -m mnistlab.grader.bench --students 200

bench: install data
	-$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0 || \
	  echo "PyTorch could not be installed: the benchmark runs without the comparison"
	$(BIN)/mnistlab bench

# Resolved afresh in a throw-away venv from pyproject.toml's dependencies and its `course` extra,
# so that nothing installed by hand (e.g. torch for the benchmark) leaks into the lock.
LOCK_VENV := $(shell mktemp -u /tmp/mnistlab-lock-XXXXXX)
lock:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install --quiet ".[course]"
	$(LOCK_VENV)/bin/python -m pip freeze --all | grep -vE '^(mnistlab|pip)[= @]' > requirements.lock
	rm -rf $(LOCK_VENV)

clean:
	rm -rf _build .pytest_cache .hypothesis assignments/release assignments/autograded assignments/feedback
