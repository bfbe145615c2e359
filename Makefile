# Entry points for developers and CI. `make demo` and `make test` are the README's two commands.
SHELL := /bin/bash
.DEFAULT_GOAL := all
VENV := .venv
PY := $(VENV)/bin/python
ENV := source .local/env &&
PYTEST_ARGS ?=

# Plain `make`: the virtualenv with the project and its test extras, then this list.
all: venv help

.PHONY: all help packages venv tools manifests check-manifests lint unit cluster-up cluster-down \
	install integration e2e test demo run bench bench-steady clean

help:
	@echo "make demo          local control plane + node agent + operator + the seed's example cluster"
	@echo "make test          lint, unit, then integration and e2e tests on the local environment"
	@echo "make tools         build the control plane and etcd (cached outside the checkout)"
	@echo "make packages      install the Debian packages in hack/packages.txt (as root)"
	@echo "make cluster-up    start the local environment (state under .local/)"
	@echo "make cluster-down  stop it and remove every process, mount, netns and bridge"
	@echo "make install       apply the CRDs to the running environment"
	@echo "make manifests     regenerate manifests/crds from the pydantic types"
	@echo "make run           run the operator from the checkout inside the cluster network"

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

tools:
	hack/build-tools.sh

manifests: venv
	$(PY) -m api.crdgen --out manifests/crds

check-manifests: venv
	$(PY) -m api.crdgen --check --out manifests/crds

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy bench  # scripts, not packages: their own run
	$(VENV)/bin/mypy tests/unit tests/integration
	$(PY) hack/check-imports.py

unit: venv
	$(VENV)/bin/pytest -q tests/unit $(PYTEST_ARGS)

# Packages first: a machine that lacks one learns it before the tools' long build.
cluster-up: packages venv tools
	hack/cluster-up.sh

packages:
	hack/ensure-packages.sh

cluster-down:
	hack/cluster-down.sh

install: cluster-up
	$(ENV) kubectl apply --server-side --force-conflicts -f manifests/crds/ >/dev/null
	$(ENV) kubectl wait --for condition=established --timeout=60s -f manifests/crds/ >/dev/null

integration: install
	$(ENV) $(VENV)/bin/pytest -q tests/integration $(PYTEST_ARGS)

e2e: install
	$(ENV) $(VENV)/bin/pytest -q tests/e2e $(PYTEST_ARGS)

test: lint check-manifests unit install
	$(ENV) $(VENV)/bin/pytest -q tests/integration tests/e2e $(PYTEST_ARGS)

run: install
	hack/in-cluster $(VENV)/bin/etcd-operator --cluster-wide --log-format text

demo: install
	hack/demo.sh

bench: install
	$(ENV) PYTHONPATH=hack $(PY) bench/informer_bench.py

# Steady-state cost of today's operator against the baseline commit's (bench/RESULTS.md);
# BENCH_ARGS="--clusters 10 --window 60" for a shorter run.
bench-steady: install
	$(ENV) PYTHONPATH=hack $(PY) bench/steady_bench.py $(BENCH_ARGS)

# Time to available and heal time against bare etcd in the same run, as ratios (issue 9;
# bench/RESULTS.md); BENCH_ARGS="--rounds 3" for a shorter run, --pvc for PVC-backed clusters.
.PHONY: bench-available
bench-available: install
	$(ENV) PYTHONPATH=hack $(PY) bench/available_bench.py $(BENCH_ARGS)

# Backup and restore of a >= 1 GiB database against etcdctl/etcdutl in the same run, no
# Kubernetes (issue 10; bench/RESULTS.md): needs the local S3 server of cluster-up.
# BENCH_ARGS="--size-mib 64" for a quick proof, --rounds 2 to repeat on the same database.
.PHONY: bench-backup
bench-backup: cluster-up
	$(ENV) $(PY) bench/backup_bench.py $(BENCH_ARGS)

# Mutation testing of the operator's core with mutmut (hack/mutation.py; survivors explained as
# equivalent in hack/mutation-equivalents.md): the issue's named mutants, every survivor with its
# diff, then mutants/killed/survived/kill rate per module. The whole set takes about 12 minutes on
# 2 cores; mutation-fast (planner, status, naming, backup retention, rate limiters: 4 to 7 under
# load) is the subset CI runs (.ci/run). Both exit non-zero when a module misses its goal.
# MUTATION_ARGS="--module leader --rev HEAD" narrows a run (hack/mutation.py --help).
.PHONY: mutation mutation-fast
mutation: venv
	$(PY) hack/mutation.py $(MUTATION_ARGS)

mutation-fast: venv
	$(PY) hack/mutation.py --fast $(MUTATION_ARGS)

clean: cluster-down
	rm -rf .local $(VENV)
