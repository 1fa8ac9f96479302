/* The live campaign page: a websocket fills the server-rendered grid as copy streams in.
 *
 * On connect the server sends a snapshot (every generation with its text so far), then
 * events: generation.started / .delta / .finished, campaign.progress / .finished,
 * campaign.status after an action, error; a campaign.batch frame carries several of these
 * (`events`, in order) when the engine had more than one to send. Deltas carry `offset`, the number of
 * characters of that generation sent before the piece, so duplicates are trimmed and
 * gaps are noticed; generation.finished carries the full text and settles the cell.
 * Right after the snapshot, each running cell gets a delta at offset 0 with `resync: true`
 * and its full text so far (the database holds it only at the end).
 *
 * provider.status events (and the providers of a snapshot, when it carries them) update
 * the provider panel, which the page starts from its own JSON; quota.warning events show
 * a banner; the charts (latency distribution, spend by model) are redrawn
 * from the cells, at most a few times a second.
 *
 * Events for a generation the page does not know yet (the campaign was just launched,
 * here or elsewhere) are buffered while a second socket fetches a fresh snapshot; the
 * old socket closes once the new snapshot is applied, so nothing is missed in between.
 */
(function () {
  "use strict";

  var root = document.querySelector("[data-campaign]");
  if (!root || !("WebSocket" in window)) return;

  // Status values come from the server's one definition (campaigns/engine/status.py).
  var statuses = JSON.parse(document.getElementById("copygen-statuses").textContent);
  var TERMINAL = {};
  statuses.terminal.forEach(function (s) { TERMINAL[s] = true; });
  var DONE_COUNTS = statuses.terminal;
  var COUNTS = statuses.generation;
  var BREAKER_LABELS = statuses.breaker_labels;
  var CLOSE_CODES = {
    4401: "You are signed out. Reload the page to sign in again.",
    4403: "You may not view this campaign.",
    4404: "This campaign no longer exists or is not visible to you.",
  };
  var MAX_BACKOFF_MS = 15000;
  var MAX_ORPHANS = 20000;
  var RESYNC_MIN_GAP_MS = 1000;
  var HOLD_COUNTS_MS = 3000;
  var CHART_INTERVAL_MS = 400;

  var plannedCells = Number(root.dataset.cells) || 0;
  var multilingual = root.dataset.multilingual === "true";
  var labelsEl = document.getElementById("model-labels");
  var modelLabels = labelsEl ? JSON.parse(labelsEl.textContent) : {};
  var modelsEl = document.getElementById("campaign-models");
  var campaignModels = modelsEl ? JSON.parse(modelsEl.textContent) : [];
  var providersEl = document.getElementById("campaign-providers");
  var initialProviders = providersEl ? JSON.parse(providersEl.textContent) : [];
  var quotaWarnings = new Map(); // "scope period" -> the latest quota.warning for it
  var charts = window.CopygenCharts;
  var chartTimer = null;
  var cellsByKey = new Map();
  var cellsById = new Map();
  var orphans = new Map(); // generation id -> events that arrived before its cell was known
  var orphanCount = 0;
  var truncated = false;
  var sockets = new Set();
  var current = null; // the socket whose snapshot was applied last
  var backoff = 500;
  var reconnectTimer = null;
  var resyncTimer = null;
  var resyncing = false;
  var lastResync = 0;
  var stopped = false;
  var statsTimer = null;
  var heldCounts = null; // counters ahead of the cells, held until a snapshot catches up
  var holdTimer = null;

  var el = {
    status: root.querySelector("[data-testid=status]"),
    launch: root.querySelector("[data-testid=launch]"),
    cancel: root.querySelector("[data-testid=cancel]"),
    progress: root.querySelector("[data-testid=progress]"),
    progressFill: root.querySelector("[data-progress-fill]"),
    progressText: root.querySelector("[data-progress-text]"),
    spend: root.querySelector("[data-testid=spend]"),
    spendFill: root.querySelector("[data-spend-fill]"),
    spendMeter: root.querySelector("[data-testid=spend-meter]"),
    review: root.querySelector("[data-review-link]"),
    latencyChart: root.querySelector("[data-chart=latency]"),
    spendChart: root.querySelector("[data-chart=spend]"),
    ttft: root.querySelector("[data-testid=ttft-p50]"),
    latency: root.querySelector("[data-testid=latency-p50]"),
    tokens: root.querySelector("[data-testid=tokens]"),
    cache: root.querySelector("[data-testid=cache]"),
    tokensCached: root.querySelector("[data-testid=tokens-cached]"),
    live: root.querySelector("[data-live]"),
    alert: root.querySelector("[data-alert]"),
    quotaBanner: root.querySelector("[data-quota-banner]"),
  };

  /* ---- text helpers (the server counts code points, JavaScript strings UTF-16 units) ---- */
  function codePoints(text) {
    var n = 0;
    for (var i = 0; i < text.length; i++) {
      var c = text.charCodeAt(i);
      if (c < 0xdc00 || c > 0xdfff) n++; // count every unit except low surrogates
    }
    return n;
  }

  function dropCodePoints(text, count) {
    var i = 0;
    while (count > 0 && i < text.length) {
      var c = text.charCodeAt(i);
      i += c >= 0xd800 && c <= 0xdbff ? 2 : 1;
      count--;
    }
    return text.slice(i);
  }

  /* Decimal strings formatted without floating point: fixed("0.00123450", 6) -> "0.001235". */
  function fixed(value, places) {
    var text = String(value == null ? "0" : value);
    if (/e/i.test(text)) text = Number(text).toFixed(places + 2);
    var negative = text.charAt(0) === "-";
    if (negative) text = text.slice(1);
    var parts = text.split(".");
    var frac = (parts[1] || "").padEnd(places + 1, "0");
    var n = BigInt((parts[0] || "0") + frac.slice(0, places));
    if (Number(frac.charAt(places)) >= 5) n += 1n;
    var digits = n.toString().padStart(places + 1, "0");
    var whole = digits.slice(0, digits.length - places);
    return (negative && n > 0n ? "-" : "") + whole + (places ? "." + digits.slice(-places) : "");
  }

  function shortUsd(value) {
    var text = String(value == null ? "0" : value);
    if (/e/i.test(text)) text = String(Number(text));
    var parts = text.split(".");
    var frac = (parts[1] || "").replace(/0+$/, "");
    return parts[0] + "." + frac.padEnd(2, "0");
  }

  function ms(value) {
    return value == null ? "—" : Math.round(value) + " ms";
  }

  /* ---- cells ---- */
  function makeCell(node) {
    var textEl = node.querySelector("[data-testid=cell-text]");
    var status = node.dataset.status;
    return {
      el: node,
      textEl: textEl,
      statusEl: node.querySelector("[data-cell-status]"),
      badgesEl: node.querySelector("[data-cell-badges]"),
      errorEl: node.querySelector("[data-cell-error]"),
      id: node.dataset.generationId ? Number(node.dataset.generationId) : null,
      modelId: Number(node.dataset.key.split("-")[2]),
      len: codePoints(textEl.textContent),
      behind: 0, // after a gap: how far the server's text is known to reach
      done: !!TERMINAL[status],
      ttft: null,
      latency: null,
      cost: 0,
    };
  }

  root.querySelectorAll("[data-generation-cell]").forEach(function (node) {
    var cell = makeCell(node);
    cellsByKey.set(node.dataset.key, cell);
    if (cell.id !== null) cellsById.set(cell.id, cell);
  });

  function setCellStatus(cell, status) {
    if (cell.el.dataset.status === status) return;
    cell.el.dataset.status = status;
    cell.statusEl.textContent = status === "not-started" ? "not started" : status;
  }

  function setText(cell, text) {
    cell.textEl.textContent = text || "";
    cell.len = codePoints(text || "");
    cell.behind = 0;
    setGap(cell, false);
  }

  function appendText(cell, part) {
    var node = cell.textEl.lastChild;
    if (node && node.nodeType === Node.TEXT_NODE) node.appendData(part);
    else cell.textEl.appendChild(document.createTextNode(part));
    cell.len += codePoints(part);
  }

  function setGap(cell, on) {
    cell.el.classList.toggle("is-behind", on);
  }

  function badge(testid, text, title, extraClass) {
    var span = document.createElement("span");
    span.className = "badge" + (extraClass ? " " + extraClass : "");
    span.dataset.testid = testid;
    span.title = title;
    span.textContent = text;
    return span;
  }

  function setMeta(cell, g) {
    cell.ttft = g.ttft_ms;
    cell.latency = g.latency_ms;
    cell.cost = Number(g.cost_usd) || 0;
    var items = [];
    if (g.ttft_ms != null) items.push(badge("cell-ttft", "TTFT " + ms(g.ttft_ms), "Time to first token"));
    if (g.latency_ms != null) items.push(badge("cell-latency", "total " + ms(g.latency_ms), "Total latency"));
    if (g.tokens_in || g.tokens_out) {
      items.push(badge("cell-tokens", g.tokens_in + " in · " + g.tokens_out + " out", "Tokens in / out"));
      if (g.tokens_cached) items.push(badge("cell-cached", g.tokens_cached + " cached", "Prompt tokens served from the provider's cache"));
    }
    if (g.cost_source) {
      var estimated = g.cost_source === "estimated";
      items.push(
        badge(
          "cell-cost",
          (estimated ? "~" : "") + "$" + fixed(g.cost_usd, 6),
          estimated ? "Estimated cost: the provider reported no token usage" : "Cost from the provider's token usage",
          estimated ? "badge-estimated" : ""
        )
      );
    }
    // model_id is the cell's model; served_by_id the one that wrote the text (a fallback, if used).
    var servedBy = g.served_by_id;
    if (servedBy != null && servedBy !== cell.modelId) {
      var label = modelLabels[servedBy] || "model " + servedBy;
      items.push(badge("cell-served-by", "via " + label, "Written by the fallback model", "badge-fallback"));
    }
    if (g.attempts > 1) items.push(badge("cell-attempts", g.attempts + " attempts", "Attempts"));
    var checks = checksBadge(g);
    if (checks) items.push(checks);
    cell.badgesEl.replaceChildren.apply(cell.badgesEl, items);
    cell.errorEl.textContent = g.error || "";
    cell.errorEl.hidden = !g.error;
  }

  /* ---- copy checks: a pass/fail badge per cell, the reasons on hover ---- */
  function checksBadge(g) {
    if (g.checks_passed === true) {
      var pass = badge("cell-checks", "\u2713 checks", "Passed every check", "badge-pass");
      pass.dataset.checks = "pass";
      return pass;
    }
    if (g.checks_passed !== false) return null;
    var reasons = g.check_failures || [];
    var text = "\u2717 " + reasons.length + " check" + (reasons.length === 1 ? "" : "s") + " failed";
    var fail = badge("cell-checks", text, reasons.join(" | "), "badge-fail");
    fail.dataset.checks = "fail";
    return fail;
  }

  /* A cell failed its checks and is written again: its text starts afresh. */
  function onRewrite(cell, msg) {
    setText(cell, "");
    var reasons = msg.check_failures || [];
    var note = badge("cell-rewrite", "rewrite " + msg.rewrite, "Rewriting: " + reasons.join(" | "), "badge-rewrite");
    cell.badgesEl.replaceChildren(note);
  }

  function updatePassing(c) {
    if (c.passing == null) return;
    var passing = root.querySelector('[data-count="passing"]');
    var checked = root.querySelector('[data-count="checked"]');
    var cost = root.querySelector("[data-passing-cost]");
    if (passing) passing.textContent = c.passing;
    if (checked) checked.textContent = c.passing + (c.failing_checks || 0);
    if (cost) cost.textContent = c.cost_per_passing_usd ? "$" + fixed(c.cost_per_passing_usd, 6) : "\u2014";
  }

  function finish(cell, g) {
    setText(cell, g.text);
    setCellStatus(cell, g.status);
    setMeta(cell, g);
    cell.done = true;
    scheduleStats();
    scheduleCharts();
  }

  /* ---- snapshot ---- */
  function keyOf(g) {
    var key = g.product_id + "-" + g.template_id + "-" + g.model_id + "-" + g.variant;
    return multilingual ? key + "-" + g.language : key;
  }

  function applyGeneration(g) {
    var cell = cellsByKey.get(keyOf(g));
    if (!cell) return;
    if (cell.id !== g.id) {
      cell.id = g.id;
      cell.el.dataset.generationId = g.id;
      cell.done = false;
    }
    cellsById.set(g.id, cell);
    if (TERMINAL[g.status]) {
      finish(cell, g);
    } else if (!cell.done) {
      // The database holds a running generation's text only at the end: keep what streamed.
      if (codePoints(g.text || "") >= cell.len) setText(cell, g.text);
      setCellStatus(cell, g.status);
    }
    replayOrphans(g.id);
  }

  function applySnapshot(ws, msg) {
    truncated = !!msg.truncated;
    if (truncated) {
      orphans.clear();
      orphanCount = 0;
    }
    msg.generations.forEach(applyGeneration);
    updateCampaign(msg.campaign);
    setP50(msg.campaign.ttft_ms_p50, msg.campaign.latency_ms_p50);
    (msg.providers || []).forEach(onProvider);
    scheduleCharts();
    ws.synced = true;
    current = ws;
    sockets.forEach(function (other) {
      if (other !== ws) retire(other);
    });
    resyncing = false;
    backoff = 500;
    setLive("live", "Live");
    if (orphanCount && !truncated) scheduleResync();
    afterSnapshot(msg.campaign);
  }

  /* ---- generation events ---- */
  function orphan(msg) {
    if (truncated) return; // cells beyond the snapshot limit are not on the page
    if (orphanCount >= MAX_ORPHANS) {
      orphans.clear();
      orphanCount = 0;
    }
    var list = orphans.get(msg.id);
    if (!list) orphans.set(msg.id, (list = []));
    list.push(msg);
    orphanCount++;
    scheduleResync();
  }

  function replayOrphans(id) {
    var list = orphans.get(id);
    if (!list) return;
    orphans.delete(id);
    orphanCount -= list.length;
    list.forEach(onGeneration);
  }

  function onGeneration(msg) {
    var cell = cellsById.get(msg.id);
    if (!cell) return orphan(msg);
    if (msg.type === "generation.finished") return finish(cell, msg);
    if (cell.done) return; // a late or duplicated event: the final text is already shown
    if (cell.el.dataset.status !== "running") setCellStatus(cell, "running");
    if (msg.type === "generation.delta") onDelta(cell, msg);
    if (msg.type === "generation.rewrite") onRewrite(cell, msg);
  }

  /* Append only what lies beyond the cell's text: a duplicate is trimmed, and a resync
   * (offset 0 with the full text so far, sent to a viewer joining mid-stream) extends the
   * cell. A piece past the end is a gap: the cell shows "…" until a later delta (or the
   * resync, or generation.finished) covers it. */
  function onDelta(cell, msg) {
    var text = msg.text || "";
    var end = msg.offset + codePoints(text);
    if (msg.offset > cell.len) {
      cell.behind = Math.max(cell.behind, end);
      setGap(cell, true);
      return;
    }
    if (end > cell.len) appendText(cell, dropCodePoints(text, cell.len - msg.offset));
    if (cell.behind && (msg.resync || cell.len >= cell.behind)) {
      cell.behind = 0;
      setGap(cell, false);
    }
  }

  /* ---- campaign ---- */
  function setCampaignStatus(status) {
    if (!status) return;
    el.status.dataset.status = status;
    el.status.className = "status status-" + status;
    el.status.textContent = status.replace(/_/g, " ");
    el.launch.disabled = status !== "draft";
    el.cancel.disabled = status !== "running";
    if (el.review) el.review.hidden = status === "draft";
  }

  function updateCampaign(c) {
    if (!c) return;
    var done = doneCount(c);
    var total = c.total || plannedCells;
    var percent = total ? Math.floor((100 * done) / total) : 0; // 100 only when all are done
    el.progress.setAttribute("aria-valuenow", percent);
    el.progress.setAttribute("aria-valuetext", done + " of " + total + " done");
    el.progressFill.style.width = percent + "%";
    el.progressText.textContent = done + " / " + total;
    COUNTS.forEach(function (name) {
      var node = root.querySelector('[data-count="' + name + '"]');
      if (node && c[name] != null) node.textContent = c[name];
    });
    if (c.spend_usd != null) {
      el.spend.textContent = "$" + fixed(c.spend_usd, 6) + " of $" + shortUsd(c.budget_usd);
      var budget = Number(c.budget_usd);
      var ratio = budget > 0 ? Number(c.spend_usd) / budget : 0;
      var spendPercent = Math.min(100, Math.round(100 * ratio));
      el.spendFill.style.width = spendPercent + "%";
      el.spendFill.classList.toggle("is-high", ratio >= 0.9);
      el.spendMeter.setAttribute("aria-valuenow", spendPercent);
      el.spendMeter.setAttribute("aria-valuetext", spendPercent + "% of the budget");
    }
    if (c.tokens_in != null) el.tokens.textContent = c.tokens_in + " / " + c.tokens_out;
    updatePassing(c);
    if (c.cache_hit_ratio != null && el.cache) {
      el.cache.textContent = Math.round(100 * c.cache_hit_ratio) + "% cached";
      el.tokensCached.textContent = c.tokens_cached;
    }
    setCampaignStatus(c.status);
  }

  function setP50(ttft, latency) {
    el.ttft.textContent = ms(ttft);
    el.latency.textContent = ms(latency);
  }

  function percentile(values, q) {
    if (!values.length) return null;
    values.sort(function (a, b) {
      return a - b;
    });
    var rank = ((values.length - 1) * q) / 100;
    var low = Math.floor(rank);
    var high = Math.min(low + 1, values.length - 1);
    return values[low] + (values[high] - values[low]) * (rank - low);
  }

  /* p50s from the cells, as the server computes them (succeeded generations only). */
  function scheduleStats() {
    if (statsTimer || truncated) return;
    statsTimer = setTimeout(function () {
      statsTimer = null;
      var ttfts = [];
      var latencies = [];
      cellsById.forEach(function (cell) {
        if (cell.el.dataset.status !== "succeeded") return;
        if (cell.ttft != null) ttfts.push(cell.ttft);
        if (cell.latency != null) latencies.push(cell.latency);
      });
      setP50(percentile(ttfts, 50), percentile(latencies, 50));
    }, 250);
  }

  function showAlert(text) {
    el.alert.textContent = text || "";
    el.alert.hidden = !text;
  }

  function setLive(state, text) {
    el.live.dataset.state = state;
    el.live.textContent = text;
  }

  /* Live events are at-most-once: when the counters say more generations ended than the
   * cells show, some events were lost. The counters are held back (so the progress never
   * runs ahead of the grid) while a fresh snapshot settles every cell. */
  function doneCount(c) {
    return DONE_COUNTS.reduce(function (sum, name) {
      return sum + (c[name] || 0);
    }, 0);
  }

  function cellsDone() {
    var n = 0;
    cellsById.forEach(function (cell) {
      if (cell.done) n++;
    });
    return n;
  }

  function onCounts(c) {
    if (truncated || cellsDone() >= doneCount(c)) {
      heldCounts = null;
      return updateCampaign(c);
    }
    heldCounts = c;
    scheduleResync();
    if (!holdTimer) holdTimer = setTimeout(releaseCounts, HOLD_COUNTS_MS);
  }

  function releaseCounts() {
    clearTimeout(holdTimer);
    holdTimer = null;
    if (heldCounts) updateCampaign(heldCounts);
    heldCounts = null;
  }

  /* The snapshot set counters and cells together; held counters newer than it still count. */
  function afterSnapshot(c) {
    var held = heldCounts;
    heldCounts = null;
    clearTimeout(holdTimer);
    holdTimer = null;
    if (held && doneCount(held) > doneCount(c)) onCounts(held);
  }

  /* ---- charts ---- */
  function drawCharts() {
    chartTimer = null;
    if (!charts) return;
    var latencies = [];
    var spend = new Map(campaignModels.map(function (m) { return [m[0], { cost: 0, cells: 0 }]; }));
    cellsById.forEach(function (cell) {
      var status = cell.el.dataset.status;
      if (status === "succeeded" && cell.latency != null) latencies.push(cell.latency);
      if (cell.done && spend.has(cell.modelId)) {
        var entry = spend.get(cell.modelId);
        entry.cost += cell.cost;
        entry.cells += 1;
      }
    });
    charts.histogram(el.latencyChart, latencies, [
      { label: "p50", value: percentile(latencies.slice(), 50) },
      { label: "p95", value: percentile(latencies.slice(), 95) },
    ]);
    var items = campaignModels.map(function (m) {
      var entry = spend.get(m[0]);
      return { label: m[1], value: entry.cost, text: "$" + entry.cost.toFixed(entry.cost >= 1 ? 2 : 4) };
    });
    charts.bars(el.spendChart, items, "No models");
  }

  function scheduleCharts() {
    if (chartTimer) return;
    chartTimer = setTimeout(drawCharts, CHART_INTERVAL_MS);
  }

  /* ---- providers ---- */
  function onProvider(p) {
    var item = root.querySelector('[data-provider-id="' + p.provider_id + '"]');
    if (!item) return;
    if (p.breaker) {
      item.dataset.breaker = p.breaker;
      item.querySelector("[data-provider-state]").textContent = BREAKER_LABELS[p.breaker] || p.breaker;
    }
    if (p.rate_limited != null) {
      item.dataset.rateLimited = p.rate_limited ? "true" : "false";
      var limit = item.querySelector("[data-provider-limit]");
      if (p.rate_limited) {
        limit.textContent = "rate limited now" + (p.rate_limited_count ? " · " + p.rate_limited_count + " × 429 in this campaign" : "");
        limit.hidden = false;
      }
    }
  }

  /* ---- quota warnings (80%, 95% and 100% of a spending quota) ---- */
  var PERIOD_LABELS = { day: "daily", month: "monthly", total: "total" };

  function quotaText(msg) {
    if (msg.detail) return msg.detail;
    var whose = msg.scope === "global" ? "The shared" : "Your";
    var text = whose + " " + (PERIOD_LABELS[msg.period] || msg.period || "") + " quota is " + msg.level + "% used";
    if (msg.limit_usd != null) text += " ($" + fixed(msg.spent_usd, 2) + " of $" + fixed(msg.limit_usd, 2) + ")";
    if (msg.level >= 100) text += ": no more calls start until it resets";
    if (msg.resets_at) text += "; it resets " + new Date(msg.resets_at).toLocaleString();
    return text + ".";
  }

  function onQuotaWarning(msg) {
    if (!el.quotaBanner) return;
    var key = (msg.scope || "") + " " + (msg.period || "");
    var seen = quotaWarnings.get(key);
    if (seen && seen.level > msg.level) return; // an older, lower warning arriving late
    quotaWarnings.set(key, msg);
    var top = 0;
    el.quotaBanner.textContent = "";
    quotaWarnings.forEach(function (w) {
      top = Math.max(top, Number(w.level) || 0);
      var line = document.createElement("p");
      line.dataset.testid = "quota-warning";
      line.dataset.level = w.level;
      line.textContent = quotaText(w);
      el.quotaBanner.appendChild(line);
    });
    el.quotaBanner.dataset.level = top;
    el.quotaBanner.classList.toggle("is-critical", top >= 100);
    el.quotaBanner.setAttribute("role", top >= 100 ? "alert" : "status");
    el.quotaBanner.hidden = false;
  }

  /* ---- sockets ---- */
  function socketUrl() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + root.dataset.wsPath;
  }

  function handle(ws, msg) {
    switch (msg.type) {
      case "campaign.batch": // what the engine sent meanwhile, in order, in one frame
        return msg.events.forEach(function (event) {
          handle(ws, event);
        });
      case "campaign.snapshot":
        return applySnapshot(ws, msg);
      case "generation.started":
      case "generation.delta":
      case "generation.finished":
      case "generation.rewrite":
        return onGeneration(msg);
      case "campaign.progress":
      case "campaign.finished":
        return onCounts(msg);
      case "provider.status":
        return onProvider(msg);
      case "quota.warning":
        return onQuotaWarning(msg);
      case "campaign.status":
        setCampaignStatus(msg.status);
        showAlert("");
        // A launch created the generations (their ids come with a fresh snapshot); a
        // cancel ended the queued ones without an event each.
        return resync();
      case "error":
        setCampaignStatus(el.status.dataset.status); // re-enable the button that was pressed
        return showAlert(msg.detail);
    }
  }

  function connect() {
    var ws = new WebSocket(socketUrl());
    sockets.add(ws);
    ws.onmessage = function (event) {
      if (ws.retired) return;
      var msg;
      try {
        msg = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      handle(ws, msg);
    };
    ws.onclose = function (event) {
      sockets.delete(ws);
      if (ws.retired) return;
      if (ws === current) current = null;
      if (!ws.synced) resyncing = false; // a resync that failed: a later event retries it
      if (CLOSE_CODES[event.code]) {
        stopped = true;
        sockets.forEach(retire);
        setLive("offline", "Offline");
        showAlert(CLOSE_CODES[event.code]);
        return;
      }
      if (!sockets.size) scheduleReconnect();
      else if (orphanCount) scheduleResync();
    };
    return ws;
  }

  function retire(ws) {
    ws.retired = true;
    sockets.delete(ws);
    ws.close(1000);
  }

  function scheduleReconnect() {
    if (stopped || reconnectTimer) return;
    setLive("connecting", "Reconnecting…");
    var delay = backoff * (0.75 + Math.random() * 0.5);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    reconnectTimer = setTimeout(function () {
      reconnectTimer = null;
      connect();
    }, delay);
  }

  /* Open a second socket; its snapshot replaces the first one's view of the campaign. */
  function resync() {
    if (stopped || resyncing || reconnectTimer) return;
    resyncing = true;
    lastResync = Date.now();
    connect();
  }

  function scheduleResync() {
    if (resyncing || resyncTimer) return;
    var wait = Math.max(0, lastResync + RESYNC_MIN_GAP_MS - Date.now());
    resyncTimer = setTimeout(function () {
      resyncTimer = null;
      resync();
    }, wait);
  }

  /* ---- actions: over the socket when it is open, else the plain form post ---- */
  root.querySelectorAll("form[data-action]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!current || current.readyState !== WebSocket.OPEN) return;
      event.preventDefault();
      var button = form.querySelector("button");
      button.disabled = true;
      current.send(JSON.stringify({ action: form.dataset.action }));
    });
  });

  window.addEventListener("pagehide", function () {
    stopped = true;
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    sockets.forEach(retire);
  });
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return; // restored from the back/forward cache: resync
    stopped = false;
    resyncing = false;
    setLive("connecting", "Connecting…");
    connect();
  });

  window.addEventListener("resize", scheduleCharts);
  initialProviders.forEach(onProvider);
  setLive("connecting", "Connecting…");
  scheduleCharts();
  connect();
})();
