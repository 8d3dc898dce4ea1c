# Fargate retirement remediator. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        ?= .venv
PYTHON      ?= python3
FIXTURE     ?= events-fixtures/health-ecs-demo-account.json
FUNCTION    ?= ecs-retirement
LAMBDA_PORT ?= 9000
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Cargo reuses CARGO_TARGET_DIR when set (CI points it outside the clone).

.PHONY: help venv faketime browser pages year-ahead build test fmt lint unit demo watch invoke moto zip bench bench-slow-ledger bench-preflight bench-org bench-init infra cdk docs clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed ## install moto server, cargo-lambda and zig into the project venv

.venv-sam/.installed: requirements-sam.txt
	$(PYTHON) -m venv .venv-sam
	.venv-sam/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

build: ## build every crate and binary (debug)
	cargo build --workspace --bins

fmt: ## check formatting
	cargo fmt --all -- --check

lint: ## clippy, warnings are errors
	cargo clippy --workspace --all-targets --locked -- -D warnings

unit: venv browser ## run every test, all binaries even after a failure (moto-backed ones start their own moto server)
	@set -o pipefail; cargo test --workspace --locked --no-fail-fast 2>&1 | tee .test-output.log
	@awk '/^test result:/ { p += $$4; f += $$6 } END { printf "all tests: %d passed, %d failed\n", p, f }' .test-output.log

faketime: ## install libfaketime (Debian's faketime package) for the year-ahead run, if missing
	@ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || { \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); export DEBIAN_FRONTEND=noninteractive; \
	  $$sudo apt-get install -y -qq --no-install-recommends faketime >/dev/null 2>&1 \
	  || { $$sudo apt-get update -qq && $$sudo apt-get install -y -qq --no-install-recommends faketime >/dev/null; }; }

browser: ## install Debian's chromium (headless page tests, `make pages`), if missing
	@[ -x /usr/bin/chromium ] || { \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); export DEBIAN_FRONTEND=noninteractive; \
	  $$sudo apt-get update -qq && $$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

pages: browser ## render the example status and preflight pages and screenshot them into crates/cli/src/pages/*.png
	@out=$$(mktemp -d) && PAGES_OUT=$$out cargo test -q --locked -p remediator-cli --test pages -- --ignored --exact the_example_pages_are_written_into_pages_out \
	  && for page in preflight status; do \
	    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --screenshot=crates/cli/src/pages/$$page.png \
	      --window-size=1200,1000 file://$$out/$$page.html 2>/dev/null; done \
	  && ls -l crates/cli/src/pages/*.png

year-ahead: venv faketime ## the clock-sensitive test binaries again, with the clock a year ahead (faketime)
	bash tests/local/year_ahead.sh

infra/cdk/node_modules/.package-lock.json: infra/cdk/package-lock.json
	cd infra/cdk && npm ci --no-audit --no-fund --loglevel=error

infra: venv .venv-sam/.installed infra/cdk/node_modules/.package-lock.json ## check the SAM template: cfn-lint (errors fail, warnings pass), sam validate --lint, rule patterns and IAM tests
	$(VENV)/bin/cfn-lint infra/sam/template.yaml; rc=$$?; if [ $$rc -ne 0 ] && [ $$rc -ne 4 ]; then exit $$rc; fi
	SAM_CLI_TELEMETRY=0 .venv-sam/bin/python -m samcli validate --lint --template infra/sam/template.yaml --region us-east-1
	@set -o pipefail; $(VENV)/bin/python -m unittest discover -s tests/infra -v 2>&1 | { grep -v '"POST / HTTP' || true; }

cdk: ## CDK app: npm ci, the assertions + cdk-nag tests, and an offline cdk synth with stand-in assets
	cd infra/cdk && npm ci --no-audit --no-fund --loglevel=error
	cd infra/cdk && npm test
	@assets=$$(mktemp -d) && mkdir -p $$assets/ecs-retirement $$assets/eks-fargate-pod \
	  && touch $$assets/ecs-retirement/bootstrap $$assets/eks-fargate-pod/bootstrap \
	  && cd infra/cdk && CDK_DISABLE_VERSION_CHECK=1 npx cdk synth --no-notices --quiet -c assetsDir=$$assets \
	  && echo "cdk synth: ok"

docs: venv ## the Markdown stays true (README at most 250 lines, every link and anchor resolves) and every command the README shows runs once (tests/docs)
	$(VENV)/bin/python -m unittest discover -s tests/docs -v
	$(VENV)/bin/python tests/docs/readme_commands.py

test: venv fmt lint unit year-ahead infra cdk docs ## the full check CI runs: fmt, clippy -D warnings, all tests, the year-ahead run, SAM and CDK checks, the docs and the README's commands

demo: venv ## seed a local AWS, replay a retirement notice through the Lambda, show the outcome
	cargo build --workspace --bins --locked
	FIXTURE=$(FIXTURE) bash tests/local/demo.sh

moto: venv ## run a moto server on 127.0.0.1:5000 in the foreground (for watch/invoke by hand)
	$(VENV)/bin/moto_server -H 127.0.0.1 -p 5000

watch: venv ## serve the Lambda functions locally with cargo lambda watch (port LAMBDA_PORT)
	cargo lambda watch -P $(LAMBDA_PORT)

invoke: venv ## replay FIXTURE through FUNCTION (ecs-retirement, eks-fargate-pod) served by `make watch`
	cargo lambda invoke $(FUNCTION) -P $(LAMBDA_PORT) --data-file $(FIXTURE)

zip: venv ## release builds for Lambda (arm64, zip) of both functions and their sizes
	cargo lambda build --release --arm64 --output-format zip --bin ecs-retirement --bin eks-fargate-pod
	@ls -l $${CARGO_TARGET_DIR:-target}/lambda/*/bootstrap.zip

clean: ## remove build output and the venvs
	cargo clean
	rm -rf $(VENV) .venv-sam

bench: ## throughput benchmark: 1,000 services against the ECS throttling floor (SCALE=10 runs 10x faster)
	cargo run --release -p remediator-testkit --example throttle_floor

bench-slow-ledger: ## 1,000 services, a ledger of 50 ms a call, 30-s invocations (time ÷2): continuations finish, none forced twice
	SCALE=2 INVOCATION_SECONDS=30 LEDGER_LATENCY_MS=50 cargo run --release -p remediator-testkit --example throttle_floor

bench-preflight: ## the preflight of a 1,000-service account against the throttling ECS fake: calls per operation, time, the read floor
	cargo run --release -p remediator-testkit --example preflight_bench

bench-org: venv ## an organization's wave: 200 accounts × 50 services at concurrency 10, the budget in DynamoDB (moto), time ÷2
	cargo run --release -p remediator-testkit --example org_bench

bench-init: venv ## Lambda init time and peak memory of the release function, against a fake Runtime API and moto
	cargo build --release -p ecs-retirement -p hello-baseline
	$(PYTHON) tests/local/bench_init.py $${CARGO_TARGET_DIR:-target}/release/ecs-retirement $(VENV)/bin/moto_server 15 $${CARGO_TARGET_DIR:-target}/release/hello-baseline
