// openpersonalize console: local times, sortable tables, charts, Back links, htmx's CSRF header. Pages work without it.
(function () {
  "use strict";
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) { el.textContent = d.toLocaleString(); el.title = el.getAttribute("datetime"); }
    });
  }
  function cellValue(row, i) {
    var cell = row.children[i];
    if (!cell) return "";
    var t = cell.querySelector("time");
    if (t) return t.getAttribute("datetime");
    var v = cell.getAttribute("data-value") || cell.textContent.trim();
    var n = parseFloat(v);
    return isNaN(n) || !/^-?[\d.]+(e-?\d+)?$/.test(v) ? v.toLowerCase() : n;
  }
  function sortable(root) {
    root.querySelectorAll("th[data-sort]").forEach(function (th) {
      if (th.dataset.bound) return;
      th.dataset.bound = "1";
      th.tabIndex = 0;
      var sort = function () {
        var table = th.closest("table"), body = table.tBodies[0];
        var i = Array.prototype.indexOf.call(th.parentNode.children, th);
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        th.parentNode.querySelectorAll("th").forEach(function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        Array.prototype.slice.call(body.rows).sort(function (a, b) {
          var x = cellValue(a, i), y = cellValue(b, i);
          return (x > y ? 1 : x < y ? -1 : 0) * dir;
        }).forEach(function (r) { body.appendChild(r); });
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
    });
  }
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  var palette = ["--accent", "--ok", "--warn", "--bad", "--kw", "--field"];
  function charts(root) {
    if (typeof uPlot === "undefined") return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      el.dataset.drawn = "1";
      var spec = JSON.parse(el.getAttribute("data-chart"));
      var width = Math.max(el.clientWidth, 300);
      var axis = { stroke: css("--muted"), grid: { stroke: css("--line") }, ticks: { stroke: css("--line") } };
      var series = [{}].concat(spec.series.map(function (s, i) {
        return { label: s, stroke: css(palette[i % palette.length]), width: 2,
                 fill: spec.kind === "area" ? css("--accent") + "33" : undefined,
                 paths: spec.kind === "bars" ? uPlot.paths.bars({ size: [0.7, 60] }) : undefined };
      }));
      var opts = { width: width, height: spec.height || 240, series: series, legend: { show: spec.series.length > 1 },
                   scales: { x: { time: !!spec.time } }, axes: [Object.assign({}, axis), Object.assign({}, axis)] };
      if (spec.labels) {
        opts.axes[0].values = function (u, ticks) { return ticks.map(function (t) { return spec.labels[t] || ""; }); };
        opts.axes[0].splits = function () { return spec.labels.map(function (_, i) { return i; }); };
        opts.scales.x.range = [-0.5, spec.labels.length - 0.5];
      }
      new uPlot(opts, spec.data, el);
    });
  }
  function backLinks(root) {  // the error page's Back (no javascript: URL: the CSP allows no inline script)
    root.querySelectorAll("a[data-back]").forEach(function (a) {
      a.addEventListener("click", function (e) { if (history.length > 1) { e.preventDefault(); history.back(); } });
    });
  }
  function init(root) { localTimes(root); sortable(root); charts(root); backLinks(root); }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (e) { init(e.target); });
  document.addEventListener("htmx:configRequest", function (e) {
    var meta = document.querySelector("meta[name=csrf-token]");
    if (meta) e.detail.headers["X-CSRF-Token"] = meta.content;
  });
})();
