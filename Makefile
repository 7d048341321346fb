# Two commands do all set-up on a fresh machine (Python 3.11, no conda):
#   make repro   -> .venv with the pinned set, then `dvc repro` of the embedded default pipeline
#   make test    -> same .venv, then pytest (unit tests + every notebook through nbmake, smoke profile)
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
# The embedded student is tiny: more threads than cores only adds contention.
export OMP_NUM_THREADS ?= 1
export TOKENIZERS_PARALLELISM := false

.PHONY: venv repro exp test lab clean-venv strip verify results

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/nbstripout --install --attributes .gitattributes 2>/dev/null || true
	touch $(STAMP)

repro: venv
	$(BIN)/dvc repro

# another profile as a DVC experiment, e.g. `make exp PROFILE=paper` (the venv's `mind` is on PATH here)
exp: venv
	$(BIN)/mind exp $(PROFILE)

test: venv
	$(BIN)/python -m pytest tests notebooks --nbmake --nbmake-timeout=900

# After `make repro`: does the rerun reproduce the results committed at HEAD? Data hashes must equal
# HEAD's dvc.lock, figures lie within their expected interval (mind_lib/verify.py); exit 2 if not.
# HEAD's files go to a temporary folder because the rerun has overwritten them in the checkout.
verify: venv
	@tmp=$$(mktemp -d) && git show HEAD:reports/metrics/summary.json > $$tmp/summary.json \
	  && git show HEAD:dvc.lock > $$tmp/dvc.lock \
	  && $(BIN)/mind verify --committed $$tmp --rerun .; rc=$$?; rm -rf $$tmp; exit $$rc

lab: venv
	$(BIN)/jupyter lab notebooks

strip: venv
	$(BIN)/nbstripout notebooks/*.ipynb

clean-venv:
	rm -rf $(VENV)

# README's results block from the committed reports/metrics/summary.json (tests/test_dvc_stages.py: not stale)
results: venv
	$(BIN)/mind results
