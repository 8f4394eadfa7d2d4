"""Running the project's Airflow DAGs embedded (SQLite metadata, no services).

Kept outside `etl/`, which never imports Airflow: the CLI starts `python -m
orchestration.embedded` as a child process and reads one JSON line per run from it.
"""
