# Taskforge developer entry points. `make run` to try it, `make test` for everything CI checks.
#
# Cargo honours CARGO_TARGET_DIR; the recipes find the binary there too.

TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
TASKFORGE := $(TARGET_DIR)/debug/taskforge

# The MariaDB the MySQL variant of the tests uses (a fresh database per test is created there and dropped).
export TASKFORGE_TEST_MYSQL_URL ?= mysql://root@127.0.0.1:3306
# The moto server standing in for SQS, SES, S3 and DynamoDB (scripts/moto.sh starts it; `make tools` runs that).
export TASKFORGE_TEST_AWS_URL ?= http://127.0.0.1:5055
# A second moto for the S3 tests (see scripts/ensure-tools.sh for why).
export TASKFORGE_TEST_S3_URL ?= http://127.0.0.1:5056
# The clamd with the test signatures the scanner tests use (scripts/clamd.sh starts it; `make tools` runs that).
export TASKFORGE_TEST_CLAMD_ADDR ?= 127.0.0.1:3310
# CI=true (set by CI) turns a missing service into a test failure instead of a skip; it reaches the tests unchanged.

.PHONY: run build web test tools fmt fmt-check lint openapi openapi-check nextest schemathesis bench clean lambda

## run: build the binary (and the web app, once web/ exists) and start everything on demo data
run: build web
	exec $(TASKFORGE) serve --demo

build:
	cargo build --bin taskforge

# The SPA is optional until web/ lands; `serve` works without it.
web:
	@if [ -f web/package.json ]; then \
		cd web && npm ci && npm run build; \
	else \
		echo "web/package.json not found: skipping the web app"; \
	fi

## test: everything CI runs, in order, stopping at the first failure
test: tools fmt-check lint openapi-check nextest schemathesis

tools:
	scripts/ensure-tools.sh

fmt-check:
	cargo fmt --all -- --check

nextest:
	cargo nextest run --workspace --no-fail-fast

schemathesis:
	scripts/schemathesis.sh

openapi-check:
	scripts/check-openapi.sh

## openapi: regenerate the committed openapi.json from the code
openapi: build
	$(TASKFORGE) openapi --output openapi.json

## fmt: format all crates
fmt:
	cargo fmt --all

## lint: clippy on every crate and target, warnings are errors (clippy.toml bans unscoped tenant queries)
lint:
	cargo clippy --workspace --all-targets -- -D warnings

## lambda: build the scan Lambda (release) into $(TARGET_DIR)/lambda/: bootstrap.zip and the container image context
lambda:
	cargo build --release --locked -p lambdas --bins
	scripts/package-lambda.sh

## bench: run the benchmarks (bench/run.sh)
bench:
	@if [ -x bench/run.sh ]; then \
		bench/run.sh; \
	elif [ -f bench/run.sh ]; then \
		bash bench/run.sh; \
	else \
		echo "make bench: bench/run.sh does not exist yet; there are no benchmarks to run" >&2; \
		exit 1; \
	fi

## clean: remove build outputs and the tool venv (keeps ./var, the data of `make run`)
clean:
	cargo clean
	rm -rf .venv .venv-moto web/dist
