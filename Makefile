.PHONY: run test lint bench

# Set up and run the app on the embedded default with demo data and the simulator.
run:
	scripts/setup.sh requirements.txt
	.venv/bin/python manage.py run_demo

# Set up and run every test (SQLite + in-memory, then PostgreSQL + Redis).
test:
	scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
