# The two commands of the README, plus the bundle and the benchmarks.
SWIFT ?= swift
RELEASE := $(SWIFT) build -c release

.PHONY: deps run test dist bench embed wheel oclgrind clean

deps:
	@bash scripts/install-deps.sh

## run: install what is missing, build, and run the main job: list the devices, then train an
## MTAN model on multifashion on the default device (a few minutes on two cores).
run: deps
	$(RELEASE) --product tandem
	.build/release/tandem devices
	.build/release/tandem train

## test: install what is missing and run every test.
test: deps
	$(SWIFT) build
	$(SWIFT) test

## dist: a relocatable folder dist/tandem with a static-runtime binary and its shared libraries.
dist: deps
	bash scripts/make-dist.sh

## bench: the GEMM benchmark on every device (see Benchmarks/RESULTS.md).
bench: deps
	$(RELEASE) --product GemmBench
	.build/release/GemmBench

## embed: dist/libtandem (libtandem.so, tandem.h, tandem.py), the Python wheel, and their checks: C, Python (the wheel
## installed in a fresh venv) and Swift examples on CPU and OpenCL.
embed: deps
	bash scripts/test-embedding.sh

## wheel: the Python package with libtandem.so inside (dist/python/tandem-*.whl; `pip install` it).
wheel: deps
	bash scripts/make-libtandem.sh
	bash scripts/make-wheel.sh

## oclgrind: every kernel under Oclgrind (selftest and a training step of W1–W4, both kernel kinds,
## both GEMMs, memory, race and uninitialised-value checks); see scripts/oclgrind-check.sh.
oclgrind: deps
	$(RELEASE) --product tandem
	bash scripts/oclgrind-check.sh full

## fuzz: the file readers (npy, npz, safetensors, idx, json) and trainer checkpoints under libFuzzer and AddressSanitizer, 60 s each.
fuzz: deps
	bash scripts/fuzz.sh 60

clean:
	rm -rf .build .build-embed .build-dist .build-fuzz dist fuzz-results
