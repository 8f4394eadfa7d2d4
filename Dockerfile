# Cloud Discovery on Airflow: the official Airflow image plus this project.
#
# Build:  docker compose build        (or: docker build -t cloud-discovery-airflow:0.1.0 .)
#
# The Airflow tag below must match the apache-airflow pin in pyproject.toml
# (tests/test_deployment.py checks it).
FROM apache/airflow:3.3.2-python3.11

# The source tree lives outside AIRFLOW_HOME (/opt/airflow) so it can never shadow the
# installed packages from the working directory. It must be writable by `airflow`
# because pip builds the project in place.
USER root
RUN mkdir -p /opt/cloud-discovery \
    && chown airflow:0 /opt/cloud-discovery
USER airflow
WORKDIR /opt/cloud-discovery

# Dependency metadata and code first; DAGs last so editing a DAG does not reinstall.
COPY --chown=airflow:0 pyproject.toml README.md ./
COPY --chown=airflow:0 etl/ ./etl/
COPY --chown=airflow:0 schemas/ ./schemas/
COPY --chown=airflow:0 orchestration/ ./orchestration/

# As the official image documents: install as the airflow user, and pin
# apache-airflow to the image's own version (AIRFLOW_VERSION is set by the base image)
# in the same command so pip can never upgrade or downgrade Airflow.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" .

# DAGs are baked in; docker-compose.yml may bind-mount ./dags over this for development.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/

WORKDIR /opt/airflow
