// The forecast dashboard's charts. The figures come from the server (json_script); nothing is summed here.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("sf-forecast-data").textContent);
  const label = JSON.parse(document.getElementById("sf-forecast-labels").textContent);
  if (typeof Chart === "undefined") return;
  Chart.defaults.maintainAspectRatio = false;
  // Text and grid lines readable in the colour mode the page uses (light or dark).
  const dark = document.documentElement.getAttribute("data-bs-theme") === "dark";
  Chart.defaults.color = dark ? "#c4cad3" : "#495057";
  Chart.defaults.borderColor = dark ? "rgba(255,255,255,.12)" : "rgba(0,0,0,.1)";
  const ink = dark ? "#e9ecef" : "#212529";
  const fmt = new Intl.NumberFormat(document.documentElement.lang || undefined, { maximumFractionDigits: 0 });
  const money = { ticks: { callback: (v) => fmt.format(v) } };

  // One range chart per currency: amounts in different currencies never share an axis.
  const container = document.getElementById("sf-range-charts");
  const currencies = [...new Set(data.periods.map((r) => r.currency))];
  currencies.forEach((currency) => {
    const rows = data.periods.filter((r) => r.currency === currency);
    const heading = document.createElement("h3");
    heading.className = "h6 mt-2";
    heading.textContent = currency;
    const box = document.createElement("div");
    box.className = "sf-chart";
    const canvas = document.createElement("canvas");
    box.append(canvas);
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", label.range + " " + currency);
    container.append(heading, box);
    new Chart(canvas, {
      data: {
        labels: rows.map((r) => r.label),
        datasets: [
          { type: "bar", label: label.range, data: rows.map((r) => [r.p10, r.p90]), backgroundColor: "rgba(13,110,253,.25)", borderColor: "#0d6efd", borderWidth: 1 },
          { type: "line", label: "P50", data: rows.map((r) => r.p50), borderColor: "#0d6efd", pointRadius: 4 },
          { type: "line", label: label.weighted, data: rows.map((r) => r.weighted), borderColor: "#fd7e14", borderDash: [6, 4] },
          { type: "line", label: label.learned, data: rows.map((r) => r.learned), borderColor: "#198754", borderDash: [2, 3] },
          { type: "scatter", label: label.won, data: rows.map((r) => r.won), backgroundColor: ink, pointRadius: 5 },
        ],
      },
      options: { scales: { y: { beginAtZero: true, ...money } }, plugins: { tooltip: { callbacks: { label: (c) => {
        const v = c.raw;
        return c.dataset.label + ": " + (Array.isArray(v) ? fmt.format(v[0]) + " – " + fmt.format(v[1]) : fmt.format(v));
      } } } } },
    });
  });

  new Chart(document.getElementById("sf-funnel-chart"), {
    type: "bar",
    data: { labels: data.funnel.map((f) => f.stage), datasets: [{ label: label.deals, data: data.funnel.map((f) => f.deals), backgroundColor: "#6f42c1" }] },
    options: { indexAxis: "y", plugins: { legend: { display: false } } },
  });

  // Accuracy per currency, for the same reason.
  const accContainer = document.getElementById("sf-accuracy-charts");
  [...new Set(data.accuracy.map((r) => r.currency))].forEach((currency) => {
    const acc = data.accuracy.filter((r) => r.currency === currency);
    const heading = document.createElement("h3");
    heading.className = "h6 mt-2";
    heading.textContent = currency;
    const box = document.createElement("div");
    box.className = "sf-chart";
    const canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", label.forecast + " / " + label.won + " " + currency);
    box.append(canvas);
    accContainer.append(heading, box);
    new Chart(canvas, {
      data: {
        labels: acc.map((r) => r.label),
        datasets: [
          { type: "bar", label: label.won, data: acc.map((r) => r.won), backgroundColor: "#198754" },
          { type: "bar", label: label.forecast, data: acc.map((r) => r.forecast), backgroundColor: "rgba(13,110,253,.6)" },
          { type: "bar", label: label.range, data: acc.map((r) => [r.p10, r.p90]), backgroundColor: "rgba(13,110,253,.15)" },
        ],
      },
      options: { scales: { y: { beginAtZero: true, ...money } } },
    });
  });

  new Chart(document.getElementById("sf-calibration-chart"), {
    type: "scatter",
    data: {
      datasets: [
        { label: label.actual, data: data.calibration.map((b) => ({ x: b.predicted, y: b.actual, n: b.deals })), backgroundColor: "#dc3545",
          pointRadius: data.calibration.map((b) => Math.min(12, 3 + Math.sqrt(b.deals))) },
        { type: "line", label: label.perfect, data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], borderColor: "#adb5bd", pointRadius: 0 },
      ],
    },
    options: { scales: { x: { min: 0, max: 1, title: { display: true, text: label.predicted } }, y: { min: 0, max: 1, title: { display: true, text: label.actual } } } },
  });
})();
