# rla_mm: `make setup`, `make test`, `make demo`. See README.md.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rla_mm-setup

DEMO_CONFIG := configs/demo/faster_rcnn_rla_r18_fpn_digits.py
DEMO_DATA := data/digits_coco
DEMO_DIR := work_dirs/demo

CLS_DATA := data/digits_cls
CLS_DIR := work_dirs/demo_cls
CLS_MODELS := preact_resnet164 rla_resnet164

SEG_DATA := data/digits_seg
SEG_DIR := work_dirs/demo_seg
SEG_MODELS := pspnet_r18-d8 pspnet_rla-r18-d8

.PHONY: setup lint test test-unit test-compat test-sweep test-sweep-compat demo demo-data demo-cls demo-seg complexity benchmark clean-venv

setup: $(STAMP)

# Re-run set-up only when what it installs changes.
$(STAMP): requirements/*.txt setup.py .dev_scripts/setup/setup_env.sh .dev_scripts/setup/build_mmcv.sh \
		.dev_scripts/setup/stacks.py
	VENV=$(VENV) bash .dev_scripts/setup/setup_env.sh
	touch $@

# flake8, isort and yapf (requirements/lint.txt) with the settings of setup.cfg,
# MMDetection's; any finding fails. yapf takes the folders setup.cfg excludes
# for the other two on its command line.
LINT_EXCLUDES := .venv* build dist gpu_kit gpu_kit_out work_dirs data checkpoints rla_mm/.mim
lint: $(STAMP)
	$(VENV)/bin/flake8 .
	$(VENV)/bin/isort --check-only --diff .
	$(VENV)/bin/yapf --diff -r -p . $(foreach e,$(LINT_EXCLUDES),--exclude '$(e)')

# The test tiers (docs/architecture.md): unit (fast: models, converters, configs),
# integration (tools, mim, wheels, README commands, two-process and two-node
# runs), cuda (skipped without CUDA). Each tier is named: a folder of tests/ not
# listed here is not run.
TEST_TIERS := $(wildcard tests/unit tests/integration tests/cuda)
# Worker processes of the suite (pytest-xdist; 0: pytest's own process alone).
# Each test file runs whole in one worker (--dist loadfile), so a module's
# fixtures are built once. Many tests wait on a tool's single-threaded start
# (imports), which a second worker overlaps.
# Each worker, and what it starts, computes on TEST_THREADS threads
# (OMP_NUM_THREADS), so that the workers together use the cores once.
TEST_WORKERS ?= 2
TEST_THREADS ?= 1
PYTEST_WORKERS := -n $(TEST_WORKERS) --dist loadfile
PYTEST_ENV := OMP_NUM_THREADS=$(TEST_THREADS)

test: $(STAMP)
	$(PYTEST_ENV) $(PY) -m pytest $(PYTEST_WORKERS) $(TEST_TIERS)

# The fast tier alone: models, stage, converters, configs that only build.
test-unit: $(STAMP)
	$(PYTEST_ENV) $(PY) -m pytest $(PYTEST_WORKERS) tests/unit

# The suite in an environment like an existing MMDetection 3.x one: torch 2.1.2
# (stack cu121), numpy 1.26, mmcv 2.1.0 with ops, in $(COMPAT_VENV)/; rla_mm goes
# in with a plain `pip install .`, which must change none of those packages.
COMPAT_VENV ?= .venv-compat
test-compat:
	STACK=cu121 VENV=$(COMPAT_VENV) EDITABLE=0 bash .dev_scripts/setup/setup_env.sh
	$(PYTEST_ENV) $(COMPAT_VENV)/bin/pytest $(PYTEST_WORKERS) $(TEST_TIERS)

# MMDetection's and MMPretrain's own ResNet-family configs with the backbone type
# swapped to its RLA twin (tests/sweep, docs/dropin.md): SWEEP=sample (a fixed
# group per mechanism, and every MMPretrain classifier group), SWEEP=full (every
# group of the installed libraries), SWEEP=compat (a smaller sample).
SWEEP ?= sample
test-sweep: $(STAMP)
	RLA_SWEEP=$(SWEEP) $(PY) -m pytest tests/sweep -rP

# The compat sample in the environment test-compat builds.
test-sweep-compat:
	RLA_SWEEP=compat RLA_SWEEP_REPORT=work_dirs/sweep-compat $(COMPAT_VENV)/bin/pytest tests/sweep -rP

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

# Train RLA-ResNet-164 and the plain ResNet-164 with the same recipe and budget on
# scikit-learn's digits (32x32), test both on the held-out split, compare them.
demo-cls: $(STAMP)
	$(PY) tools/data/make_digits_cls.py --out $(CLS_DATA)
	rm -rf $(CLS_DIR)
	for m in $(CLS_MODELS); do \
		start=$$(date +%s); \
		$(PY) tools/train.py configs/demo/$${m}_digits.py --work-dir $(CLS_DIR)/$$m || exit 1; \
		echo $$(( $$(date +%s) - start )) > $(CLS_DIR)/$$m/train_seconds; \
		$(PY) tools/test.py configs/demo/$${m}_digits.py $$(ls $(CLS_DIR)/$$m/best_*.pth) \
			--work-dir $(CLS_DIR)/$$m --metrics-out $(CLS_DIR)/$$m/test_metrics.json || exit 1; \
	done
	$(PY) tools/analysis_tools/compare_cls_runs.py $(addprefix $(CLS_DIR)/,$(CLS_MODELS)) \
		--names ResNet-164 RLA-ResNet-164 --out $(CLS_DIR)/curves.png --summary $(CLS_DIR)/summary.md

# MMSegmentation's PSPNet R18-D8 with RLA-ResNet-18 (V1c) beside its own
# ResNet-18, same recipe and budget, trained from scratch on digits composited
# on 48x48 canvases; the mIoU table, curves and a picture of predictions.
demo-seg: $(STAMP)
	$(PY) tools/data/make_digits_seg.py --out $(SEG_DATA)
	rm -rf $(SEG_DIR)
	for m in $(SEG_MODELS); do \
		start=$$(date +%s); \
		$(PY) tools/train.py configs/demo/$${m}_digits.py --work-dir $(SEG_DIR)/$$m || exit 1; \
		echo $$(( $$(date +%s) - start )) > $(SEG_DIR)/$$m/train_seconds; \
		$(PY) tools/test.py configs/demo/$${m}_digits.py $$(cat $(SEG_DIR)/$$m/last_checkpoint) \
			--work-dir $(SEG_DIR)/$$m --metrics-out $(SEG_DIR)/$$m/test_metrics.json || exit 1; \
	done
	$(PY) tools/analysis_tools/compare_seg_runs.py $(addprefix $(SEG_DIR)/,$(SEG_MODELS)) \
		--configs $(foreach m,$(SEG_MODELS),configs/demo/$(m)_digits.py) \
		--names ResNet-18 RLA-ResNet-18 --out $(SEG_DIR)/curves.png \
		--predictions $(SEG_DIR)/predictions.png --images $(SEG_DATA)/img_dir/val \
		--labels $(SEG_DATA)/ann_dir/val --summary $(SEG_DIR)/summary.md

# Parameters and FLOPs of every config beside the paper's Table 3 (docs/complexity.md).
complexity: $(STAMP)
	$(PY) tools/analysis_tools/get_flops.py --all --out docs/complexity.md

# RLA-ResNet-50 against ResNet-50: speed ratios and peak memory (docs/benchmark.md).
# BENCH_ARGS=--threads 1 on a machine shared with other jobs (see the doc).
benchmark: $(STAMP)
	$(PY) tools/analysis_tools/benchmark.py $(BENCH_ARGS) --out docs/benchmark.md

clean-venv:
	rm -rf $(VENV) $(COMPAT_VENV)

# The GPU device kit (docs/gpu.md): wheels for Python 3.12 of what a CUDA machine
# without network lacks, the mmcv sdist, in gpu_kit/; run there with
# `bash .dev_scripts/gpu_kit/run.sh`.
.PHONY: gpu-kit
gpu-kit: $(STAMP)
	$(PY) .dev_scripts/gpu_kit/build_kit.py --out gpu_kit
