// Live form helpers shared by the campaign builder (estimate) and the template editor
// (preview): a debounced POST of the form's data where only the latest request counts.
(function () {
  "use strict";

  // Returns post(url, body): sends body with the form's CSRF token, aborts the request
  // still in flight, resolves with the parsed JSON. A superseded request rejects with an
  // AbortError, which callers ignore.
  function latestPost(form) {
    var csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;
    var controller = null;
    return function (url, body) {
      if (controller) controller.abort();
      controller = new AbortController();
      return fetch(url, {
        method: "POST",
        body: body,
        headers: { "X-CSRFToken": csrf, Accept: "application/json" },
        credentials: "same-origin",
        signal: controller.signal,
      }).then(function (response) {
        return response.json();
      });
    };
  }

  // Returns schedule(): calls fn once, delayMs after the last call.
  function debounce(fn, delayMs) {
    var timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, delayMs);
    };
  }

  window.copygenForms = { latestPost: latestPost, debounce: debounce };
})();
