// hyperspark's search page: draws the charts from the search's data with Plotly, and shows a
// trial's details in the side panel when a point or bar of it is hovered. boot.js calls
// hypersparkDraw(data) once it has unpacked plotly.js and the data.
window.hypersparkDraw = function (data) {
  "use strict";
  var T = data.trials;
  var O = data.objectives;  // null unless the search has several losses or constraints
  var COLORS = {ok: "#1f77b4", pruned: "#9467bd", failed: "#d62728", error: "#8c2d04",
                timed_out: "#ff7f0e", cancelled: "#7f7f7f", running: "#2ca02c", new: "#bcbd22"};
  var STATUSES = ["ok", "pruned", "failed", "error", "timed_out", "cancelled", "running", "new"];
  // the toolbar shows on hover, in a top margin of its own: it never covers a chart's content
  var CONFIG = {displaylogo: false, responsive: true, displayModeBar: "hover"};
  var LAYOUT = {margin: {l: 60, r: 20, t: 28, b: 45}, hovermode: "closest",
                legend: {orientation: "h", y: -0.25}, font: {size: 11}};

  function layout(extra) { return Object.assign({}, LAYOUT, extra || {}); }
  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number") return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)
      ? v.toExponential(3) : String(Math.round(v * 1e4) / 1e4);
    return String(v);
  }

  // ------------------------------------------------------------ the hover panel
  var panel = document.getElementById("trial-panel");
  function show(row) {
    if (row === null || row === undefined || row < 0) return;
    var duration = (T.start[row] !== null && T.end[row] !== null) ? T.end[row] - T.start[row]
                                                                  : null;
    var lines = [["trial", T.tid[row]], ["status", T.status[row]], ["loss", fmt(T.loss[row])],
                 ["attempts", T.attempts[row]], ["duration (s)", fmt(duration)],
                 ["waited (s)", fmt(T.waited[row])]];
    if (T.size && T.size[row])  // sized by its parameters: what the trial held
      lines.splice(3, 0, ["size", escapeHtml(T.size[row])]);
    if (T.suggested_by && T.suggested_by[row])  // hyperspark.auto: which algorithm made it
      lines.splice(3, 0, ["suggested by", escapeHtml(T.suggested_by[row])]);
    var html = "<table>";
    lines.forEach(function (l) { html += "<tr><th>" + l[0] + "</th><td>" + l[1] + "</td></tr>"; });
    html += "<tr><th colspan=2>parameters</th></tr>";
    Object.keys(data.params).forEach(function (label) {
      var v = data.params[label][row];
      if (v !== null && v !== undefined)
        html += "<tr><th class=param>" + escapeHtml(label) + "</th><td>" + escapeHtml(fmt(v)) +
                "</td></tr>";
    });
    if (O) {  // a search of several losses or constraints: this trial's values
      O.losses.forEach(function (name) {
        if (O.values[name][row] !== null && (O.losses.length > 1 || name !== "loss"))
          html += "<tr><th>loss " + escapeHtml(name) + "</th><td>" + fmt(O.values[name][row]) +
                  "</td></tr>";
      });
      O.constraints.forEach(function (name) {
        if (O.constraint_values[name][row] !== null)
          html += "<tr><th>constraint " + escapeHtml(name) + "</th><td>" +
                  fmt(O.constraint_values[name][row]) + "</td></tr>";
      });
      if (O.front.indexOf(row) >= 0) html += "<tr><th colspan=2>on the front</th></tr>";
    }
    if (T.error[row]) html += "<tr><th>error</th><td>" + escapeHtml(T.error[row]) + "</td></tr>";
    panel.innerHTML = html + "</table>";
    panel.setAttribute("data-tid", T.tid[row]);
  }
  function escapeHtml(text) {
    return String(text).replace(/[&<>"]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]; });
  }
  function wire(div) {
    div.on("plotly_hover", function (event) {
      var point = event.points[0];
      if (point && point.customdata !== undefined) show(point.customdata);
    });
  }
  var drawn = [];
  function plot(id, traces, extra, marks) {
    var div = document.getElementById(id);
    if (!div) return;
    div.setAttribute("data-marks", marks === undefined ? "" : marks);
    drawn.push(Plotly.newPlot(div, traces, layout(extra), CONFIG).then(function () {
      wire(div); }));
  }
  var HOVER = {hovertemplate: "trial %{text}<extra></extra>"};

  // ------------------------------------------------------------ the objectives and the front
  (function objectives() {
    if (!O) return;
    var onFront = {};
    O.front.forEach(function (r) { onFront[r] = true; });
    var first = O.losses[0], second = O.losses.length === 2 ? O.losses[1] : null;
    var shown = function (r) { return O.values[first][r] !== null && O.violation[r] !== null; };
    // every front member, and the scatter's sample of the others
    var others = data.samples.scatter.filter(function (r) { return shown(r) && !onFront[r]; });
    var front = O.front.slice();
    var feasible = others.filter(function (r) { return O.violation[r] <= 0; });
    var infeasible = others.filter(function (r) { return O.violation[r] > 0; });
    var traces = [], marks = front.length + others.length;
    if (O.losses.length <= 2) {
      var y = second ? function (r) { return O.values[second][r]; }
                     : function (r) { return O.violation[r]; };
      var points = function (rows, extra) {
        return Object.assign({type: "scatter", mode: "markers", customdata: rows,
          x: rows.map(function (r) { return O.values[first][r]; }), y: rows.map(y),
          text: rows.map(function (r) { return T.tid[r]; })}, HOVER, extra);
      };
      traces.push(points(feasible, {name: O.constraints.length ? "feasible" : "trial",
        marker: {color: COLORS.ok, size: 6, opacity: 0.6}}));
      if (infeasible.length) traces.push(points(infeasible, {name: "infeasible",
        marker: {color: "#9a9a9a", size: 7, symbol: "x", opacity: 0.8}}));
      // the front: a staircase through its members (sorted by the first loss), each named
      var label = front.length <= 30;
      traces.push(points(front, {name: O.feasible ? "Pareto front" : "least infeasible",
        mode: second ? (label ? "lines+markers+text" : "lines+markers") : "markers",
        textposition: "top right", texttemplate: label ? "%{text}" : undefined,
        textfont: {size: 10, color: "#b2182b"}, line: {shape: "hv", color: "#d6604d", width: 2},
        marker: {color: "#b2182b", size: 9, symbol: "diamond"}}));
      plot("chart-objectives", traces, {xaxis: {title: {text: "loss " + first}},
           yaxis: {title: {text: second ? "loss " + second :
                                          "total violation (sum of positive constraints)"}}},
           marks);
      return;
    }
    // three losses or more: parallel coordinates, each loss on its own 0..1 scale
    var rowsDrawn = others.concat(front);
    var scales = O.losses.map(function (name) {
      var vals = rowsDrawn.map(function (r) { return O.values[name][r]; });
      var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
      return {name: name, lo: lo, hi: hi, at: function (v) {
        return hi === lo ? 0.5 : (v - lo) / (hi - lo); }};
    });
    function lines(rows, name, style, legend) {
      var xs = [], ys = [], cd = [], tx = [];
      rows.forEach(function (r) {
        scales.forEach(function (s, k) {
          xs.push(k); ys.push(s.at(O.values[s.name][r])); cd.push(r); tx.push(T.tid[r]);
        });
        xs.push(null); ys.push(null); cd.push(null); tx.push(null);
      });
      return Object.assign({type: "scatter", mode: "lines+markers", x: xs, y: ys, customdata: cd,
        text: tx, name: name, showlegend: legend}, style, HOVER);
    }
    if (feasible.length) traces.push(lines(feasible, O.constraints.length ? "feasible" : "trial",
      {line: {color: COLORS.ok, width: 1}, marker: {size: 3, color: COLORS.ok}, opacity: 0.35}, true));
    if (infeasible.length) traces.push(lines(infeasible, "infeasible",
      {line: {color: "#9a9a9a", width: 1, dash: "dot"}, marker: {size: 3, color: "#9a9a9a"},
       opacity: 0.5}, true));
    traces.push(lines(front, O.feasible ? "Pareto front" : "least infeasible",
      {line: {color: "#d6604d", width: 2}, marker: {size: 5, color: "#b2182b"}, opacity: 0.9},
      true));
    var annotations = [];
    scales.forEach(function (s, k) {
      [[0, s.lo], [1, s.hi]].forEach(function (tick) {
        annotations.push({x: k, y: tick[0], xref: "x", yref: "y", text: escapeHtml(fmt(tick[1])),
          showarrow: false, xanchor: "left", xshift: 4, font: {size: 10, color: "#333"},
          bgcolor: "rgba(255,255,255,0.75)"});
      });
    });
    plot("chart-objectives", traces, {annotations: annotations, margin: {l: 20, r: 80, t: 28, b: 45},
         yaxis: {range: [-0.05, 1.05], showticklabels: false, zeroline: false},
         xaxis: {tickvals: scales.map(function (_, k) { return k; }),
                 ticktext: scales.map(function (s) { return "loss " + s.name; })}}, marks);
  })();

  // the front's table: hovering a row shows its trial too
  document.querySelectorAll("#front-table tbody tr").forEach(function (tr) {
    tr.addEventListener("mouseenter", function () {
      show(T.tid.indexOf(Number(tr.getAttribute("data-tid"))));
    });
  });

  // ------------------------------------------------------------ loss against trials and time
  function byStatus(rows, x, y) {
    var traces = [];
    STATUSES.forEach(function (status) {
      var mine = rows.filter(function (r) { return T.status[r] === status && y(r) !== null; });
      if (!mine.length) return;
      traces.push(Object.assign({type: "scatter", mode: "markers", name: status,
        x: mine.map(x), y: mine.map(y), customdata: mine, text: mine.map(function (r) {
          return T.tid[r]; }), marker: {color: COLORS[status], size: 5, opacity: 0.75}}, HOVER));
    });
    return traces;
  }
  function bestSoFar(order, x) {
    var xs = [], ys = [], best = Infinity;
    order.forEach(function (r) {
      var loss = T.loss[r];
      if (T.status[r] === "ok" && loss !== null && loss < best) {
        best = loss; xs.push(x(r)); ys.push(best);
      }
    });
    if (xs.length) { xs.push(x(order[order.length - 1])); ys.push(best); }
    return {type: "scatter", mode: "lines", name: "best so far", x: xs, y: ys,
            line: {shape: "hv", color: "#111"}, hoverinfo: "skip"};
  }
  var rows = data.samples.scatter;
  var all = T.tid.map(function (_, r) { return r; });
  var byEnd = all.filter(function (r) { return T.end[r] !== null; })
                 .sort(function (a, b) { return T.end[a] - T.end[b]; });
  var lossTraces = byStatus(rows, function (r) { return T.tid[r]; }, function (r) {
    return T.loss[r]; });
  // a continued search: a line where this run's trials start after the earlier run's
  var continuation = data.continuation ? {shapes: [{type: "line", xref: "x", yref: "paper",
      x0: data.continuation.first_new_tid - 0.5, x1: data.continuation.first_new_tid - 0.5,
      y0: 0, y1: 1, line: {dash: "dash", color: "#555", width: 1}}],
    // the label beside the line's top, clear of it, on a background of its own
    annotations: [{xref: "x", yref: "paper", x: data.continuation.first_new_tid - 0.5, y: 1,
      xanchor: "left", yanchor: "top", xshift: 6, showarrow: false, text: "continued here",
      bgcolor: "rgba(255,255,255,0.85)", font: {size: 10, color: "#555"}}]} : {};
  plot("chart-loss-trials", lossTraces.concat([bestSoFar(all, function (r) { return T.tid[r]; })]),
       Object.assign({xaxis: trialAxis(T.tid), yaxis: {title: {text: "loss"}}}, continuation),
       countMarks(lossTraces));

  // a trial axis counts trials: whole numbers only (Plotly's own ticks go to 0.5 or 0.2
  // steps over a few trials)
  function trialAxis(tids) {
    var span = tids.length ? Math.max.apply(null, tids) - Math.min.apply(null, tids) : 0;
    var axis = {title: {text: "trial (tid)"}, tickformat: "d"};
    if (span <= 10) { axis.tick0 = 0; axis.dtick = 1; }
    return axis;
  }
  var timeRows = rows.filter(function (r) { return T.end[r] !== null; });
  var timeTraces = byStatus(timeRows, function (r) { return T.end[r]; }, function (r) {
    return T.loss[r]; });
  plot("chart-loss-time", timeTraces.concat([bestSoFar(byEnd, function (r) { return T.end[r]; })]),
       {xaxis: {title: {text: "seconds since the search started"}}, yaxis: {title: {text: "loss"}}},
       countMarks(timeTraces));

  function countMarks(traces) {
    return traces.reduce(function (n, t) { return n + t.x.length; }, 0);
  }

  // ------------------------------------------------------------ the slots' timeline
  var bars = data.samples.timeline.filter(function (r) {
    return T.start[r] !== null && T.end[r] !== null && T.slot[r] !== null; });
  var waits = bars.filter(function (r) { return T.booked[r] !== null && T.start[r] > T.booked[r]; });
  var timeline = [{type: "bar", orientation: "h", name: "waiting for a slot",
                   base: waits.map(function (r) { return T.booked[r]; }),
                   x: waits.map(function (r) { return T.start[r] - T.booked[r]; }),
                   y: waits.map(function (r) { return T.slot[r]; }), customdata: waits,
                   text: waits.map(function (r) { return T.tid[r]; }),
                   marker: {color: "rgba(150,150,150,0.35)"}, textposition: "none",
                   hovertemplate: "trial %{text} waited<extra></extra>"}];
  var trialBars = 0;
  STATUSES.forEach(function (status) {
    var mine = bars.filter(function (r) { return T.status[r] === status; });
    if (!mine.length) return;
    trialBars += mine.length;
    timeline.push(Object.assign({type: "bar", orientation: "h", name: status,
      base: mine.map(function (r) { return T.start[r]; }),
      x: mine.map(function (r) { return Math.max(T.end[r] - T.start[r], 1e-3); }),
      y: mine.map(function (r) { return T.slot[r]; }), customdata: mine, textposition: "none",
      text: mine.map(function (r) { return T.tid[r]; }), marker: {color: COLORS[status]}},
      HOVER));
  });
  plot("chart-timeline", timeline, {barmode: "overlay", bargap: 0.15,
       xaxis: {title: {text: "seconds since the search started"}}, yaxis: {title: {text: "slot"}}}, trialBars);
  plot("chart-busy", [{type: "scatter", mode: "lines", x: data.busy.time, y: data.busy.running,
       line: {shape: "hv"}, name: "trials running", hoverinfo: "x+y"}],
       {xaxis: {title: {text: "seconds since the search started"}}, yaxis: {title: {text: "trials running"}},
        height: 220});

  // ------------------------------------------------------------ each parameter against the loss
  var labels = Object.keys(data.params);
  var grid = document.getElementById("chart-params");
  labels.forEach(function (label, k) {
    // the parameter's name is a caption above its chart, where plotly's toolbar cannot cover it
    var cell = document.createElement("div");
    var caption = document.createElement("div");
    caption.className = "chart-title";
    caption.textContent = label;
    var div = document.createElement("div");
    div.id = "chart-param-" + k;
    div.className = "small-chart";
    div.setAttribute("data-label", label);
    cell.appendChild(caption);
    cell.appendChild(div);
    grid.appendChild(cell);
    var values = data.params[label];
    var mine = rows.filter(function (r) { return values[r] !== null && T.loss[r] !== null; });
    var categorical = data.kinds[label] === "categorical";
    var x = mine.map(function (r) {
      if (!categorical) return values[r];
      return String(values[r]);
    });
    var positive = !categorical && mine.length && mine.every(function (r) { return values[r] > 0; });
    var spread = positive ? Math.max.apply(null, x) / Math.min.apply(null, x) : 1;
    var trace = Object.assign({type: categorical ? "box" : "scatter", mode: "markers", x: x,
      y: mine.map(function (r) { return T.loss[r]; }), customdata: mine,
      text: mine.map(function (r) { return T.tid[r]; }), name: label,
      marker: {size: 4, color: mine.map(function (r) { return T.loss[r]; }),
               colorscale: "Viridis", opacity: 0.8}}, HOVER);
    if (categorical) Object.assign(trace, {boxpoints: "all", jitter: 0.6, pointpos: 0,
      fillcolor: "rgba(0,0,0,0)", line: {color: "rgba(0,0,0,0)"}, marker: {size: 4,
      color: "#1f77b4", opacity: 0.6}});
    plot(div.id, [trace], {height: 250, margin: {l: 50, r: 10, t: 28, b: 35}, showlegend: false,
         xaxis: {type: categorical ? "category" : (spread > 100 ? "log" : "linear")},
         yaxis: {title: {text: "loss"}}}, mine.length);
  });

  // ------------------------------------------------------------ parallel coordinates
  (function parallel() {
    var lineRows = data.samples.lines.filter(function (r) { return T.loss[r] !== null; });
    var axes = labels.map(function (label) {
      var values = data.params[label];
      if (data.kinds[label] === "categorical") {
        var options = Array.from(new Set(values.filter(function (v) { return v !== null; })
                                              .map(String))).sort();
        return {label: label, options: options, ticks: options.map(function (o, i) {
          return [(i + 0.5) / options.length, o]; }), at: function (r) {
          return values[r] === null ? null : (options.indexOf(String(values[r])) + 0.5) /
                                              options.length; }};
      }
      var finite = values.filter(function (v) { return v !== null; });
      var lo = Math.min.apply(null, finite), hi = Math.max.apply(null, finite);
      var log = lo > 0 && hi / lo > 100;
      var f = function (v) { return log ? Math.log(v) : v; };
      var ticks = [0, 0.5, 1].map(function (p) {
        var v = log ? Math.exp(f(lo) + p * (f(hi) - f(lo))) : lo + p * (hi - lo);
        return [p, fmt(v)]; });
      return {label: label, lo: lo, hi: hi, ticks: hi === lo ? [[0.5, fmt(lo)]] : ticks,
              at: function (r) {
        return values[r] === null ? null : (hi === lo ? 0.5 : (f(values[r]) - f(lo)) /
                                                              (f(hi) - f(lo))); }};
    });
    (function () {
      var finite = lineRows.map(function (r) { return T.loss[r]; });
      var lo = Math.min.apply(null, finite), hi = Math.max.apply(null, finite);
      axes.push({label: "loss", ticks: !finite.length ? [] : hi === lo ? [[0.5, fmt(lo)]]
                   : [0, 0.5, 1].map(function (p) { return [p, fmt(lo + p * (hi - lo))]; }),
                 at: function (r) { return hi === lo ? 0.5 : (T.loss[r] - lo) / (hi - lo); }});
    })();
    var sorted = lineRows.slice().sort(function (a, b) { return T.loss[a] - T.loss[b]; });
    var groups = 6, traces = [], palette = ["#440154", "#414487", "#2a788e", "#22a884",
                                            "#7ad151", "#fde725"];
    for (var g = 0; g < groups; g++) {
      var part = sorted.slice(Math.floor(g * sorted.length / groups),
                              Math.floor((g + 1) * sorted.length / groups));
      var xs = [], ys = [], cd = [], tx = [];
      part.forEach(function (r) {
        axes.forEach(function (axis, k) {
          var v = axis.at(r);
          if (v === null) return;
          xs.push(k); ys.push(v); cd.push(r); tx.push(T.tid[r]);
        });
        xs.push(null); ys.push(null); cd.push(null); tx.push(null);
      });
      traces.push(Object.assign({type: "scatter", mode: "lines+markers", x: xs, y: ys,
        customdata: cd, text: tx, name: ["best", "", "", "", "", "worst"][g] || "",
        showlegend: g === 0 || g === groups - 1, line: {color: palette[g], width: 1},
        marker: {size: 3, color: palette[g]}, opacity: 0.5}, HOVER));
    }
    // each axis's values, written beside it (the lines are drawn on a shared 0..1 scale)
    var annotations = [];
    axes.forEach(function (axis, k) {
      axis.ticks.forEach(function (tick) {
        annotations.push({x: k, y: tick[0], xref: "x", yref: "y", text: escapeHtml(tick[1]),
          showarrow: false, xanchor: "left", xshift: 4, font: {size: 10, color: "#333"},
          bgcolor: "rgba(255,255,255,0.75)"});
      });
    });
    plot("chart-parallel", traces, {height: 380, annotations: annotations,
         margin: {l: 20, r: 80, t: 28, b: 45},
         yaxis: {range: [-0.05, 1.05], showticklabels: false, zeroline: false},
         xaxis: {tickvals: axes.map(function (_, k) { return k; }),
                 ticktext: axes.map(function (a) { return a.label; })}}, lineRows.length);
  })();

  // ------------------------------------------------------------ importance
  plot("chart-importance", [{type: "bar", orientation: "h",
       x: data.importance.map(function (i) { return i.score; }),
       y: data.importance.map(function (i) { return i.label; }),
       hovertemplate: "%{y}: %{x:.3f}<extra></extra>"}],
       {height: Math.max(160, 28 * data.importance.length + 60),
        xaxis: {title: {text: "share of the loss variance explained alone (η²)"}, range: [0, 1]},
        yaxis: {autorange: "reversed"}, margin: {l: 120, r: 20, t: 28, b: 45}},
       data.importance.length);

  // ------------------------------------------------------------ learning curves
  (function curves() {
    var lines = data.curves.lines;
    if (!lines.length) {
      document.getElementById("section-curves").style.display = "none";
      return;
    }
    var traces = lines.map(function (c) {
      return Object.assign({type: "scatter", mode: "lines", x: c.steps, y: c.loss,
        customdata: c.steps.map(function () { return c.row; }),
        text: c.steps.map(function () { return T.tid[c.row]; }), showlegend: false,
        line: {width: 1, color: T.status[c.row] === "pruned" ? COLORS.pruned : COLORS.ok},
        opacity: 0.6}, HOVER);
    });
    var pruned = lines.filter(function (c) { return c.pruned_at !== null; });
    traces.push(Object.assign({type: "scatter", mode: "markers", name: "pruned here",
      x: pruned.map(function (c) { return c.pruned_at; }),
      y: pruned.map(function (c) {
        var k = c.steps.indexOf(c.pruned_at); return k >= 0 ? c.loss[k] : c.loss[c.loss.length - 1];
      }), customdata: pruned.map(function (c) { return c.row; }),
      text: pruned.map(function (c) { return T.tid[c.row]; }),
      marker: {symbol: "x", size: 8, color: COLORS.pruned}}, HOVER));
    plot("chart-curves", traces, {xaxis: {title: {text: "step"}}, yaxis: {title: {text: "reported loss"}}},
         lines.length);
  })();

  Promise.all(drawn).then(function () { document.body.setAttribute("data-ready", "true"); });
};
