# opslab: build, demo, test, bench, lint.
OPSLAB := target/debug/opslab
DEMO_LAB ?= broken-pipeline

.PHONY: setup build demo test test-rust test-labs bench lint clean-engine

setup:
	@bash .ci/setup

build:
	cargo build

# The main job: a lab started, graded, solved, graded again.
demo: setup build
	$(OPSLAB) stop --session $(DEMO_LAB)-demo >/dev/null 2>&1 || true
	$(OPSLAB) start $(DEMO_LAB) --trainee demo
	-$(OPSLAB) check --session $(DEMO_LAB)-demo
	$(OPSLAB) solve --session $(DEMO_LAB)-demo
	$(OPSLAB) check --session $(DEMO_LAB)-demo --html target/demo-report.html --junit target/demo-junit.xml
	$(OPSLAB) stop --session $(DEMO_LAB)-demo
	@echo "report: target/demo-report.html"

test: setup lint test-rust test-labs

# What opslab objects a trainer already had running before the tests (not the tests' to judge).
SNAPSHOT := target/engine-before-tests.txt

test-rust:
	cargo build
	@mkdir -p target && bash tests/leftovers.sh snapshot $(SNAPSHOT)
	cargo test --all-targets -- --test-threads=4
	bash tests/leftovers.sh check $(SNAPSHOT) "the Rust tests" $(OPSLAB)

# Every lab validates, its grader is proved both ways twice, and every shortcut attempt fails.
test-labs: build
	$(OPSLAB) validate
	$(OPSLAB) images build
	@mkdir -p target && bash tests/leftovers.sh snapshot $(SNAPSHOT).labs
	bash tests/labs.sh
	bash tests/leftovers.sh check $(SNAPSHOT).labs "the lab selftests" $(OPSLAB)

# Start/stop against Docker Compose and grading cost; each lab's figures; a class of 30.
bench:
	cargo build --release
	bash bench/run
	bash bench/labs
	bash bench/class

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

clean-engine: build
	$(OPSLAB) gc --all
