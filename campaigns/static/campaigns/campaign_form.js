/* New campaign form: the live cell count (products × templates × models × variants)
 * and "Select all" / "Clear" for each checkbox group. */
(function () {
  "use strict";

  var form = document.querySelector("[data-campaign-form]");
  if (!form) return;
  var AXES = ["products", "templates", "models"];
  var output = form.querySelector("[data-cell-count]");
  var label = form.querySelector("[data-cell-count-label]");
  var formula = form.querySelector("[data-cell-formula]");
  var variantsInput = form.querySelector("input[name=variants]");
  var languagesInput = form.querySelector("input[name=languages]");

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function languageCount() {
    var names = languagesInput.value.split(",").filter(function (part) {
      return part.trim();
    });
    return new Set(names.map(function (part) {
      return part.trim();
    })).size;
  }

  function checked(axis) {
    return form.querySelectorAll('[data-axis="' + axis + '"] input[type=checkbox]:checked').length;
  }

  function update() {
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

  form.querySelectorAll("[data-axis]").forEach(function (group) {
    group.addEventListener("click", function (event) {
      var button = event.target.closest("[data-check]");
      if (!button) return;
      var on = button.dataset.check === "all";
      group.querySelectorAll("input[type=checkbox]").forEach(function (box) {
        box.checked = on;
      });
      update();
    });
  });

  form.addEventListener("change", update);
  form.addEventListener("input", update);
  update();
})();
