"""Every link in the README and docs that points at the local server answers, not 404."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline
from anb_web.app import create_app
from anb_web.settings import WebSettings

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: http://127.0.0.1:8000/showcase, http://localhost:8000/x: the local server's address.
LOCAL_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost):8000(/[^\s)`'\"<>]*)")
#: `/my/videos` or [text](/rankings): a site path in code or a Markdown link. Paths with
#: placeholders ({id}, <id>, ...) or of the local file system are not links.
SITE_PATH = re.compile(r"(?:`|\]\()(/[a-z][A-Za-z0-9/_.\-]*)(?:`|\))")
NOT_SITE = ("/etc/", "/proc/", "/tmp/", "/usr/", "/dev/", "/var/", "/opt/", "/work/")
#: The API's prefix, named in prose ("every `/api` route"), is no address of its own.
PREFIXES = {"/api", "/api/"}


def local_links() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for document in DOCUMENTS:
        text = document.read_text()
        for path in LOCAL_URL.findall(text) + SITE_PATH.findall(text):
            if not path.startswith(NOT_SITE) and path not in PREFIXES:
                found.setdefault(path.rstrip(".,"), set()).add(document.name)
    return found


def test_the_documents_link_the_pages_and_the_api() -> None:
    links = local_links()
    for expected in ("/showcase", "/my/videos", "/rankings", "/openapi.json"):
        assert expected in links, sorted(links)


def test_every_local_link_in_the_readme_and_docs_answers(
    web_settings: WebSettings, pipeline: MediaPipeline
) -> None:
    # Configured as documented: /metrics exists once ANB_METRICS_TOKEN is set.
    client = TestClient(create_app(web_settings.replace(metrics_token="docs-token"),
                                   pipeline=pipeline))
    broken = {}
    for path, documents in sorted(local_links().items()):
        response = client.get(path, headers={"accept": "text/html"}, follow_redirects=True)
        if response.status_code == 404:
            broken[path] = sorted(documents)
    assert broken == {}
