# adrec — the targets CI runs (.ci/run calls `make test`) and the ones people run.
# Builds share one target dir outside the clone so rebuilds stay warm across clones and CI runs.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export ADREC_CACHE ?= $(HOME)/.cache/adrec
export CARGO_TARGET_DIR ?= $(ADREC_CACHE)/target
BIN := $(CARGO_TARGET_DIR)/debug/adrec
RELEASE_BIN := $(CARGO_TARGET_DIR)/release/adrec
WITH_PG := scripts/with-pg.sh

.PHONY: help demo up test fmt lint doc deny deny-advisories build release unit-test api-test api-spec-test airflow-test deploy-check docs-check md-check \
        bench bench-serve bench-pipeline bench-scale s3s-fs migrate db-shell clean-test-dbs docker \
        dashboard-check monitoring-check

help:
	@echo "make demo          end to end on local files + a local Postgres, then exit (leaves nothing running)"
	@echo "make up            the same, but keep the service running"
	@echo "make test          everything CI runs: fmt, clippy, rustdoc, cargo-deny (licenses, bans, sources),"
	@echo "                   unit + integration tests (Postgres, S3),"
	@echo "                   Airflow DAG tests, infra lint, /docs and /dashboard in Chromium,"
	@echo "                   Prometheus rules and a live scrape (infra/monitoring)"
	@echo "make bench-serve   read-path load test (req/s, p50/p99)"
	@echo "make bench-pipeline  one day out of 1.1 GB of two-day logs through adrec run pipeline (file:// and S3) vs DuckDB"
	@echo "make bench-scale   the bench day in-process vs a local Ballista cluster of 1, 2 and 4 CPU-capped executors"

build:
	cargo build --bins

release:
	cargo build --release --locked --bins

demo: build
	ADREC_BIN=$(BIN) $(WITH_PG) scripts/demo.sh

up: build
	ADREC_BIN=$(BIN) $(WITH_PG) scripts/demo.sh --keep

fmt:
	cargo fmt --all -- --check
	cargo fmt --manifest-path tools/s3-bench-server/Cargo.toml -- --check

lint:
	cargo clippy --all-targets --locked -- -D warnings

# The API docs build with no warning (broken intra-doc links, bad code blocks, ...).
doc:
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked

# cargo-deny (deny.toml), installed on first use by scripts/cargo-deny.sh: every dependency's
# license is on the allow list, no wildcard versions, crates only from crates.io.
# NOT the advisory check: `cargo deny check advisories` clones the RustSec advisory database from
# GitHub, and the machines `make test` runs on (CI included) reach only the package registries, so
# it cannot work there. Run `make deny-advisories` where GitHub is reachable.
deny:
	deny=$$(scripts/cargo-deny.sh) && "$$deny" check licenses bans sources

deny-advisories:
	deny=$$(scripts/cargo-deny.sh) && "$$deny" check advisories

unit-test:
	cargo test --locked --lib --bins

# Integration tests: a fresh database per test on the Postgres with-pg.sh finds or starts,
# and a real S3 server (s3s-fs) for the S3 test.
api-test:
	ADREC_S3S_FS=$$(scripts/s3s-fs.sh) $(WITH_PG) bash -c '$(MAKE) --no-print-directory clean-test-dbs && cargo test --locked --test api'

# Schemathesis (all checks; examples, coverage, fuzzing and stateful phases) against the served
# /openapi.json, on a database seeded by the pipeline over data/sample.
api-spec-test: build
	ADREC_BIN=$(BIN) $(WITH_PG) scripts/schemathesis.sh

# Test databases left by earlier runs. Only idle ones go (no FORCE): another checkout's tests
# running against the same server keep theirs.
clean-test-dbs:
	@psql "$$ADREC_TEST_PG/postgres" -Atqc "SELECT datname FROM pg_database d WHERE (datname LIKE 'adrec\_test\_%' OR datname LIKE 'adrec\_af\_%') AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)" \
	  | while read -r db; do psql "$$ADREC_TEST_PG/postgres" -qc "DROP DATABASE IF EXISTS \"$$db\"" 2>/dev/null || true; done

airflow-test: build
	ADREC_BIN=$(BIN) $(WITH_PG) bash -c 'ADREC_PG_URL=$$ADREC_TEST_PG scripts/airflow-test.sh'

deploy-check:
	scripts/deploy-check.sh

docs-check: build md-check
	$(WITH_PG) scripts/docs-serve-check.sh $(BIN)

# Every committed *.md: code fences closed, relative links and #anchors resolve; every Prometheus
# alert's runbook_url resolves. Its self-test first: a bad sample must raise each problem.
md-check:
	python3 scripts/md_check.py --self-test
	python3 scripts/md_check.py

# infra/monitoring/: promtool config and rule tests, compose.yaml's schema, a real Prometheus
# scraping a live adrec (series, recording rules, alerts), the Grafana dashboard's queries.
monitoring-check: build
	$(WITH_PG) scripts/monitoring-check.sh $(BIN)

# /dashboard in headless Chromium after the demo pipeline; screenshots in $(ADREC_CACHE)/dashboard/.
dashboard-check: build
	$(WITH_PG) scripts/dashboard-check.sh $(BIN)

test: fmt lint doc deny unit-test api-test api-spec-test airflow-test deploy-check md-check docs-check dashboard-check monitoring-check
	@echo "make test: all green"

bench-serve:
	cargo build --release --locked --bins
	ADREC_BIN=$(RELEASE_BIN) $(WITH_PG) scripts/bench-serve.sh

bench-pipeline:
	cargo build --release --locked --bins
	ADREC_BIN=$(RELEASE_BIN) $(WITH_PG) scripts/bench-pipeline.sh

# The bench day in-process and on local Ballista clusters (release build).
bench-scale:
	cargo build --release --locked --bins
	ADREC_BIN=$(RELEASE_BIN) $(WITH_PG) scripts/bench-scale.sh

s3s-fs:
	scripts/s3s-fs.sh

migrate: build
	$(BIN) migrate

docker:
	docker build -t adrec:latest .
