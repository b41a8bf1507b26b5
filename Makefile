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

test-rust:
	cargo build
	cargo test --all-targets -- --test-threads=4

# Every lab validates, its grader is proved both ways twice, and every shortcut attempt fails.
test-labs: build
	$(OPSLAB) validate
	$(OPSLAB) images build
	bash tests/labs.sh
	$(OPSLAB) gc
	@left=$$(docker ps -aq --filter label=opslab.managed | wc -l); \
	  if [ "$$left" -ne 0 ]; then echo "error: $$left opslab container(s) left behind"; exit 1; fi

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
