# The two commands of the README: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-faults test-unit test-integration venv kafka tools kafka-start kafka-stop clean

$(STAMP): pyproject.toml
	@echo "== creating $(VENV) and installing ticket-slo with its test tools"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

# Resolve the broker's jars from Maven Central (first run only), unless an external broker is used.
kafka:
ifndef KAFKA_BOOTSTRAP_SERVERS
	python3 deploy/kafka/broker.py fetch
endif

# promtool and the Prometheus server (Debian's prometheus package) check metrics, rules and
# dashboards in the tests; amtool and Alertmanager (prometheus-alertmanager) the alert routing
# and the alert bridge's end-to-end test; chromium (headless) and pdfinfo (poppler-utils) print the
# SLA report to PDF and PNG, and chromium drives the status page in its browser test.
# Installed when missing and we are root (as in CI); else say how.
tools:
	@if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null \
	    || ! command -v amtool >/dev/null || ! command -v prometheus-alertmanager >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "== installing Debian's prometheus and prometheus-alertmanager packages (for the tests)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null; \
	  else \
	    echo "make: the tests need promtool, prometheus, amtool and Alertmanager: sudo apt-get install prometheus prometheus-alertmanager" >&2; exit 1; \
	  fi; \
	fi
	@if ! command -v chromium >/dev/null || ! command -v pdfinfo >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "== installing Debian's chromium and poppler-utils packages (for the SLA report's print test and the status page's browser test)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium poppler-utils fonts-dejavu-core >/dev/null; \
	  else \
	    echo "make: the tests need chromium and pdfinfo: sudo apt-get install chromium poppler-utils fonts-dejavu-core" >&2; exit 1; \
	  fi; \
	fi

## run: broker, topics, worker and simulator on this machine; Ctrl-C stops all of it
run: venv kafka
	$(BIN)/python deploy/run_local.py

## test: the whole suite, integration tests against the real broker included
test: venv kafka tools
	$(BIN)/python -m pytest

## test-faults: the fault-injection tests FAULT_ROUNDS times in a row (races show in repetition)
FAULT_ROUNDS ?= 5
test-faults: venv kafka tools
	@for round in $$(seq 1 $(FAULT_ROUNDS)); do \
	  echo "== fault round $$round of $(FAULT_ROUNDS)"; \
	  $(BIN)/python -m pytest -m faults -s -x -p no:cacheprovider || exit 1; \
	done


test-unit: venv tools
	$(BIN)/python -m pytest tests/unit

test-integration: venv kafka tools
	$(BIN)/python -m pytest tests/integration

kafka-start: kafka
	python3 deploy/kafka/broker.py start

kafka-stop:
	python3 deploy/kafka/broker.py stop

clean:
	rm -rf $(VENV) .data .pytest_cache .hypothesis *.egg-info
