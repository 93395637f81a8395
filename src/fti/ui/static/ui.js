// Draws each chart of the page: its figure is JSON in a <script data-chart="ID"> element.
"use strict";
document.querySelectorAll("script[data-chart]").forEach(function (element) {
  var figure = JSON.parse(element.textContent);
  var target = document.getElementById(element.dataset.chart);
  if (target && window.Plotly) {
    window.Plotly.newPlot(target, figure.data, figure.layout, {
      displaylogo: false,
      responsive: true,
    });
  }
});
