// Charts of the energy pages (ECharts, served locally): the EnPI trend, baseline vs actual, CUSUM, the energy-flow
// Sankey.  Colours contrast ≥ 3:1 with white (WCAG 1.4.11).
(() => {
  const COLOUR = {now: "#1f4e79", before: "#6b7280", actual: "#1f4e79", baseline: "#b45309", savings: "#15803d",
                  loss: "#b42318", cusum: "#7c3aed", carrier: "#b45309", site: "#1f4e79", line: "#0f766e", product: "#7c3aed"};
  const read = (id) => { const el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; };
  const draw = (id, option) => {
    const el = document.getElementById(id);
    if (!el || !window.echarts) return null;
    const c = echarts.init(el, null, {renderer: "svg"});
    c.setOption({animation: false, ...option});
    window.addEventListener("resize", () => c.resize());
    return c;
  };

  document.addEventListener("DOMContentLoaded", () => {
    const label = read("energy-labels") || {lang: "en"};
    const fmt = (v, d = 0) => v === null || v === undefined ? "—"
      : Number(v).toLocaleString(label.lang, {minimumFractionDigits: d, maximumFractionDigits: d});
    const monthName = (m) => new Date(2000, m - 1, 1).toLocaleString(label.lang, {month: "short"});

    const enpi = read("energy-enpi-data");
    if (enpi) {
      draw("chart-enpi", {
        tooltip: {trigger: "axis", valueFormatter: (v) => `${fmt(v, 1)} ${enpi.unit}`}, legend: {top: 0},
        grid: {left: 60, right: 20, top: 40, bottom: 30},
        xAxis: {type: "category", data: enpi.months.map(monthName)},
        yAxis: {type: "value", name: enpi.unit, scale: true},
        series: enpi.series.map((s, i) => ({
          name: String(s.year), type: "line", data: s.values, connectNulls: false, symbolSize: 6,
          lineStyle: {width: 2, type: i === enpi.series.length - 1 ? "solid" : "dashed"},
          itemStyle: {color: i === enpi.series.length - 1 ? COLOUR.now : COLOUR.before}})),
      });
    }

    const bl = read("energy-baseline-data");
    if (bl) {
      const axis = {type: "value", name: bl.unit, scale: true, axisLabel: {formatter: (v) => fmt(v)}};
      draw("chart-baseline", {
        tooltip: {trigger: "axis", valueFormatter: (v) => `${fmt(v)} ${bl.unit}`}, legend: {top: 0},
        grid: {left: 80, right: 20, top: 40, bottom: 30},
        xAxis: {type: "category", data: bl.months}, yAxis: axis,
        series: [{name: label.actual, type: "line", data: bl.actual, itemStyle: {color: COLOUR.actual}, symbolSize: 6},
                 {name: label.baseline, type: "line", data: bl.baseline, itemStyle: {color: COLOUR.baseline},
                  lineStyle: {type: "dashed"}, symbolSize: 6}],
      });
      draw("chart-cusum", {
        tooltip: {trigger: "axis", valueFormatter: (v) => `${fmt(v)} ${bl.unit}`}, legend: {top: 0},
        grid: {left: 80, right: 20, top: 40, bottom: 30},
        xAxis: {type: "category", data: bl.months}, yAxis: {...axis, scale: false},
        series: [{name: label.savings, type: "bar", itemStyle: {color: COLOUR.savings},
                  data: bl.savings.map((v) => ({value: v, itemStyle: {color: v < 0 ? COLOUR.loss : COLOUR.savings}}))},
                 {name: label.cusum, type: "line", data: bl.cusum, itemStyle: {color: COLOUR.cusum}, symbolSize: 6,
                  lineStyle: {width: 2}}],
      });
      draw("chart-fit", {
        tooltip: {trigger: "axis", valueFormatter: (v) => `${fmt(v)} ${bl.unit}`}, legend: {top: 0},
        grid: {left: 80, right: 20, top: 40, bottom: 30},
        xAxis: {type: "category", data: bl.fit_months}, yAxis: axis,
        series: [{name: label.actual, type: "line", data: bl.fit_actual, itemStyle: {color: COLOUR.actual}, symbolSize: 6},
                 {name: label.fitted, type: "line", data: bl.fit_model, itemStyle: {color: COLOUR.baseline},
                  lineStyle: {type: "dashed"}, symbolSize: 6}],
      });
    }

    const sk = read("energy-sankey-data");
    if (sk) {
      const names = Object.fromEntries(sk.nodes.map((n) => [n.name, n.label]));
      draw("chart-sankey", {
        tooltip: {trigger: "item", formatter: (p) => p.dataType === "edge"
          ? `${names[p.data.source]} → ${names[p.data.target]}: ${fmt(p.data.value)} ${sk.unit}`
          : `${names[p.name]}: ${fmt(p.value)} ${sk.unit}`},
        series: [{type: "sankey", left: 10, right: 260, top: 10, bottom: 10, nodeGap: 10, draggable: false,
                  emphasis: {focus: "adjacency"}, lineStyle: {color: "gradient", opacity: 0.35},
                  label: {formatter: (p) => names[p.name], color: "#1b1f24"},
                  data: sk.nodes.map((n) => ({name: n.name, itemStyle: {color: COLOUR[n.level]}})),
                  links: sk.links}],
      });
    }

    const ms = read("energy-measures-data");
    if (ms) {
      draw("chart-measures", {
        tooltip: {trigger: "axis", axisPointer: {type: "shadow"}, valueFormatter: (v) => `${fmt(v)} ${ms.unit}`},
        legend: {top: 0}, grid: {left: 10, right: 40, top: 30, bottom: 30, containLabel: true},
        xAxis: {type: "value", name: ms.unit, axisLabel: {formatter: (v) => fmt(v)}},
        yAxis: {type: "category", inverse: true, data: ms.labels},
        series: [{name: label.estimated, type: "bar", data: ms.estimated, itemStyle: {color: COLOUR.baseline}},
                 {name: label.verified, type: "bar", data: ms.verified, itemStyle: {color: COLOUR.savings}}],
      });
    }
  });
})();
