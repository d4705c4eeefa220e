"""Every page is valid HTML (html5lib, the WHATWG parser, strict), forms carry the browser's
hints, browsers get an HTML 404 while API clients keep JSON, and Try again follows its rules."""

from __future__ import annotations

from pathlib import Path

import dramatiq
import html5lib
import pytest
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline, PipelineEvent, event_order
from anb_web.sink import DatabaseSink

from .conftest import PASSWORD, bearer, publish, signup, upload
from .test_pages import csrf, page_signup

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def parse_errors(html: str) -> list[str]:
    parser = html5lib.HTMLParser(strict=False)
    parser.parse(html)
    return [f"line {line}:{col} {code} {data}" for (line, col), code, data in parser.errors]


def assert_valid(response: object, what: str) -> str:
    text: str = response.text  # type: ignore[attr-defined]
    assert response.status_code < 500, (what, text)  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("text/html"), what  # type: ignore[attr-defined]
    assert parse_errors(text) == [], (what, parse_errors(text))
    return text


def inputs(html: str) -> dict[str, str]:
    """Input name -> its whole tag, parsed the way a browser does."""
    document = html5lib.parse(html, namespaceHTMLElements=False)
    return {element.get("name"): element.attrib for element in document.iter("input")
            if element.get("name")}


def test_the_validator_catches_glued_attributes() -> None:
    assert parse_errors('<!doctype html><html lang="en"><head><title>t</title></head>'
                        '<body><input value=""required></body></html>') != []


def test_every_page_is_valid_html_signed_out_and_in_with_and_without_errors(
    client: TestClient, sink: DatabaseSink, pipeline: MediaPipeline, small_video: Path,
) -> None:
    pages = {path: client.get(path) for path in ("/showcase", "/rankings", "/login", "/signup",
                                                  "/rankings?page=99", "/no/such/page")}
    pages["/login (error)"] = client.post("/login", data={
        "csrf_token": csrf(client, "/login"), "username": "nobody", "password": "wrong-password"})
    pages["/signup (errors)"] = client.post("/signup", data={
        "csrf_token": csrf(client), "username": "x", "email": "bad", "password": "short"})
    pages["/rankings (error)"] = client.get("/rankings?city=" + "x" * 300)
    pages["/no/such/page"] = client.get("/no/such/page", headers={"accept": BROWSER_ACCEPT})
    for name, response in pages.items():
        assert_valid(response, name)

    login = inputs(pages["/login"].text)
    assert "required" in login["username"] and login["username"]["autocomplete"] == "username"
    assert login["password"]["autocomplete"] == "current-password" and "required" in login["password"]
    signup_form = inputs(pages["/signup (errors)"].text)
    assert signup_form["password"]["autocomplete"] == "new-password"
    assert signup_form["email"]["type"] == "email" and signup_form["email"]["value"] == "bad"
    assert signup_form["username"]["aria-invalid"] == "true"
    assert "required" not in signup_form["city"]

    # Signed in, with a processed video (player and poster) and a failed one in the lists.
    token = signup(client, "owner_html", city="Cali")
    done = upload(client, token, small_video, title="Done").json()["id"]
    publish(sink, pipeline, done)
    failed = upload(client, token, small_video, title="Broken").json()["id"]
    sink.emit(PipelineEvent(kind="pipeline_dead_lettered", video_id=failed, step="upload",
                            attempt=3, message_id="m-dead", error="StorageUnavailable: S3 down"))
    assert_valid(TestClient(client.app).get("/showcase"), "/showcase signed out, with videos")
    owner_page = TestClient(client.app)
    owner_page.post("/login", data={"csrf_token": csrf(owner_page, "/login"),
                                    "username": "owner_html", "password": PASSWORD})
    for path in ("/my/videos", "/showcase", "/rankings"):
        assert_valid(owner_page.get(path), path + " signed in as a player")
    confirm = owner_page.post(f"/page-api/videos/{done}/delete",
                              data={"csrf_token": csrf(owner_page, "/my/videos")})
    assert "Delete “Done”?" in assert_valid(confirm, "the delete confirmation page")
    page_signup(client, "fan_html")
    for path in ("/my/videos", "/showcase", "/rankings"):
        assert_valid(client.get(path), path + " signed in")


def test_browsers_get_an_html_404_and_api_clients_keep_json(client: TestClient) -> None:
    page = client.get("/my-videos", headers={"accept": BROWSER_ACCEPT})
    assert page.status_code == 404
    html = assert_valid(page, "404 page")
    assert "<h1>Page not found</h1>" in html and 'href="/showcase"' in html
    assert "script-src 'self'" in page.headers["content-security-policy"]

    for headers in ({}, {"accept": "application/json"}, {"accept": "*/*"}):
        answer = client.get("/my-videos", headers=headers)
        assert answer.status_code == 404 and answer.json() == {"detail": "Not Found"}
    # The API answers JSON even to a browser.
    api = client.get("/api/videos/not-a-uuid", headers={"accept": BROWSER_ACCEPT})
    assert api.headers["content-type"] == "application/json" and api.status_code in (401, 404)
    wrong_method = client.put("/showcase", headers={"accept": BROWSER_ACCEPT})
    assert wrong_method.status_code == 405 and "<h1>" in wrong_method.text


