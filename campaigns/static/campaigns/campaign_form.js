/* New campaign form: the live cell count (products × templates × models × variants ×
 * languages), the live cost estimate (posted to the estimate endpoint, debounced),
 * "Select all" / "Clear" and a filter for each checkbox group. */
(function () {
  "use strict";

  var form = document.querySelector("[data-campaign-form]");
  if (!form) return;
  var AXES = ["products", "templates", "models"];
  var ESTIMATE_DEBOUNCE_MS = 300;
  var output = form.querySelector("[data-cell-count]");
  var label = form.querySelector("[data-cell-count-label]");
  var formula = form.querySelector("[data-cell-formula]");
  var variantsInput = form.querySelector("input[name=variants]");
  var languagesInput = form.querySelector("input[name=languages]");
  var post = window.copygenForms.latestPost(form);
  var est = {
    box: form.querySelector("[data-estimate]"),
    state: form.querySelector("[data-estimate-state]"),
    empty: form.querySelector("[data-estimate-empty]"),
    body: form.querySelector("[data-estimate-body]"),
    rows: form.querySelector("[data-estimate-rows]"),
    cells: form.querySelector("[data-estimate-cells]"),
    expected: form.querySelector("[data-testid=estimate-expected]"),
    worst: form.querySelector("[data-testid=estimate-worst]"),
    budget: form.querySelector("[data-estimate-budget]"),
    assumption: form.querySelector("[data-estimate-assumption]"),
    inline: form.querySelector("[data-estimate-inline]"),
    compare: form.querySelector("[data-estimate-compare]"),
    compareRows: form.querySelector("[data-estimate-compare-rows]"),
  };
  var lastBody = null;

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function languageCount() {
    var names = languagesInput.value.split(",").filter(function (part) {
      return part.trim();
    });
    return new Set(
      names.map(function (part) {
        return part.trim();
      })
    ).size;
  }

  function checked(axis) {
    return form.querySelectorAll('[data-axis="' + axis + '"] input[type=checkbox]:checked').length;
  }

  function updateCount() {
    var counts = AXES.map(checked);
    var variants = Math.max(0, Math.floor(Number(variantsInput.value) || 0));
    var languages = languageCount();
    var cells = counts.reduce(function (a, b) {
      return a * b;
    }, variants * Math.max(1, languages));
    output.value = cells.toLocaleString();
    label.textContent = cells === 1 ? "cell" : "cells";
    var parts = [plural(counts[0], "product"), plural(counts[1], "template"), plural(counts[2], "model")];
    parts.push(plural(variants, "variant"));
    if (languages) parts.push(plural(languages, "language"));
    formula.textContent = "(" + parts.join(" × ") + ")";
  }

  /* ---- estimate ---- */
  function td(text, className) {
    var cell = document.createElement("td");
    cell.textContent = text;
    if (className) cell.className = className;
    return cell;
  }

  function showEmpty(message) {
    est.empty.textContent = message;
    est.empty.hidden = false;
    est.body.hidden = true;
    est.budget.hidden = true;
    est.assumption.hidden = true;
    if (est.compare) est.compare.hidden = true;
    est.inline.textContent = "";
    est.state.textContent = "";
  }

  function showComparison(comparison) {
    if (!est.compare) return;
    var chosen = new Set(
      Array.prototype.map.call(form.querySelectorAll("input[name=models]:checked"), function (box) {
        return Number(box.value);
      })
    );
    var rows = comparison.map(function (row) {
      var tr = document.createElement("tr");
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = row.model + (chosen.has(row.model_id) ? " (chosen)" : "");
      tr.append(
        th,
        td("$" + row.expected_usd, "num num-col"),
        td("$" + row.worst_case_usd, "num num-col"),
        td(row.price_source, "muted small")
      );
      return tr;
    });
    est.compareRows.replaceChildren.apply(est.compareRows, rows);
    est.compare.hidden = rows.length === 0;
  }

  function showEstimate(result) {
    var rows = result.models.map(function (row) {
      var tr = document.createElement("tr");
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = row.model;
      tr.append(
        th,
        td(row.cells.toLocaleString(), "num num-col"),
        td("$" + row.expected_usd, "num num-col"),
        td("$" + row.worst_case_usd, "num num-col")
      );
      return tr;
    });
    est.rows.replaceChildren.apply(est.rows, rows);
    showComparison(result.comparison || []);
    est.cells.textContent = result.cells.toLocaleString();
    est.expected.textContent = "$" + result.expected_usd;
    est.worst.textContent = "$" + result.worst_case_usd;
    est.empty.hidden = true;
    est.body.hidden = false;
    est.assumption.textContent = result.assumption;
    est.assumption.hidden = false;
    est.inline.textContent = "≈ $" + result.expected_usd + " expected · at most $" + result.worst_case_usd;
    est.state.textContent = "";
    if (result.budget_usd == null) {
      est.budget.hidden = true;
      return;
    }
    var text;
    var level;
    if (result.budget_covers_worst_case) {
      text = "The budget of $" + result.budget_usd + " covers even the worst case.";
      level = "ok";
    } else if (result.budget_covers_expected) {
      text =
        "The budget of $" + result.budget_usd + " covers the expected cost but not the worst case: " +
        "some cells may be skipped if the copy runs long.";
      level = "warn";
    } else {
      text =
        "The budget of $" + result.budget_usd + " is below the expected cost: " +
        "expect many cells to be skipped once it is spent.";
      level = "bad";
    }
    est.budget.textContent = text;
    est.budget.dataset.level = level;
    est.budget.hidden = false;
  }

  function runEstimate() {
    var body = new FormData(form);
    body.delete("name");
    var key = new URLSearchParams(body).toString();
    if (key === lastBody) return;
    lastBody = key;
    if (AXES.some(function (axis) { return !checked(axis); })) {
      showEmpty("Pick at least one product, template and model to see what the campaign would cost.");
      return;
    }
    est.state.textContent = "Updating…";
    est.box.classList.add("is-stale");
    post(form.dataset.estimateUrl, body)
      .then(function (result) {
        est.box.classList.remove("is-stale");
        if (result.ready) return showEstimate(result);
        if (result.missing) {
          return showEmpty("Pick at least one product, template and model to see what the campaign would cost.");
        }
        var messages = result.errors ? Object.values(result.errors) : [result.error || "No estimate."];
        showEmpty("No estimate yet: " + messages.join(" "));
      })
      .catch(function (err) {
        if (err.name === "AbortError") return;
        est.box.classList.remove("is-stale");
        lastBody = null;
        showEmpty("The estimate is not available right now.");
      });
  }

  var scheduleEstimate = window.copygenForms.debounce(runEstimate, ESTIMATE_DEBOUNCE_MS);

  function update() {
    updateCount();
    scheduleEstimate();
  }

  /* ---- checkbox groups ---- */
  form.querySelectorAll("[data-axis]").forEach(function (group) {
    group.addEventListener("click", function (event) {
      var button = event.target.closest("[data-check]");
      if (!button) return;
      var on = button.dataset.check === "all";
      group.querySelectorAll(".choice").forEach(function (choice) {
        if (!choice.hidden) choice.querySelector("input[type=checkbox]").checked = on;
      });
      update();
    });
    var filter = group.querySelector("[data-choice-filter]");
    if (!filter) return;
    filter.addEventListener("input", function (event) {
      event.stopPropagation(); // filtering changes nothing the estimate depends on
      var needle = filter.value.trim().toLowerCase();
      group.querySelectorAll(".choice").forEach(function (choice) {
        choice.hidden = needle !== "" && choice.textContent.toLowerCase().indexOf(needle) === -1;
      });
    });
    filter.addEventListener("keydown", function (event) {
      if (event.key === "Enter") event.preventDefault(); // do not submit the form
    });
  });

  form.addEventListener("change", update);
  form.addEventListener("input", update);
  updateCount();
  runEstimate();
})();
