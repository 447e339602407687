# rla_mm: `make setup`, `make test`, `make demo`. See README.md.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rla_mm-setup

DEMO_CONFIG := configs/demo/faster_rcnn_rla_r18_fpn_digits.py
DEMO_DATA := data/digits_coco
DEMO_DIR := work_dirs/demo

.PHONY: setup test demo demo-data complexity benchmark clean-venv

setup: $(STAMP)

# Re-run set-up only when what it installs changes.
$(STAMP): requirements/*.txt setup.py tools/setup/setup_env.sh tools/setup/build_mmcv.sh
	VENV=$(VENV) bash tools/setup/setup_env.sh
	touch $@

test: $(STAMP)
	$(PY) -m pytest tests

demo-data: $(STAMP)
	$(PY) tools/data/make_digits_coco.py --out $(DEMO_DATA)

# Train Faster R-CNN with an RLA backbone on the embedded digits set, evaluate it
# with COCO metrics, and draw the training curves and some predictions.
demo: demo-data
	rm -rf $(DEMO_DIR)
	$(PY) tools/train.py $(DEMO_CONFIG) --work-dir $(DEMO_DIR)
	$(PY) tools/test.py $(DEMO_CONFIG) $$(cat $(DEMO_DIR)/last_checkpoint) \
		--work-dir $(DEMO_DIR) --show-dir predictions
	$(PY) tools/analysis_tools/plot_curves.py $(DEMO_DIR) --out $(DEMO_DIR)/curves.png
	@echo "demo done: curves in $(DEMO_DIR)/curves.png, predictions in $(DEMO_DIR)/*/predictions/"

# Parameters and FLOPs of every config beside the paper's Table 3 (docs/complexity.md).
complexity: $(STAMP)
	$(PY) tools/analysis_tools/get_flops.py --all --out docs/complexity.md

# RLA-ResNet-50 against ResNet-50: speed ratios and peak memory (docs/benchmark.md).
# BENCH_ARGS=--threads 1 on a machine shared with other jobs (see the doc).
benchmark: $(STAMP)
	$(PY) tools/analysis_tools/benchmark.py $(BENCH_ARGS) --out docs/benchmark.md

clean-venv:
	rm -rf $(VENV)
