// Showcase: vote without leaving the page; a refused vote shows the server's reason.
"use strict";

(function () {
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;

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
      if (response.status === 201 && body) {
        card.querySelector(".count").textContent = body.votes;
        message.className = "vote-message ok";
        message.textContent = "Thanks, your vote counts!";
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
  });
})();
