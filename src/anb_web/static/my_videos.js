// My videos: upload with a progress bar, then live processing status per step.
// The page session cookie is HttpOnly; requests carry the CSRF token from the <meta> tag.
"use strict";

(function () {
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  const list = document.getElementById("video-list");
  const template = document.getElementById("video-row-template");
  const form = document.getElementById("upload-form");
  const progressBox = document.querySelector(".upload-progress");
  const progressBar = document.getElementById("upload-progress");
  const uploadStatus = document.getElementById("upload-status");
  const POLL_MS = 1500;
  const FINAL = ["processed", "failed"];
  const STEP_WORDS = { pending: "waiting", running: "running", succeeded: "done", failed: "failed" };

  function describeError(status, body) {
    if (status === 401) {
      return "Your session has expired. Please log in again.";
    }
    if (body && body.detail) {
      const fields = body.errors ? Object.entries(body.errors).map(([k, v]) => k + ": " + v) : [];
      return [body.detail].concat(fields).join(" — ");
    }
    return "The server answered " + status + ". Please try again.";
  }

  function parse(text) {
    try {
      return JSON.parse(text);
    } catch (error) {
      return null;
    }
  }

  function renderSteps(row, steps) {
    const box = row.querySelector(".processing");
    const done = steps.filter((step) => step.status === "succeeded").length;
    const bar = row.querySelector(".steps-progress");
    bar.max = Math.max(steps.length, 1);
    bar.value = done;
    bar.textContent = done + " of " + steps.length;
    const items = steps.map((step) => {
      const item = document.createElement("li");
      item.className = "step step-" + step.status;
      let text = step.name + ": " + (STEP_WORDS[step.status] || step.status);
      if (step.seconds !== null && step.seconds !== undefined) {
        text += " (" + step.seconds.toFixed(1) + " s)";
      }
      if (step.attempts > 1) {
        text += ", attempt " + step.attempts;
      }
      item.textContent = text;
      return item;
    });
    row.querySelector(".steps").replaceChildren(...items);
    box.hidden = FINAL.includes(row.dataset.status);
  }

  function renderPlayer(row, video) {
    const player = row.querySelector(".player");
    if (!video.processed_url || player.querySelector("video")) {
      return;
    }
    const element = document.createElement("video");
    element.controls = true;
    element.preload = "metadata";
    element.playsInline = true;
    element.src = video.processed_url;
    if (video.poster_url) {
      element.poster = video.poster_url;
    }
    element.setAttribute("aria-label", "Processed video: " + video.title);
    element.textContent = "Your browser cannot play this video.";
    player.appendChild(element);
  }

  function render(row, video) {
    row.dataset.status = video.processing_status;
    row.querySelector(".status").textContent = video.processing_status;
    row.querySelector(".votes").textContent = video.votes;
    if (video.steps) {
      renderSteps(row, video.steps);
    }
    const errorText = row.querySelector(".error-text");
    if (video.error) {
      errorText.textContent = "Processing failed at step " + video.error.step + ": " + video.error.message;
      errorText.hidden = false;
    }
    renderPlayer(row, video);
  }

  async function refresh(row) {
    const response = await fetch("/page-api/videos/" + encodeURIComponent(row.dataset.id), {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (response.ok) {
      render(row, await response.json());
    } else if (response.status === 401) {
      row.querySelector(".row-message").textContent = describeError(401, null);
    }
  }

  async function poll() {
    const rows = Array.from(list.querySelectorAll("li.video")).filter(
      (row) => !FINAL.includes(row.dataset.status) || row.dataset.details !== "yes"
    );
    await Promise.all(rows.map(async (row) => {
      try {
        await refresh(row);
        // A finished video is fetched once more for its steps and error, then left alone.
        row.dataset.details = "yes";
      } catch (error) {
        // A dropped connection is retried on the next tick.
      }
    }));
    window.setTimeout(poll, POLL_MS);
  }

  function addRow(video) {
    const row = template.content.firstElementChild.cloneNode(true);
    row.dataset.id = video.id;
    row.querySelector(".video-title").textContent = video.title;
    const description = row.querySelector(".description");
    if (description) {
      description.remove();
    }
    const form = row.querySelector(".delete-form");
    form.action = "/page-api/videos/" + encodeURIComponent(video.id) + "/delete";
    form.querySelector(".visually-hidden").textContent = " “" + video.title + "”";
    render(row, video);
    list.prepend(row);
    document.getElementById("empty-list").hidden = true;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const button = document.getElementById("upload-button");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/page-api/videos");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (progress) => {
      if (progress.lengthComputable) {
        progressBar.value = Math.round((progress.loaded / progress.total) * 100);
        progressBar.textContent = progressBar.value + " %";
      }
    });
    xhr.addEventListener("load", () => {
      button.disabled = false;
      const body = parse(xhr.responseText);
      if (xhr.status === 201 && body) {
        progressBar.value = 100;
        uploadStatus.textContent = "Uploaded “" + body.title + "”. Processing has started.";
        form.reset();
        addRow(body);
      } else {
        uploadStatus.textContent = "Upload failed: " + describeError(xhr.status, body);
      }
    });
    xhr.addEventListener("error", () => {
      button.disabled = false;
      uploadStatus.textContent = "Upload failed: the connection was lost. Please try again.";
    });
    progressBar.value = 0;
    progressBox.hidden = false;
    button.disabled = true;
    uploadStatus.textContent = "Uploading…";
    xhr.send(new FormData(form));
  });

  list.addEventListener("submit", async (event) => {
    const deleteForm = event.target.closest(".delete-form");
    if (!deleteForm) {
      return;
    }
    event.preventDefault();
    const row = deleteForm.closest("li.video");
    const message = row.querySelector(".row-message");
    const response = await fetch(deleteForm.action, {
      method: "POST",
      headers: { Accept: "application/json", "X-CSRF-Token": csrfToken },
      credentials: "same-origin",
    });
    if (response.status === 204) {
      uploadStatus.textContent = "Deleted “" + row.querySelector(".video-title").textContent + "”.";
      row.remove();
      document.getElementById("empty-list").hidden = list.children.length > 0;
    } else {
      message.textContent = describeError(response.status, await response.json().catch(() => null));
    }
  });

  poll();
})();
