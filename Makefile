# opslab: build, demo, test, bench, lint.
OPSLAB := target/debug/opslab
# The demo's lab: sprint-restore gives the whole loop soonest (its checks act and answer in
# seconds, where broken-pipeline's untouched grading waits out its CI windows, about 4 minutes).
# Any lab: `make demo DEMO_LAB=broken-pipeline`.
DEMO_LAB ?= sprint-restore

.PHONY: setup setup-demo build demo test test-rust test-labs test-swarm test-offline bench lint clean-engine fuzz

setup:
	@bash .ci/setup

# What the demo needs only (no browser or schemas: those are for the tests).
setup-demo:
	@bash .ci/setup demo

build:
	cargo build

# The main job: a lab started, graded, solved, graded again.
demo: setup-demo build
	$(OPSLAB) stop --session $(DEMO_LAB)-demo >/dev/null 2>&1 || true
	$(OPSLAB) start $(DEMO_LAB) --trainee demo
	-$(OPSLAB) check --session $(DEMO_LAB)-demo
	$(OPSLAB) solve --session $(DEMO_LAB)-demo
	$(OPSLAB) check --session $(DEMO_LAB)-demo --html target/demo-report.html --junit target/demo-junit.xml
	$(OPSLAB) stop --session $(DEMO_LAB)-demo
	@echo "report: target/demo-report.html"

# Every stage of lint, test-rust and test-labs, the independent ones side by side
# (tests/suite.sh), then nothing left in the engine.
test: setup
	bash tests/suite.sh

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

# opslab on a three-node Docker Swarm of engines in containers (a stage of `make test`).
test-swarm: build
	bash tests/swarm.sh

# A classroom with no network (a stage of `make test`): a lab's images exported, imported on an
# engine in a container that has no network and no image, the lab started and graded there.
test-offline: build
	bash tests/offline.sh

# Start/stop against Docker Compose and grading cost; each lab's figures; a class of 30; one
# trainee's busy loop beside another's grading; validation at scale; every image built cold, one at a
# time and side by side, and their export; `make demo` from a fresh clone, phase by phase; sessions
# per minute on a three-node swarm against one host.
bench:
	cargo build --release
	bash bench/run
	bash bench/labs
	bash bench/class
	bash bench/swarm
	bash bench/observe
	bash bench/hog
	bash bench/validate
	bash bench/images
	bash bench/demo

# Mutated labs through validation, longer than the bounded pass of `make test` (tests/it/fuzz.rs).
# Reproducible: FUZZ_SEED fixes the cases; failures are kept under target/fuzz-findings/.
FUZZ_CASES ?= 50000
FUZZ_SEED ?= 12
fuzz:
	OPSLAB_FUZZ_CASES=$(FUZZ_CASES) OPSLAB_FUZZ_SEED=$(FUZZ_SEED) \
		cargo test --release --test it fuzz:: -- --nocapture

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

clean-engine: build
	$(OPSLAB) gc --all
