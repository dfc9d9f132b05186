# Two entry points, each installs what it needs:
#   make demo  - set up .venv (with the embedded model) and run the quickstart suite
#   make test  - set up tox and run every test environment (tests, lint, type)
PYTHON ?= python3
VENV   ?= .venv
TOOLS  ?= .venv-tools

.PHONY: demo test venv clean

demo:
	./scripts/demo

test: $(TOOLS)/bin/tox
	$(TOOLS)/bin/tox $(TOXARGS)

$(TOOLS)/bin/tox:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q --disable-pip-version-check 'tox>=4.11'

venv:
	./scripts/demo --setup-only

clean:
	rm -rf .tox $(TOOLS) .harness reports/*.html reports/*.json
