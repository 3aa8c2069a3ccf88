# keelson developer entry points. `make lab` and `make test` work on a fresh Debian machine:
# both start with `setup`, which installs what is missing (scripts/setup-host.sh).
SHELL := /bin/bash
VENV := .venv/bin
export PATH := $(CURDIR)/.venv/bin:$(PATH)
# Molecule scenarios (roles that need a whole cluster are tested on lab clusters instead).
# Those that need the lab bundle (Kubernetes) come last: the suite builds it in the background.
NEEDS_BUNDLE := kube_node monitoring
SCENARIOS := $(filter-out $(NEEDS_BUNDLE),$(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))) $(NEEDS_BUNDLE)
NODES ?= 3
# Control-plane hosts among them (3 for an HA control plane: make lab NODES=5 CONTROL_PLANES=3).
CONTROL_PLANES ?= 1
# What the main job installs from the bundle (built through the Go module proxy, cached).
LAB_BUNDLE := etcd,containerd,runc,crictl,cni-plugins,kubernetes,flannel,coredns,node_exporter
# Prometheus and Alertmanager on node1 (make lab MONITORING=1): their first build is long (the
# web UIs' npm builds, Prometheus's Go build). The suite builds and tests them.
MONITORING ?=
comma := ,
MONITORING_BUNDLE := prometheus,alertmanager,kube-state-metrics
BUNDLE ?= $(LAB_BUNDLE)$(if $(MONITORING),$(comma)$(MONITORING_BUNDLE))
# Its Kubernetes releases: the one clusters are deployed with; empty: every pinned one (the
# suite's upgrade test goes from the first to the last).
BUNDLE_KUBERNETES ?= deployed

.PHONY: setup bundle lab lab-down collection lint unit molecule scenarios integration test bench

setup:
	scripts/setup-host.sh

## The main job: a lab of $(NODES) hosts, the cluster images in its registry, then site.yml
## against it (binaries from the bundle, built through the Go module proxy and cached outside
## the repo; of Kubernetes only the version clusters are deployed with, the first versions.yml pins).
## What the main job installs, into the offline bundle (cached; tens of minutes cold).
bundle: setup
	keelson bundle build --only $(BUNDLE) $(if $(BUNDLE_KUBERNETES),--kubernetes $(BUNDLE_KUBERNETES))

lab: bundle
	keelson lab up --nodes $(NODES) --control-planes $(CONTROL_PLANES) $(if $(MONITORING),--monitoring)
	keelson images push --lab lab
	keelson deploy -i inventories/lab

lab-down:
	keelson lab down

## The roles, playbooks and plugins as the Ansible collection keelson.platform (galaxy.yml).
collection: setup
	ansible-galaxy collection build --force --output-path .keelson/collections

lint: setup
	ruff check src tests molecule roles plugins
	ruff format --check src tests molecule roles plugins
	mypy
	yamllint --strict .
	ansible-lint

unit: setup
	pytest -q tests/unit

## Every molecule scenario (converge, idempotence, testinfra verify) on real systemd hosts.
molecule: setup
	set -e; for scenario in $(SCENARIOS); do echo "== molecule $$scenario"; molecule test -s $$scenario; done

scenarios:
	@echo $(SCENARIOS)

## The integration modules, or some (make integration INTEGRATION=tests/integration/test_images.py).
INTEGRATION ?= tests/integration
JUNIT ?= .keelson/integration.xml
integration: setup
	pytest -q --durations=30 --junitxml=$(JUNIT) $(INTEGRATION)

## Everything CI runs, each stage timed; ends with the stage table (scripts/test-suite).
test:
	scripts/test-suite
