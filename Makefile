# The README's two set-up commands: `make demo` (the quickstart sweep on bundled digits) and `make test`.
# Each creates .venv if it is missing and installs the project into it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKDIR ?= runs/demo
ENCODER := $(WORKDIR)/encoders/digits_small_cnn.ckpt
# MoCo-v2 epochs on digits: 500, the length of SCAN's reference pretext stage (3,500 steps at batch 256, a minute or
# two on 2 cores). At 30 epochs (210 steps) CC's random heads cut across classes on 4 of 5 seeds (see
# bundled_ablation.yaml).
PRETRAIN_EPOCHS ?= 500

.PHONY: demo test install clean

install: $(STAMP)

# --no-cache-dir: the CUDA build of torch is about 5 GB; a pip cache would hold a second copy on the same disk.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-cache-dir --upgrade pip
	$(BIN)/python -m pip install --quiet --no-cache-dir -e ".[test]"
	touch $(STAMP)

$(ENCODER): | $(STAMP)
	$(BIN)/dcsweep pretrain --dataset digits --arch small_cnn --epochs $(PRETRAIN_EPOCHS) --out $(ENCODER)

demo: $(STAMP) $(ENCODER)
	$(BIN)/dcsweep run quickstart --workdir $(WORKDIR)
	$(BIN)/dcsweep report quickstart --workdir $(WORKDIR)

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(WORKDIR)
