/* Small hand-written SVG charts for the live campaign page: a histogram and horizontal
 * bars. No library; each call redraws the whole chart (they have tens of elements). */
(function () {
  "use strict";

  var NS = "http://www.w3.org/2000/svg";
  var PAD = { top: 10, right: 10, bottom: 22, left: 10 };
  var MARK_ROW = 13; // each mark's label gets its own line above the bars

  function node(name, attrs, text) {
    var el = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (key) {
      el.setAttribute(key, attrs[key]);
    });
    if (text != null) el.textContent = text;
    return el;
  }

  /* Size the drawing to the element, so text is never stretched. */
  function frame(svg, height) {
    if (height) svg.style.height = height + "px";
    var width = Math.max(120, Math.round(svg.clientWidth || svg.getBoundingClientRect().width || 320));
    var h = Math.max(60, Math.round(svg.clientHeight || height || 140));
    svg.setAttribute("viewBox", "0 0 " + width + " " + h);
    svg.replaceChildren();
    return { width: width, height: h };
  }

  function empty(svg, size, message) {
    svg.appendChild(
      node("text", { x: size.width / 2, y: size.height / 2, "text-anchor": "middle", class: "chart-empty" }, message)
    );
    svg.setAttribute("aria-label", message);
  }

  function formatMs(ms) {
    if (ms >= 10000) return Math.round(ms / 1000) + " s";
    if (ms >= 1000) return (ms / 1000).toFixed(1) + " s";
    return Math.round(ms) + " ms";
  }

  function niceStep(span, bins) {
    var raw = span / bins;
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= raw) return steps[i] * power;
    return 10 * power;
  }

  /* values: milliseconds. marks: [{value, label}] drawn as dashed lines (p50, p95). */
  function histogram(svg, values, marks) {
    var size = frame(svg);
    if (!values.length) return empty(svg, size, "No finished cells yet");
    var min = Math.min.apply(null, values);
    var max = Math.max.apply(null, values);
    var step = niceStep(Math.max(max - min, 1), 12);
    var start = Math.floor(min / step) * step;
    var bins = Math.max(1, Math.ceil((max - start) / step + 1e-9));
    if (start + bins * step <= max) bins++;
    var counts = new Array(bins).fill(0);
    values.forEach(function (v) {
      counts[Math.min(bins - 1, Math.floor((v - start) / step))]++;
    });
    var top = Math.max.apply(null, counts);
    var labelBand = (marks || []).length * MARK_ROW;
    var plotTop = PAD.top + labelBand;
    var plotW = size.width - PAD.left - PAD.right;
    var plotH = size.height - plotTop - PAD.bottom;
    var barW = plotW / bins;
    var x = function (v) {
      return PAD.left + ((v - start) / (bins * step)) * plotW;
    };
    counts.forEach(function (count, i) {
      if (!count) return;
      var h = Math.max(2, (count / top) * plotH);
      var bar = node("rect", {
        x: PAD.left + i * barW + 1,
        y: plotTop + plotH - h,
        width: Math.max(1, barW - 2),
        height: h,
        rx: 2,
        class: "chart-bar",
      });
      bar.appendChild(node("title", {}, count + " × " + formatMs(start + i * step) + "–" + formatMs(start + (i + 1) * step)));
      svg.appendChild(bar);
    });
    svg.appendChild(node("line", { x1: PAD.left, x2: size.width - PAD.right, y1: plotTop + plotH, y2: plotTop + plotH, class: "chart-axis" }));
    var baseline = plotTop + plotH + 15;
    svg.appendChild(node("text", { x: PAD.left, y: baseline, class: "chart-tick" }, formatMs(start)));
    svg.appendChild(node("text", { x: size.width - PAD.right, y: baseline, "text-anchor": "end", class: "chart-tick" }, formatMs(start + bins * step)));
    svg.appendChild(node("text", { x: size.width / 2, y: baseline, "text-anchor": "middle", class: "chart-tick" }, "tallest bar: " + top));
    (marks || []).forEach(function (mark, i) {
      if (mark.value == null) return;
      var mx = x(mark.value);
      var y = PAD.top + 9 + i * MARK_ROW;
      svg.appendChild(node("line", { x1: mx, x2: mx, y1: y + 3, y2: plotTop + plotH, class: "chart-mark" }));
      var anchor = mx > size.width - 80 ? "end" : mx < 80 ? "start" : "middle";
      svg.appendChild(
        node("text", { x: mx, y: y, "text-anchor": anchor, class: "chart-mark-label" }, mark.label + " " + formatMs(mark.value))
      );
    });
    var summary = values.length + " cells, from " + formatMs(min) + " to " + formatMs(max);
    (marks || []).forEach(function (mark) {
      if (mark.value != null) summary += ", " + mark.label + " " + formatMs(mark.value);
    });
    svg.setAttribute("aria-label", "Latency distribution: " + summary);
  }

  /* items: [{label, value (number), text}] as horizontal bars, one row each. */
  function bars(svg, items, emptyMessage) {
    var rowH = 26;
    var size = frame(svg, Math.max(60, items.length * rowH + 12));
    if (!items.length) return empty(svg, size, emptyMessage || "Nothing yet");
    var top = Math.max.apply(null, items.map(function (item) { return item.value; })) || 1;
    var labelW = Math.min(150, Math.max(70, size.width * 0.34));
    var valueW = 78;
    var plotW = Math.max(20, size.width - labelW - valueW - 8);
    var parts = [];
    items.forEach(function (item, i) {
      var y = 6 + i * rowH;
      var w = item.value > 0 ? Math.max(2, (item.value / top) * plotW) : 0;
      svg.appendChild(node("text", { x: labelW - 6, y: y + 13, "text-anchor": "end", class: "chart-label" }, item.label));
      svg.appendChild(node("rect", { x: labelW, y: y + 3, width: plotW, height: 14, rx: 3, class: "chart-track" }));
      if (w) svg.appendChild(node("rect", { x: labelW, y: y + 3, width: w, height: 14, rx: 3, class: "chart-bar chart-bar-" + (i % 6) }));
      svg.appendChild(node("text", { x: size.width - 2, y: y + 13, "text-anchor": "end", class: "chart-value" }, item.text));
      parts.push(item.label + " " + item.text);
    });
    svg.setAttribute("aria-label", parts.join("; "));
  }

  window.CopygenCharts = { histogram: histogram, bars: bars, formatMs: formatMs };
})();
