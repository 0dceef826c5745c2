/* Tollway pages: the few behaviours the components need. No inline scripts anywhere
   (the Content-Security-Policy forbids them); everything hangs off data attributes and
   is (re)applied to content htmx swaps in. */
(function () {
  "use strict";

  function each(root, selector, fn) {
    if (root.matches && root.matches(selector)) fn(root);
    root.querySelectorAll(selector).forEach(fn);
  }

  /* ---- copy buttons: data-copy-target="id of the element whose text is copied" ---- */
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function initCopy(button) {
    if (button.dataset.ready) return;
    button.dataset.ready = "1";
    var label = button.textContent;
    button.addEventListener("click", function () {
      var target = document.getElementById(button.dataset.copyTarget);
      if (!target) return;
      copyText(target.textContent.trim()).then(function () {
        button.textContent = "Copied";
        button.setAttribute("data-copied", "");
      }, function () {
        button.textContent = "Select and copy";
        var range = document.createRange();
        range.selectNodeContents(target);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      });
      window.setTimeout(function () {
        button.textContent = label;
        button.removeAttribute("data-copied");
      }, 2500);
    });
  }

  /* ---- confirmation dialogs: data-open-dialog="id", data-close-dialog ---- */
  function initDialogs(root) {
    each(root, "[data-open-dialog]", function (button) {
      if (button.dataset.ready) return;
      button.dataset.ready = "1";
      button.addEventListener("click", function () {
        var dialog = document.getElementById(button.dataset.openDialog);
        if (dialog && dialog.showModal) dialog.showModal();
      });
    });
    each(root, "[data-close-dialog]", function (button) {
      if (button.dataset.ready) return;
      button.dataset.ready = "1";
      button.addEventListener("click", function () {
        var dialog = button.closest("dialog");
        if (dialog) dialog.close();
      });
    });
  }

  /* ---- charts: data-chart='{"x": [...], "series": [{"label", "values"}], "x_kind"}' ---- */
  var PALETTE = ["--brand", "#e8833a", "#2a9d8f", "#8e5cd9", "#d64550", "#6c7a89"];

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function color(i) {
    var c = PALETTE[i % PALETTE.length];
    return c.indexOf("--") === 0 ? cssVar(c, "#2f5bd3") : c;
  }

  function initChart(el) {
    if (el.dataset.ready || typeof window.uPlot !== "function") return;
    el.dataset.ready = "1";
    var spec = JSON.parse(el.dataset.chart);
    var time = (spec.x_kind || "time") === "time";
    var xs = time ? spec.x : spec.x.map(function (_, i) { return i; });
    var bars = el.dataset.kind === "bars";
    var unit = el.dataset.unit || "";
    var axisColor = cssVar("--muted", "#5a6372");
    var gridColor = cssVar("--border", "#d9dde3");
    var series = [{}].concat(spec.series.map(function (s, i) {
      var c = color(i);
      var out = {
        label: s.label, stroke: c, width: 2,
        fill: bars ? c + "cc" : c + "22",
        value: function (u, v) { return v == null ? "—" : v.toLocaleString() + (unit ? " " + unit : ""); }
      };
      if (bars && window.uPlot.paths && window.uPlot.paths.bars) {
        out.paths = window.uPlot.paths.bars({ size: [0.6, 60] });
        out.points = { show: false };
      }
      return out;
    }));
    var axisX = { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor } };
    if (!time) {
      if (el.clientWidth < 480) { axisX.rotate = -35; axisX.size = 70; }
      axisX.values = function (u, ticks) { return ticks.map(function (t) { return spec.x[t] == null ? "" : spec.x[t]; }); };
      axisX.splits = function () { return xs; };
    }
    var opts = {
      width: Math.max(el.clientWidth, 200),
      height: parseInt(el.dataset.height || "260", 10),
      scales: { x: time ? { time: true } : { time: false, range: function (u, min, max) { return [min - 0.5, max + 0.5]; } } },
      series: series,
      axes: [axisX, { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor }, size: 60 }],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } }
    };
    var data = [xs].concat(spec.series.map(function (s) { return s.values; }));
    var plot = new window.uPlot(opts, data, el);
    el.tollwayChart = plot;
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        var w = Math.max(el.clientWidth, 200);
        if (Math.abs(w - plot.width) > 2) plot.setSize({ width: w, height: plot.height });
      }).observe(el);
    }
  }

  /* ---- OpenAPI reference: data-openapi-url on a container ---- */
  function initOpenApi(el) {
    if (el.dataset.ready || typeof window.SwaggerUIBundle !== "function") return;
    el.dataset.ready = "1";
    el.textContent = "";
    window.SwaggerUIBundle({
      url: el.dataset.openapiUrl,
      domNode: el,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      deepLinking: false,
      docExpansion: "list",
      defaultModelsExpandDepth: 0,
      validatorUrl: null,
      syntaxHighlight: { activated: true, theme: "agate" }
    });
  }

  /* ---- focus the error summary after a failed submit, so it is read first ---- */
  function initAutofocus(root) {
    var el = root.querySelector && root.querySelector("[data-autofocus]");
    if (el) el.focus();
  }

  function init(root) {
    each(root, ".copy-button", initCopy);
    initDialogs(root);
    each(root, "[data-chart]", initChart);
    each(root, "[data-openapi-url]", initOpenApi);
    initAutofocus(root);
  }

  /* deferred scripts run before DOMContentLoaded: wait for it, so that the libraries
     loaded after this file (Swagger UI in a page's head block) are there too */
  if (document.readyState === "complete") {
    init(document);
  } else {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  }
  document.addEventListener("htmx:load", function (event) { init(event.target); });
})();
