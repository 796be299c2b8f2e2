/* cnai web UI: charts, run comparison and MLflow's fragment URLs. No build step, no network
 * beyond this control plane. Every value from the server is placed with textContent or as
 * uPlot data, never as markup, so a hostile run name stays text. */
(function () {
  "use strict";

  // -- MLflow's URL shapes -------------------------------------------------------------------
  // The stock client prints "View run at http://host/#/experiments/1/runs/ID"; the fragment never
  // reaches the server, so the page at "/" maps it to cnai's page.
  function mlflowTarget(hash) {
    var m;
    if ((m = /^#\/experiments\/([^/?]+)\/runs\/([0-9a-fA-F]+)/.exec(hash))) return "/ui/runs/" + m[2];
    if ((m = /^#\/experiments\/([^/?]+)\/?(\?.*)?$/.exec(hash))) return "/ui/experiments/" + m[1];
    if ((m = /^#\/models\/(.+)\/versions\/([^/?]+)/.exec(hash)))
      return "/ui/models/" + encodeURIComponent(decodeURIComponent(m[1])) + "/versions/" + m[2];
    if ((m = /^#\/models\/([^?]+?)\/?$/.exec(hash))) return "/ui/models/" + encodeURIComponent(decodeURIComponent(m[1]));
    if ((m = /^#\/metric\?.*runs=/.exec(hash))) return null;
    return null;
  }
  if (location.pathname === "/" && location.hash.indexOf("#/") === 0) {
    var target = mlflowTarget(location.hash);
    if (target) location.replace(target);
  }

  var COLORS = ["#1f5fbf", "#d9480f", "#2b8a3e", "#ae3ec9", "#e67700", "#0b7285", "#c2255c", "#5c940d",
    "#364fc7", "#862e9c", "#495057", "#a61e4d"];

  function text(tag, value, cls) {
    var el = document.createElement(tag);
    el.textContent = value == null ? "" : String(value);
    if (cls) el.className = cls;
    return el;
  }

  function fmt(v) {
    if (v == null || typeof v !== "number" || !isFinite(v)) return v == null ? "-" : String(v);
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
    return String(+v.toPrecision(6));
  }

  function num(v) {
    return typeof v === "number" && isFinite(v) ? v : null;
  }

  // -- one chart: uPlot over aligned data ----------------------------------------------------------
  // spec: {x: [...], series: [{label, values, dash, pointsOnly}], time: bool, log: bool, xLabel, yLabel,
  // points: bool}; a pointsOnly series is dots without a line (a study's trial values).
  function draw(el, spec) {
    el.textContent = "";
    var width = Math.max(260, el.clientWidth || 600);
    var height = +(el.getAttribute("data-height") || 260);
    var series = [{ label: spec.xLabel || "x", value: spec.time ? undefined : function (u, v) { return fmt(v); } }];
    var data = [spec.x];
    spec.series.forEach(function (s, i) {
      var color = COLORS[i % COLORS.length];
      series.push({
        label: s.label,
        stroke: color,
        width: 1.5,
        dash: s.dash,
        spanGaps: true,
        paths: s.pointsOnly ? function () { return null; } : undefined,
        points: { show: s.pointsOnly || spec.points || spec.x.length < 40, size: 5, fill: color },
        value: function (u, v) { return fmt(v); },
      });
      data.push(s.values.map(function (v) { return spec.log ? (num(v) !== null && v > 0 ? v : null) : num(v); }));
    });
    var opts = {
      width: width,
      height: height,
      series: series,
      scales: { x: { time: !!spec.time }, y: spec.log ? { distr: 3 } : {} },
      axes: [
        { label: spec.xLabel || "", stroke: "#6a7380", grid: { stroke: "#eef0f3" } },
        { label: spec.yLabel || "", stroke: "#6a7380", grid: { stroke: "#eef0f3" }, size: 60,
          values: function (u, ticks) { return ticks.map(fmt); } },
      ],
      cursor: { focus: { prox: 24 } },
      legend: { live: true },
    };
    var marks = (spec.marks || []).filter(function (m) { return num(m.x) !== null; });
    if (marks.length) opts.hooks = { draw: [function (u) { drawMarks(u, marks); }] };
    if (typeof uPlot === "undefined") {
      el.appendChild(text("p", "charting library did not load", "error"));
      return null;
    }
    var plot = new uPlot(opts, data, el);
    if (marks.length) el.setAttribute("data-marks", String(marks.length));  // the page lists them as text
    el.setAttribute("data-series", String(spec.series.length));
    el.setAttribute("data-points", String(spec.x.length));
    el.setAttribute("data-drawn", "1");
    return plot;
  }

  // Events (scaling, roll-outs, canary changes) as dashed vertical lines over the plot area.
  function drawMarks(u, marks) {
    var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
    var lo = u.scales.x.min, hi = u.scales.x.max;
    ctx.save();
    ctx.strokeStyle = "#a26300";
    ctx.lineWidth = 1;
    ctx.setLineDash([4, 3]);
    marks.forEach(function (m) {
      if (m.x < lo || m.x > hi) return;
      var x = Math.round(u.valToPos(m.x, "x", true)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
    });
    ctx.restore();
  }

  // Align several (x, y) lists on the union of their x values, as uPlot wants one x array.
  function align(lists) {
    var xs = {};
    lists.forEach(function (l) { l.x.forEach(function (x) { xs[x] = true; }); });
    var x = Object.keys(xs).map(Number).sort(function (a, b) { return a - b; });
    var index = {};
    x.forEach(function (v, i) { index[v] = i; });
    var series = lists.map(function (l) {
      var values = new Array(x.length).fill(null);
      l.x.forEach(function (xv, i) { values[index[xv]] = l.y[i]; });
      return { label: l.label, values: values };
    });
    return { x: x, series: series };
  }

  // Exponential moving average with bias correction (TensorBoard's smoothing), weight in [0, 1).
  function smooth(values, weight) {
    if (!weight) return values;
    var last = 0, n = 0;
    return values.map(function (v) {
      if (v === null || !isFinite(v)) return null;
      n += 1;
      last = last * weight + (1 - weight) * v;
      return last / (1 - Math.pow(weight, n));
    });
  }

  function fetchJson(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(url + " answered " + r.status);
      return r.json();
    });
  }

  function historyUrl(runIds, key) {
    var q = runIds.map(function (r) { return "run=" + encodeURIComponent(r); });
    q.push("key=" + encodeURIComponent(key));
    return "/ui/api/history?" + q.join("&");
  }

  // -- run page: one full chart per metric --------------------------------------------------------
  function runCharts() {
    var charts = document.querySelectorAll("[data-metric-chart]");
    Array.prototype.forEach.call(charts, function (el) {
      var run = el.getAttribute("data-run");
      var key = el.getAttribute("data-metric-chart");
      fetchJson(historyUrl([run], key)).then(function (answer) {
        var h = answer.runs[run];
        draw(el, { x: h.steps, series: [{ label: key, values: h.values }], xLabel: "step", yLabel: key });
      }).catch(function (e) { el.textContent = String(e); });
    });
  }

  // -- comparison: curves, params, scatter --------------------------------------------------------
  function compare() {
    var root = document.getElementById("compare");
    if (!root) return;
    var runs = JSON.parse(document.getElementById("compare-data").textContent);
    var chartEl = document.getElementById("compare-chart");
    var metricSel = document.getElementById("cmp-metric");
    var xSel = document.getElementById("cmp-x");
    var logBox = document.getElementById("cmp-log");
    var smoothIn = document.getElementById("cmp-smooth");
    var smoothOut = document.getElementById("cmp-smooth-value");
    var cache = {};
    var first = document.getElementById("compare-first");
    if (first) {
      var preloaded = JSON.parse(first.textContent);
      cache[preloaded.key] = preloaded;
    }

    function redraw() {
      var key = metricSel.value;
      if (!key) { chartEl.textContent = "no metric logged by the selected runs"; return; }
      var load = cache[key] ? Promise.resolve(cache[key]) : fetchJson(historyUrl(runs.map(function (r) { return r.id; }), key));
      load.then(function (answer) {
        cache[key] = answer;
        var mode = xSel.value;
        var weight = +smoothIn.value;
        smoothOut.textContent = weight.toFixed(2);
        var lists = runs.filter(function (r) { return answer.runs[r.id]; }).map(function (r) {
          var h = answer.runs[r.id];
          var x = mode === "step" ? h.steps : mode === "wall" ? h.times.map(function (t) { return t / 1000; })
            : h.times.map(function (t) { return (t - h.times[0]) / 1000; });
          return { label: r.name, x: x, y: smooth(h.values, weight) };
        });
        var aligned = align(lists);
        var labels = { step: "step", relative: "seconds since the first point", wall: "time" };
        draw(chartEl, { x: aligned.x, series: aligned.series, time: mode === "wall", log: logBox.checked,
          xLabel: labels[mode], yLabel: key });
      }).catch(function (e) { chartEl.textContent = String(e); });
    }
    [metricSel, xSel, logBox].forEach(function (c) { c.addEventListener("change", redraw); });
    smoothIn.addEventListener("input", redraw);
    redraw();
    scatter(runs);
  }

  // A param (x) against a metric (y), one dot per run, drawn as SVG built with DOM calls.
  function scatter(runs) {
    var box = document.getElementById("scatter");
    if (!box) return;
    var pSel = document.getElementById("sc-param");
    var mSel = document.getElementById("sc-metric");
    var NS = "http://www.w3.org/2000/svg";

    function node(name, attrs, content) {
      var el = document.createElementNS(NS, name);
      Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
      if (content != null) el.textContent = content;
      return el;
    }

    function render() {
      box.textContent = "";
      var p = pSel.value, m = mSel.value;
      var pts = runs.filter(function (r) { return p in r.params && num(r.metrics[m]) !== null; });
      var numeric = pts.every(function (r) { return r.params[p] !== "" && isFinite(Number(r.params[p])); });
      var cats = [];
      pts.forEach(function (r) { if (cats.indexOf(r.params[p]) < 0) cats.push(r.params[p]); });
      var xv = function (r) { return numeric ? Number(r.params[p]) : cats.indexOf(r.params[p]); };
      var W = 520, H = 300, L = 64, B = 40, T = 12, R = 16;
      var svg = node("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "class": "scatter" });
      box.appendChild(svg);
      box.setAttribute("data-dots", String(pts.length));
      if (!pts.length) { svg.appendChild(node("text", { x: L, y: H / 2 }, "no run has both values")); return; }
      var xs = pts.map(xv), ys = pts.map(function (r) { return r.metrics[m]; });
      var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
      var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
      if (x0 === x1) { x0 -= 1; x1 += 1; }
      if (y0 === y1) { y0 -= Math.abs(y0) || 1; y1 += Math.abs(y1) || 1; }
      var sx = function (v) { return L + (W - L - R) * (v - x0) / (x1 - x0); };
      var sy = function (v) { return T + (H - T - B) * (1 - (v - y0) / (y1 - y0)); };
      svg.appendChild(node("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, "class": "axis" }));
      svg.appendChild(node("line", { x1: L, y1: T, x2: L, y2: H - B, "class": "axis" }));
      [y0, (y0 + y1) / 2, y1].forEach(function (v) {
        svg.appendChild(node("text", { x: L - 6, y: sy(v) + 4, "text-anchor": "end", "class": "tick" }, fmt(v)));
      });
      var xticks = numeric ? [x0, (x0 + x1) / 2, x1] : cats.map(function (c, i) { return i; });
      xticks.forEach(function (v) {
        svg.appendChild(node("text", { x: sx(v), y: H - B + 16, "text-anchor": "middle", "class": "tick" },
          numeric ? fmt(v) : cats[v]));
      });
      svg.appendChild(node("text", { x: (L + W) / 2, y: H - 4, "text-anchor": "middle", "class": "label" }, p));
      svg.appendChild(node("text", { x: 12, y: (T + H - B) / 2, transform: "rotate(-90 12 " + (T + H - B) / 2 + ")",
        "text-anchor": "middle", "class": "label" }, m));
      pts.forEach(function (r, i) {
        var c = node("circle", { cx: sx(xs[i]), cy: sy(ys[i]), r: 5, fill: COLORS[runs.indexOf(r) % COLORS.length],
          "class": "dot", tabindex: 0 });
        c.appendChild(node("title", {}, r.name + ": " + p + "=" + r.params[p] + ", " + m + "=" + fmt(ys[i])));
        svg.appendChild(c);
      });
    }
    pSel.addEventListener("change", render);
    mSel.addEventListener("change", render);
    render();
  }

  // -- inline series (monitor pages): JSON in a script element ----------------------------------------
  function inlineCharts() {
    var charts = document.querySelectorAll("[data-inline-chart]");
    Array.prototype.forEach.call(charts, function (el) {
      var spec = JSON.parse(document.getElementById(el.getAttribute("data-inline-chart")).textContent);
      var plot = draw(el, spec);
      var links = spec.links;
      if (plot && links) {
        // A click on a window opens its report: the cursor's nearest x is the window.
        plot.over.addEventListener("click", function () {
          var i = plot.cursor.idx;
          if (i != null && links[i]) location.href = links[i];
        });
        plot.over.style.cursor = "pointer";
      }
    });
  }

  // -- runs table: select all, compare button state ----------------------------------------------------
  function runsTable() {
    var form = document.getElementById("runs-form");
    if (!form) return;
    // The checkboxes sit in the table, tied to the form by their form="runs-form" attribute.
    var boxes = document.querySelectorAll("input[name=run][form=runs-form]");
    var all = document.getElementById("select-all");
    var button = document.getElementById("compare-button");
    function update() {
      var n = Array.prototype.filter.call(boxes, function (b) { return b.checked; }).length;
      button.disabled = n < 1;
      button.textContent = "Compare " + n + " selected";
      Array.prototype.forEach.call(boxes, function (b) { b.closest("tr").classList.toggle("selected", b.checked); });
    }
    Array.prototype.forEach.call(boxes, function (b) { b.addEventListener("change", update); });
    if (all) all.addEventListener("change", function () {
      Array.prototype.forEach.call(boxes, function (b) { b.checked = all.checked; });
      update();
    });
    update();
  }

  function start() {
    runsTable();
    runCharts();
    compare();
    inlineCharts();
    var log = document.getElementById("log");  // a replica's log: the newest lines are at the bottom
    if (log) log.scrollTop = log.scrollHeight;
    document.body.setAttribute("data-ready", "1");
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  window.cnaiMlflowTarget = mlflowTarget;
})();
