/* Template editor: a live preview of the rendered messages for one product (debounced,
 * posted to the preview endpoint with the form's CSRF token) and buttons that insert a
 * variable at the cursor. */
(function () {
  "use strict";

  var form = document.querySelector("[data-template-form]");
  if (!form) return;
  var DEBOUNCE_MS = 350;
  var fields = {
    system_prompt: form.querySelector("[name=system_prompt]"),
    body: form.querySelector("[name=body]"),
  };
  var product = document.querySelector("[data-preview-product]");
  var language = document.querySelector("[data-preview-language]");
  var preview = document.querySelector("[data-preview]");
  var errorEl = document.querySelector("[data-preview-error]");
  var post = window.copygenForms.latestPost(form);
  var lastFocused = fields.body;

  function markField(name) {
    Object.keys(fields).forEach(function (key) {
      fields[key].classList.toggle("preview-invalid", key === name);
    });
  }

  function showError(message, field) {
    errorEl.textContent = message;
    errorEl.hidden = false;
    markField(field);
    preview.classList.add("is-stale");
  }

  function showMessages(messages) {
    errorEl.hidden = true;
    errorEl.textContent = "";
    markField(null);
    preview.classList.remove("is-stale");
    var nodes = messages.map(function (message) {
      var block = document.createElement("div");
      block.className = "preview-message preview-" + message.role;
      var role = document.createElement("div");
      role.className = "preview-role";
      role.textContent = message.role;
      var content = document.createElement("pre");
      content.textContent = message.content;
      block.append(role, content);
      return block;
    });
    preview.replaceChildren.apply(preview, nodes);
  }

  function run() {
    if (!product.value) {
      showError("Add a product to see a preview.", null);
      return;
    }
    var data = new FormData();
    data.append("system_prompt", fields.system_prompt.value);
    data.append("body", fields.body.value);
    data.append("product_id", product.value);
    if (language) data.append("language", language.value);
    post(form.dataset.previewUrl, data)
      .then(function (result) {
        if (result.error) showError(result.error, result.field);
        else showMessages(result.messages);
      })
      .catch(function (err) {
        if (err.name !== "AbortError") showError("The preview is not available right now.", null);
      });
  }

  var schedule = window.copygenForms.debounce(run, DEBOUNCE_MS);

  function insert(text) {
    var target = lastFocused;
    var start = target.selectionStart;
    var end = target.selectionEnd;
    target.setRangeText(text, start, end, "end");
    target.focus();
    schedule();
  }

  Object.keys(fields).forEach(function (key) {
    fields[key].addEventListener("input", schedule);
    fields[key].addEventListener("focus", function () {
      lastFocused = fields[key];
    });
  });
  product.addEventListener("change", run);
  if (language) language.addEventListener("input", schedule);
  document.querySelectorAll("[data-insert]").forEach(function (button) {
    button.addEventListener("click", function () {
      insert(button.dataset.insert);
    });
  });
  run();
})();
