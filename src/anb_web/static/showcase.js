// Showcase: vote without leaving the page; the button becomes "Voted" (as the page shows it
// after a reload); a refused vote shows the server's reason.
"use strict";

(function () {
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;

  function showVoted(form, title) {
    const voted = document.createElement("p");
    voted.className = "voted";
    voted.textContent = "Voted ✓";
    const hidden = document.createElement("span");
    hidden.className = "visually-hidden";
    hidden.textContent = " for “" + title + "”";
    voted.appendChild(hidden);
    form.replaceWith(voted);
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest(".vote-form");
    if (!form) {
      return;
    }
    event.preventDefault();
    const card = form.closest("li.card");
    const message = card.querySelector(".vote-message");
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        headers: { Accept: "application/json", "X-CSRF-Token": csrfToken },
        credentials: "same-origin",
      });
      const body = await response.json().catch(() => null);
      const title = card.querySelector(".video-title").textContent;
      if (response.status === 201 && body) {
        card.querySelector(".count").textContent = body.votes;
        message.className = "vote-message ok";
        message.textContent = "Thanks, your vote counts!";
        showVoted(form, title);
      } else if (response.status === 409) {
        // Voted already (another tab, an older page): say so, not as an error.
        message.className = "vote-message ok";
        message.textContent = "You had already voted for this video.";
        showVoted(form, title);
      } else {
        message.className = "vote-message refused";
        message.textContent = response.status === 401
          ? "Your session has expired. Please log in again."
          : (body && body.detail) || "The vote did not go through. Please try again.";
      }
    } catch (error) {
      message.className = "vote-message refused";
      message.textContent = "The connection was lost. Please try again.";
    } finally {
      button.disabled = false;
    }
    message.focus();
  });
})();
