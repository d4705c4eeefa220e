"""/health checks every dependency for real; /health/live is shallow."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline
from anb_pipeline.emulator import free_port
from anb_web.app import create_app
from anb_web.settings import WebSettings


def health_with(web_settings: WebSettings, **changes: object) -> tuple[int, dict[str, str]]:
    pipeline_changes = {k: v for k, v in changes.items() if k != "database_url"}
    settings = web_settings.pipeline.replace(**pipeline_changes)
    web = web_settings.replace(pipeline=settings, health_timeout_s=2.0,
                               database_url=changes.get("database_url",
                                                        web_settings.database_url))
    with TestClient(create_app(web, pipeline=MediaPipeline(settings))) as client:
        response = client.get("/health")
    return response.status_code, response.json()


def test_healthy(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "database": "connected",
                               "storage": "available", "queue": "available"}
    assert client.get("/health/live").status_code == 200


def test_each_dependency_down_is_503_naming_it(web_settings: WebSettings, tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    cases = {
        "queue": {"broker_url": "sqs://", "aws_endpoint_url": closed},
        "storage": {"storage_url": f"file://{blocker}/storage"},
        "database": {"database_url":
                     f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/none"},
    }
    for down, changes in cases.items():
        status, body = health_with(web_settings, **changes)
        assert status == 503, down
        assert body["status"] == "unhealthy"
        assert body[down] == "unavailable", down
        assert [name for name, value in body.items() if value == "unavailable"] == [down]