def _fail(sink: DatabaseSink, video_id: str, *, step: str, error: str, job: dict | None,
          run: int = 0) -> None:
    """The dead letter of run ``run`` (0 for the upload's, one more for each Try again)."""
    sink.emit(PipelineEvent(
        kind="pipeline_dead_lettered", video_id=video_id, step=step, attempt=3,
        message_id=f"m-{run}", error=error, job=job,
        order=event_order(run=run, position=1, attempt=3, kind="pipeline_dead_lettered")))


def test_a_failure_is_explained_and_try_again_resumes_at_the_failed_step_a_limited_number_of_times(
    client: TestClient, sink: DatabaseSink, pipeline: MediaPipeline, small_video: Path,
) -> None:
    token = signup(client, "retrier")
    video_id = upload(client, token, small_video).json()["id"]
    first, last = pipeline.steps[0].name, pipeline.steps[-1].name
    job = {"video_id": video_id, "source_key": f"originals/{video_id}.mp4",
           "input_key": f"work/{video_id}/{first}.mp4", "meta": {"fps": 30}}
    _fail(sink, video_id, step=last, error="StorageUnavailable: S3 timed out", job=job)

    detail = client.get(f"/api/videos/{video_id}", headers=bearer(token)).json()
    assert detail["processing_status"] == "failed"
    error = detail["error"]
    assert error["step"] == last and error["message"].startswith("StorageUnavailable")
    assert "our side" in error["reason"] and "your file is fine" in error["reason"]
    assert error["retryable"] is True and error["retries_left"] == 3

    other = signup(client, "intruder")
    assert client.post(f"/api/videos/{video_id}/retry", headers=bearer(other)).status_code == 403
    assert client.post(f"/api/videos/{video_id}/retry").status_code == 401

    queue = pipeline.broker.queues[pipeline.settings.queue_name]
    queue.queue.clear()
    answer = client.post(f"/api/videos/{video_id}/retry", headers=bearer(token))
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"id": video_id, "processing_status": "processing", "retries_left": 2}
    sent = [dramatiq.Message.decode(body) for body in list(queue.queue)]
    # Resumed at the failed step with the failed step's own job, fresh attempts.
    # ... as run 1, so its events order after the failed run's.
    assert [(m.actor_name, m.args, m.options.get("retries"), m.options.get("anb_run"))
            for m in sent] == [(f"anb_step_{last}", (job,), None, 1)]
    again = client.post(f"/api/videos/{video_id}/retry", headers=bearer(token))
    assert again.status_code == 409 and "failed" in again.json()["detail"]

    # Two more failures and tries; then the limit.
    for attempt in (1, 2):
        _fail(sink, video_id, step=last, error="StorageUnavailable: S3 timed out", job=job,
              run=attempt)
        assert client.post(f"/api/videos/{video_id}/retry", headers=bearer(token)).status_code == 202
    # A late copy of an old run's dead letter changes nothing; the third run's counts.
    _fail(sink, video_id, step=last, error="StorageUnavailable: S3 timed out", job=job, run=1)
    assert client.get(f"/api/videos/{video_id}",
                      headers=bearer(token)).json()["processing_status"] == "processing"
    _fail(sink, video_id, step=last, error="StorageUnavailable: S3 timed out", job=job, run=3)
    error = client.get(f"/api/videos/{video_id}", headers=bearer(token)).json()["error"]
    assert error["retries_left"] == 0 and error["retryable"] is False
    refused = client.post(f"/api/videos/{video_id}/retry", headers=bearer(token))
    assert refused.status_code == 409 and "3 times" in refused.json()["detail"]


@pytest.mark.parametrize(("error", "retryable", "words"), [
    ("NotAVideo: no video stream", False, "upload another file"),
    ("PermanentMediaError: the file is truncated", False, "upload another file"),
    ("MediaTimeout: ffmpeg ran longer than 1 s", True, "took longer than we allow"),
    ("delivered 3 times without completing: the worker was killed", True, "our side"),
])
def test_the_reason_is_keyed_on_the_error_type_and_a_file_problem_cannot_be_retried(
    client: TestClient, sink: DatabaseSink, small_video: Path, error: str, retryable: bool,
    words: str,
) -> None:
    token = signup(client, "reasons")
    video_id = upload(client, token, small_video).json()["id"]
    _fail(sink, video_id, step="bumpers", error=error, job=None)
    explained = client.get(f"/api/videos/{video_id}", headers=bearer(token)).json()["error"]
    assert words in explained["reason"] and explained["retryable"] is retryable
    assert "ffmpeg" not in explained["reason"] and "Error" not in explained["reason"]
    answer = client.post(f"/api/videos/{video_id}/retry", headers=bearer(token))
    assert answer.status_code == (202 if retryable else 409), answer.text


def test_the_public_list_says_which_videos_a_signed_in_caller_voted_for(
    client: TestClient, sink: DatabaseSink, pipeline: MediaPipeline, small_video: Path,
) -> None:
    owner = signup(client, "voted_owner")
    first = upload(client, owner, small_video, title="First").json()["id"]
    second = upload(client, owner, small_video, title="Second").json()["id"]
    publish(sink, pipeline, first)
    publish(sink, pipeline, second)
    fan = signup(client, "voted_fan")
    assert client.post(f"/api/public/videos/{first}/vote", headers=bearer(fan)).status_code == 201

    anonymous = client.get("/api/public/videos").json()["items"]
    assert all("voted" not in item for item in anonymous)
    mine = {item["id"]: item["voted"]
            for item in client.get("/api/public/videos", headers=bearer(fan)).json()["items"]}
    assert mine == {first: True, second: False}
    assert client.get("/api/public/videos", headers=bearer("not-a-token")).status_code == 401
