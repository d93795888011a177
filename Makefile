# oisp-sensor — the two set-up commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
SWIFT ?= swift
CONFIG ?= debug
# System packages the build and the tests need (Debian 12).
APT_PACKAGES := libltdl-dev libbpf-dev libelf-dev librdkafka-dev libcurl4-openssl-dev zlib1g-dev libssl-dev \
                clang-14 llvm-14 bpftool gcc make python3 python3-venv curl openssl kcat nginx-light
BIN = $(shell $(SWIFT) build -c $(CONFIG) --show-bin-path)

BPF_CLANG ?= $(shell command -v clang-14 || command -v clang)
BPF_OUT = .build/bpf

.PHONY: deps build bpf run test demo clean

bpf: deps ## compile the CO-RE BPF programs (vmlinux.h from this kernel's BTF) into the bin dir
	@mkdir -p $(BPF_OUT) $(BIN)
	@test -s $(BPF_OUT)/vmlinux.h || bpftool btf dump file /sys/kernel/btf/vmlinux format c > $(BPF_OUT)/vmlinux.h
	$(BPF_CLANG) -target bpf -D__TARGET_ARCH_x86 -O2 -g -Wall -I$(BPF_OUT) -Ibpf -c bpf/oisp.bpf.c -o $(BPF_OUT)/oisp.bpf.o
	install -m 0644 $(BPF_OUT)/oisp.bpf.o $(BIN)/oisp.bpf.o

deps: ## install the system packages (idempotent)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build -c $(CONFIG)
	$(MAKE) bpf

run: build ## build, then run the sensor's main job on the embedded default config
	$(BIN)/oisp-sensor demo --count 4

test: deps ## build once, then run every test suite
	$(SWIFT) build -c $(CONFIG) --build-tests
	$(MAKE) bpf
	$(SWIFT) test -c $(CONFIG) --skip-build --disable-swift-testing

clean:
	rm -rf .build
