"""The OpenAPI document covers every route; every error is JSON with a message."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient


def test_every_route_and_method_is_in_the_openapi_document(
    client: TestClient, app: Starlette
) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    routes = [route for route in app.routes if isinstance(route, Route)]
    assert len(routes) >= 12
    for route in routes:
        path = route.path.replace(":path}", "}")
        assert path in document["paths"], path
        methods = {method.lower() for method in route.methods or ()} - {"head"}
        assert methods <= set(document["paths"][path]), (path, methods)
        for method in methods:
            assert document["paths"][path][method]["responses"], (path, method)


def test_every_reference_in_the_document_resolves(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if "$ref" in node else []
            return own + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for item in node for r in refs(item)]
        return []

    for ref in refs(document):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_unknown_routes_and_methods_answer_json(client: TestClient) -> None:
    missing = client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    wrong_method = client.put("/api/videos")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["detail"]


def test_an_unexpected_error_is_a_generic_json_500(app: Starlette) -> None:
    async def explode(request: object) -> None:
        raise RuntimeError("secret internals")

    app.router.routes.append(Route("/explode", explode))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/explode")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert "secret" not in response.text
