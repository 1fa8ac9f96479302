/* Review page: rating, approving and editing post in the background (the forms also work
 * without scripts) and the cell updates from the server's answer. Requests of one cell
 * are sent one after another, so the last click is the one that sticks. */
(function () {
  "use strict";

  var counter = document.querySelector("[data-approved-count]");
  var queues = new WeakMap();

  function cellOf(el) {
    return el.closest("[data-review-cell]");
  }

  function say(cell, text, isError) {
    var status = cell.querySelector("[data-review-status]");
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("is-error", !!isError);
    clearTimeout(status._timer);
    if (!isError && text) {
      status._timer = setTimeout(function () {
        status.textContent = "";
      }, 2000);
    }
  }

  function apply(cell, g) {
    var wasApproved = cell.dataset.approved === "true";
    cell.dataset.approved = g.approved ? "true" : "false";
    if (counter && wasApproved !== g.approved) {
      counter.textContent = Number(counter.textContent) + (g.approved ? 1 : -1);
    }
    cell.querySelectorAll("input[name=rating]").forEach(function (radio) {
      radio.checked = Number(radio.value) === g.rating;
    });
    var approve = cell.querySelector("[data-approve]");
    approve.setAttribute("aria-pressed", g.approved ? "true" : "false");
    approve.value = g.approved ? "false" : "true";
    approve.textContent = g.approved ? "✓ Approved" : "Approve";
    cell.querySelector("[data-approved-badge]").hidden = !g.approved;
    cell.querySelector("[data-final-text]").textContent = g.final_text;
    cell.querySelector("[data-original-text]").textContent = g.text;
    cell.querySelector("[data-original]").hidden = !g.edited_text;
    var textarea = cell.querySelector("textarea[name=edited_text]");
    if (textarea && document.activeElement !== textarea) textarea.value = g.final_text;
    var revert = cell.querySelector("[data-revert]");
    if (revert) revert.hidden = !g.edited_text;
  }

  function send(cell, form, fields) {
    var data = new FormData();
    data.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    Object.keys(fields).forEach(function (key) {
      data.append(key, fields[key]);
    });
    say(cell, "Saving…");
    var previous = queues.get(cell) || Promise.resolve();
    var next = previous
      .then(function () {
        return fetch(form.action, {
          method: "POST",
          body: data,
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
      })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.error || "Not saved.");
          return body;
        });
      })
      .then(function (g) {
        apply(cell, g);
        say(cell, "Saved");
      })
      .catch(function (err) {
        say(cell, err.message && err.message !== "Failed to fetch" ? err.message : "Not saved: the server did not answer.", true);
      });
    queues.set(cell, next);
    return next;
  }

  document.addEventListener("change", function (event) {
    var radio = event.target;
    if (radio.name !== "rating" || !radio.closest("[data-review-form]")) return;
    send(cellOf(radio), radio.form, { rating: radio.value });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var cell = cellOf(form);
    if (!cell) return;
    var submitter = event.submitter;
    if (form.matches("[data-review-form]")) {
      event.preventDefault();
      if (submitter && submitter.name === "approved") send(cell, form, { approved: submitter.value });
      return;
    }
    if (form.matches("[data-edit-form]")) {
      event.preventDefault();
      if (submitter && submitter.name === "revert") {
        send(cell, form, { revert: "on" });
      } else {
        var textarea = form.querySelector("textarea");
        send(cell, form, { edited_text: textarea.value }).then(function () {
          textarea.blur();
        });
      }
    }
  });
})();
