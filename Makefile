# rla_mm: `make setup`, `make test`, `make demo`. See README.md.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rla_mm-setup

.PHONY: setup test clean-venv

setup: $(STAMP)

# Re-run set-up only when what it installs changes.
$(STAMP): requirements/*.txt setup.py tools/setup/setup_env.sh tools/setup/build_mmcv.sh
	VENV=$(VENV) bash tools/setup/setup_env.sh
	touch $@

test: $(STAMP)
	$(PY) -m pytest tests

clean-venv:
	rm -rf $(VENV)
