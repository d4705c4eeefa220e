"""The web tier as deployed: behind the ALB, several processes and instances on one database.

Each test starts real ``anb web`` processes or real PostgreSQL sessions; none fakes the
thing it checks.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from starlette.applications import Starlette
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline
from anb_pipeline.emulator import free_port
from anb_web.app import create_app
from anb_web.db import alembic_config
from anb_web.settings import WebSettings
from conftest import POSTGRES_URL, REDIS_URL, require_service
from test_cloudformation import CfnLoader, env_file_lines, user_data

from .conftest import PASSWORD, signup
from .test_concurrency import all_at_once
from .webproc import WebProcess, web_env

ALB_ADDRESS = "10.0.3.7"  # inside the template's VPC range
VPC_RANGE = "10.0.0.0/16"


def login(client: TestClient | httpx.Client, url: str, username: str, password: str,
          *, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post(f"{url}/api/auth/login", headers=headers,
                       json={"username": username, "password": password}).status_code


@pytest.fixture
def alb_app(web_settings: WebSettings, pipeline: MediaPipeline) -> Starlette:
    settings = web_settings.replace(trusted_proxies=(VPC_RANGE,), login_max_failures_per_client=10)
    return create_app(settings, pipeline=pipeline)


def test_behind_the_alb_one_attacker_does_not_lock_out_everyone(alb_app: Starlette) -> None:
    # Every request arrives from the ALB's address; X-Forwarded-For names the real client.
    with TestClient(alb_app, client=(ALB_ADDRESS, 41000), raise_server_exceptions=False) as alb:
        signup(alb, "bystander")
        attacker = "203.0.113.9"
        sprayed = [login(alb, "", f"user{n}", "guess", forwarded_for=attacker) for n in range(11)]
        bystander = login(alb, "", "bystander", PASSWORD, forwarded_for="198.51.100.4")
        # A client's own X-Forwarded-For is kept by the ALB as the leftmost entry: a forged
        # one does not escape the attacker's budget.
        forged = login(alb, "", "user99", "guess", forwarded_for=f"192.0.2.1, {attacker}")
    assert sprayed == [401] * 10 + [429]
    assert bystander == 200
    assert forged == 429


def test_an_untrusted_peer_cannot_choose_its_address_by_header(alb_app: Starlette) -> None:
    with TestClient(alb_app, client=("198.51.100.77", 41000),
                    raise_server_exceptions=False) as direct:
        rotating = [login(direct, "", f"user{n}", "guess", forwarded_for=f"192.0.2.{n}")
                    for n in range(11)]
    assert rotating == [401] * 10 + [429]


def test_the_template_sets_the_trusted_proxy_range_under_the_settings_name() -> None:
    template = CfnLoader(Path(__file__).parents[2].joinpath("cloudformation/anb.yaml")
                         .read_text(encoding="utf-8")).get_single_data()
    env = env_file_lines(user_data(template, "WebLaunchTemplate"))
    names = set(WebSettings.model_fields)
    assert "trusted_proxies" in names
    setting = "ANB_" + "trusted_proxies".upper()
    # The web instances trust the whole VPC (the ALB's nodes take addresses in its subnets)
    # and nothing outside it.
    assert env[setting] == "${VPC.CidrBlock}"
    assert template["Resources"]["VPC"]["Properties"]["CidrBlock"] == VPC_RANGE
    parsed = WebSettings.from_env({setting: VPC_RANGE, "ANB_JWT_SECRET": "s"})
    assert parsed.trusted_proxies == (VPC_RANGE,)


@pytest.fixture(params=["database", "redis"])
def limiter_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "database":
        return {}
    parsed = urlparse(REDIS_URL)
    require_service("Redis", parsed.hostname or "127.0.0.1", parsed.port or 6379)
    return {"ANB_REDIS_URL": REDIS_URL}


def test_two_web_processes_share_one_login_budget(
    database_url: str, tmp_path: Path, limiter_env: dict[str, str]
) -> None:
    env = web_env(database_url=database_url, tmp_path=tmp_path, ANB_LOGIN_MAX_FAILURES="4",
                  **limiter_env)
    first = WebProcess(env, log_path=tmp_path / "web1.log")
    second = WebProcess(env, log_path=tmp_path / "web2.log")
    try:
        first.wait_ready(), second.wait_ready()
        victim = f"victim{uuid.uuid4().hex[:8]}"
        with httpx.Client(timeout=30) as http:
            statuses = [login(http, (first, second)[n % 2].url, victim, f"guess{n}")
                        for n in range(8)]
    finally:
        first.terminate(), second.terminate()
    print(f"\n2 web processes, budget 4, alternating guesses: {statuses}")
    assert statuses == [401] * 4 + [429] * 4


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    parsed = urlparse(POSTGRES_URL.replace("postgresql+psycopg2", "postgresql"))
    require_service("PostgreSQL", parsed.hostname or "127.0.0.1", parsed.port or 5432)
    name = f"anb_migrate_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield str(sa.engine.make_url(POSTGRES_URL).set(database=name))
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


#: Each process imports everything first, then waits for the starting gun: the upgrades
#: then begin within milliseconds of each other, as on instances booting together.
UPGRADE_AT_SIGNAL = """
import pathlib, sys, time
from anb_web.db import upgrade
go = pathlib.Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
upgrade(sys.argv[1])
"""


@pytest.mark.parametrize("round_", range(3))
def test_three_instances_migrating_one_database_at_once_all_succeed_first_time(
    fresh_postgres: str, tmp_path: Path, round_: int
) -> None:
    go = tmp_path / "go"
    processes = [subprocess.Popen([sys.executable, "-c", UPGRADE_AT_SIGNAL, fresh_postgres,
                                   str(go)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for _ in range(3)]
    time.sleep(3)  # imports done
    go.touch()
    outputs = [process.communicate(timeout=120)[0].decode() for process in processes]
    codes = [process.returncode for process in processes]
    assert codes == [0, 0, 0], "\n---\n".join(outputs)
    engine = sa.create_engine(fresh_postgres)
    with engine.connect() as connection:
        versions = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    engine.dispose()
    head = ScriptDirectory.from_config(alembic_config(fresh_postgres)).get_current_head()
    assert [row[0] for row in versions] == [head]


def _served(scrape: str, route: str) -> float:
    pattern = re.compile(r'^anb_http_responses_total\{method="GET",route="' + re.escape(route)
                         + r'",status="200"\} ([0-9.e+]+)$', re.MULTILINE)
    return sum(float(value) for value in pattern.findall(scrape))


def test_metrics_of_two_worker_processes_are_one_view(tmp_path: Path) -> None:
    env = web_env(database_url=f"sqlite:///{tmp_path / 'anb.db'}", tmp_path=tmp_path,
                  ANB_METRICS_TOKEN="scrape")
    web = WebProcess(env, log_path=tmp_path / "web.log", workers=2)
    requests = 40
    try:
        web.wait_ready()

        def fetch(http: httpx.Client, index: int) -> httpx.Response:
            # A fresh connection each: the kernel hands them to both processes.
            return http.get(f"{web.url}/openapi.json", headers={"Connection": "close"})

        assert all_at_once(requests, fetch) == [200] * requests
        scrapes = [httpx.get(f"{web.url}/metrics", headers={"Authorization": "Bearer scrape",
                                                            "Connection": "close"}).text
                   for _ in range(8)]
    finally:
        web.terminate()
    counted = [_served(scrape, "/openapi.json") for scrape in scrapes]
    print(f"\nanb web --workers 2, {requests} requests; each scrape counts {counted}")
    assert counted == [requests] * len(scrapes)


def test_redis_down_makes_login_503_not_500(web_settings: WebSettings,
                                           pipeline: MediaPipeline) -> None:
    settings = web_settings.replace(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with TestClient(create_app(settings, pipeline=pipeline),
                    raise_server_exceptions=False) as client:
        response = client.post("/api/auth/login", json={"username": "a", "password": "b"})
    assert response.status_code == 503, response.text
    assert "Redis" in response.json()["detail"]
