"""Shared fixtures. Airflow reads its configuration at import, so its home is set up here,
before any test module can import it."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "samples"

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="cd-airflow-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["CLOUD_DISCOVERY_START_DATE"] = "2026-01-01"
os.environ["GX_ANALYTICS_ENABLED"] = "False"
os.environ.pop("CLOUD_DISCOVERY_LAKE", None)


def pytest_addoption(parser):
    parser.addoption("--regen-golden", action="store_true", default=False,
                     help="rewrite etl/sources/*/golden/*.expected.jsonl from the current parsers")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def regen_golden(request) -> bool:
    return request.config.getoption("--regen-golden")


@pytest.fixture(scope="session")
def airflow_db():
    """An initialised SQLite metadata DB in a temporary AIRFLOW_HOME."""
    from airflow.utils.db import initdb

    initdb()
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"shared samples not present at {SAMPLES}")
    return SAMPLES


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3-compatible HTTP server (moto) on 127.0.0.1, with a bucket `lake-test`."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                                             "AWS_ENDPOINT_URL")}
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint})
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="lake-test")
    yield endpoint
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


DEMO_DAY = date(2026, 11, 16)


@pytest.fixture(scope="session")
def generated_lake_template(tmp_path_factory) -> Path:
    """A small generated lake (2 days, 12 machines), built once; copy it before writing."""
    from etl.generate import generate_lake
    from etl.storage import Lake

    root = tmp_path_factory.mktemp("template") / "lake"
    generate_lake(Lake(str(root)), DEMO_DAY, 2, 12, 3_000, seed=11)
    return root


@pytest.fixture
def generated_lake(generated_lake_template, tmp_path) -> Path:
    root = tmp_path / "lake"
    shutil.copytree(generated_lake_template, root)
    return root
