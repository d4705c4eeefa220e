// My videos: resumable upload (tus-js-client) with a progress bar, live processing status per pass, a readable
// failure with "Try again", and delete after an accessible confirmation.
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
  const uploadError = document.getElementById("upload-error");
  const dialog = document.getElementById("delete-dialog");
  const POLL_MS = 1500;
  // One PATCH per chunk: a dropped connection costs at most one chunk of resending.
  const CHUNK_BYTES = 8 * 1024 * 1024;
  const FINAL = ["processed", "failed"];
  const STEP_WORDS = { pending: "waiting", running: "running", succeeded: "done", failed: "failed" };
  // The video whose upload the box above reports on, until it is processed or failed.
  let watched = null;

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

  function votesText(count) {
    const votes = count || 0;
    return votes + (votes === 1 ? " vote" : " votes");
  }

  // Steps fused into one ffmpeg pass share one record of time: show them once.
  function passesOf(steps) {
    const passes = [];
    for (const step of steps) {
      const name = step.pass || step.name;
      const last = passes[passes.length - 1];
      if (last && last.name === name) {
        last.steps.push(step);
      } else {
        passes.push({ name: name, steps: [step] });
      }
    }
    return passes;
  }

  function renderSteps(row, steps) {
    const box = row.querySelector(".processing");
    const passes = passesOf(steps);
    const done = passes.filter((pass) => pass.steps[0].status === "succeeded").length;
    const bar = row.querySelector(".steps-progress");
    bar.max = Math.max(passes.length, 1);
    bar.value = done;
    bar.textContent = done + " of " + passes.length;
    const items = passes.map((pass) => {
      const step = pass.steps[0];
      const item = document.createElement("li");
      item.className = "step step-" + step.status;
      let text = pass.steps.length === 1 ? step.name
        : pass.steps[0].name + " → " + pass.steps[pass.steps.length - 1].name + ", one pass";
      text += ": " + (STEP_WORDS[step.status] || step.status);
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

  function renderFailure(row, error) {
    const box = row.querySelector(".failure");
    box.hidden = !error;
    if (!error) {
      return;
    }
    row.querySelector(".failure-reason").textContent = error.reason;
    row.querySelector(".failure-technical").textContent =
      "Step " + error.step + ": " + error.message;
    const retry = row.querySelector(".retry-form");
    retry.hidden = !error.retryable;
    row.querySelector(".retries-left").textContent =
      error.retries_left + (error.retries_left === 1 ? " try left" : " tries left");
  }

  function render(row, video) {
    row.dataset.status = video.processing_status;
    row.querySelector(".status").textContent = video.processing_status;
    row.querySelector(".votes").textContent = votesText(video.votes);
    if (video.steps) {
      renderSteps(row, video.steps);
    }
    if (video.steps || video.processing_status !== "failed") {
      renderFailure(row, video.error);
    }
    renderPlayer(row, video);
    if (row.dataset.retrying === "yes" && FINAL.includes(video.processing_status)) {
      row.dataset.retrying = "";
      row.querySelector(".row-message").textContent = "";
    }
    if (watched === row.dataset.id && FINAL.includes(video.processing_status) && video.steps) {
      watched = null;
      uploadStatus.textContent = video.processing_status === "processed"
        ? "“" + video.title + "” is processed and published."
        : "“" + video.title + "” could not be processed: see below.";
    }
  }

  async function refresh(row) {
    // Kept on the row so a delete can cancel a poll still in flight (it would come back 404).
    row.pollAbort = new AbortController();
    const response = await fetch("/page-api/videos/" + encodeURIComponent(row.dataset.id), {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      signal: row.pollAbort.signal,
    });
    if (response.ok) {
      render(row, await response.json());
    } else if (response.status === 401) {
      row.querySelector(".row-message").textContent = describeError(401, null);
    }
  }

  async function poll() {
    const rows = Array.from(list.querySelectorAll("li.video")).filter(
      (row) => row.dataset.deleting !== "yes"
        && (!FINAL.includes(row.dataset.status) || row.dataset.details !== "yes")
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
    const base = "/page-api/videos/" + encodeURIComponent(video.id);
    row.querySelector(".delete-form").action = base + "/delete";
    row.querySelector(".retry-form").action = base + "/retry";
    for (const hidden of row.querySelectorAll("button .visually-hidden")) {
      hidden.textContent = " “" + video.title + "”";
    }
    render(row, video);
    list.prepend(row);
    document.getElementById("empty-list").hidden = true;
  }

  function showUploadError(text) {
    progressBox.hidden = true;
    progressBar.value = 0;
    uploadStatus.textContent = "";
    uploadError.textContent = "Upload failed: " + text;
    uploadError.hidden = false;
  }

  function showProgress(sent, total) {
    progressBar.value = total ? Math.round((sent / total) * 100) : 0;
    progressBar.textContent = progressBar.value + " %";
  }

  function uploaded(videoId, title) {
    // The upload is done; from here on its row below shows the processing.
    document.getElementById("upload-button").disabled = false;
    progressBox.hidden = true;
    watched = videoId;
    uploadStatus.textContent = "Uploaded “" + title + "”. Processing has started: "
      + "follow it in the list below.";
    form.reset();
    addRow({ id: videoId, title: title, processing_status: "pending", votes: 0 });
  }

  // Resumable upload (tus): the file goes in chunks; a dropped connection resumes where
  // the server's offset says, and so does the same file chosen again after a reload (the
  // browser keeps the upload's address under the file's fingerprint).
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const button = document.getElementById("upload-button");
    const file = document.getElementById("file").files[0];
    const title = document.getElementById("title").value;
    if (!file) {
      showUploadError("choose a video file.");
      return;
    }
    const upload = new tus.Upload(file, {
      endpoint: "/page-api/uploads",
      chunkSize: CHUNK_BYTES,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      removeFingerprintOnSuccess: true,
      headers: { "X-CSRF-Token": csrfToken },
      metadata: {
        title: title,
        description: document.getElementById("description").value,
        filename: file.name,
      },
      onProgress: showProgress,
      onSuccess: (payload) => {
        const response = payload && payload.lastResponse;
        const videoId = response ? response.getHeader("ANB-Video-Id") : null;
        if (videoId) {
          uploaded(videoId, title);
        } else {
          showUploadError("the server did not name the new video. Reload the page.");
        }
      },
      onError: (error) => {
        if (!navigator.onLine) {
          // Offline: tus-js-client stops retrying; going online again resumes the upload.
          uploadStatus.textContent = "Connection lost. The upload resumes when you are back online.";
          window.addEventListener("online", () => {
            uploadStatus.textContent = "Back online: resuming the upload…";
            upload.start();
          }, { once: true });
          return;
        }
        button.disabled = false;
        const response = error.originalResponse;
        showUploadError(response
          ? describeError(response.getStatus(), parse(response.getBody()))
          : "the connection was lost. Please try again.");
      },
    });
    progressBar.value = 0;
    progressBox.hidden = false;
    uploadError.hidden = true;
    button.disabled = true;
    uploadStatus.textContent = "Uploading…";
    upload.findPreviousUploads().then((previous) => {
      if (previous.length > 0) {
        uploadStatus.textContent = "Resuming your earlier upload of this file…";
        upload.resumeFromPreviousUpload(previous[0]);
      }
      upload.start();
    });
  });

  function confirmDelete(title) {
    dialog.querySelector(".delete-dialog-name").textContent = "“" + title + "”";
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "delete"),
                              { once: true });
    });
  }

  async function deleteRow(row, deleteForm) {
    const title = row.querySelector(".video-title").textContent;
    const message = row.querySelector(".row-message");
    if (!(await confirmDelete(title))) {
      return;
    }
    message.textContent = "Deleting…";
    row.dataset.deleting = "yes";
    if (row.pollAbort) {
      row.pollAbort.abort();
    }
    let response;
    try {
      response = await fetch(deleteForm.action, {
        method: "POST",
        headers: { Accept: "application/json", "X-CSRF-Token": csrfToken },
        credentials: "same-origin",
      });
    } catch (error) {
      delete row.dataset.deleting;
      message.textContent = "The server could not be reached. Please try again.";
      return;
    }
    if (response.status === 204) {
      // The row gives way to a note in its place, which takes the focus.
      const note = document.createElement("li");
      note.className = "card deleted-note";
      note.setAttribute("role", "status");
      note.tabIndex = -1;
      note.textContent = "Deleted “" + title + "”.";
      row.replaceWith(note);
      note.focus();
    } else {
      delete row.dataset.deleting;
      message.textContent = describeError(response.status, await response.json().catch(() => null));
    }
  }

  async function retryRow(row, retryForm) {
    const message = row.querySelector(".row-message");
    const button = retryForm.querySelector("button");
    button.disabled = true;
    const response = await fetch(retryForm.action, {
      method: "POST",
      headers: { Accept: "application/json", "X-CSRF-Token": csrfToken },
      credentials: "same-origin",
    });
    button.disabled = false;
    const body = await response.json().catch(() => null);
    if (response.status === 202 && body) {
      message.textContent = "Trying again…";
      row.dataset.retrying = "yes";
      row.dataset.details = "";
      row.dataset.status = body.processing_status;
      row.querySelector(".status").textContent = body.processing_status;
      renderFailure(row, null);
      row.querySelector(".processing").hidden = false;
    } else {
      message.textContent = describeError(response.status, body);
    }
  }

  list.addEventListener("submit", (event) => {
    const row = event.target.closest("li.video");
    const deleteForm = event.target.closest(".delete-form");
    const retryForm = event.target.closest(".retry-form");
    if (!row || !(deleteForm || retryForm)) {
      return;
    }
    event.preventDefault();
    if (deleteForm) {
      deleteRow(row, deleteForm);
    } else {
      retryRow(row, retryForm);
    }
  });

  poll();
})();
