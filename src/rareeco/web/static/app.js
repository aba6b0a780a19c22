// Charts of the overview and footprint pages (ECharts, served locally). Colours contrast ≥ 3:1 with white (WCAG 1.4.11).
const PALETTE = {"scope1": "#1f4e79", "scope2l": "#b45309", "scope2m": "#7c3aed", "scope3": "#15803d", "direct": "#1f4e79", "purchased": "#0f766e", "runs": "#4b5563", "percentile": "#b42318"};

function chartData(id) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : null;
}

document.addEventListener("DOMContentLoaded", () => {
  const data = chartData("chart-data");
  const label = chartData("chart-labels");
  if (!data || !window.echarts) return;
  const monthly = document.getElementById("chart-monthly");
  if (monthly) {
    const c = echarts.init(monthly, null, {renderer: "svg"});
    const bar = (name, key, colour) => ({name, type: "bar", stack: "t", data: data.monthly[key], itemStyle: {color: colour}});
    c.setOption({
      animation: false, tooltip: {trigger: "axis"}, legend: {top: 0},
      grid: {left: 60, right: 20, top: 40, bottom: 30},
      xAxis: {type: "category", data: data.months}, yAxis: {type: "value", name: "t CO2e"},
      series: [bar(label.scope1, "scope1_t_co2e", PALETTE.scope1), bar(label.scope2l, "scope2_location_t_co2e", PALETTE.scope2l),
               bar(label.scope3, "scope3_t_co2e", PALETTE.scope3)],
    });
    window.addEventListener("resize", () => c.resize());
  }
  const s2 = document.getElementById("chart-scope2");
  if (s2) {
    const c = echarts.init(s2, null, {renderer: "svg"});
    c.setOption({
      animation: false, tooltip: {trigger: "axis"}, legend: {top: 0},
      grid: {left: 60, right: 20, top: 40, bottom: 30},
      xAxis: {type: "category", data: data.sites}, yAxis: {type: "value", name: "t CO2e"},
      series: [{name: label.scope2l, type: "bar", data: data.site_location, itemStyle: {color: PALETTE.scope2l}},
               {name: label.scope2m, type: "bar", data: data.site_market, itemStyle: {color: PALETTE.scope2m}}],
    });
    window.addEventListener("resize", () => c.resize());
  }
});

// The footprint page: contributions (horizontal bars) and the Monte Carlo histogram with its percentiles.
document.addEventListener("DOMContentLoaded", () => {
  const data = chartData("footprint-data");
  const label = chartData("footprint-labels");
  if (!data || !window.echarts) return;
  const fmt = (v, d = 3) => Number(v).toLocaleString(label.lang, {minimumFractionDigits: d, maximumFractionDigits: d});
  const contrib = document.getElementById("chart-contrib");
  if (contrib) {
    const c = echarts.init(contrib, null, {renderer: "svg"});
    const items = data.contributions;
    c.setOption({
      animation: false, tooltip: {trigger: "axis", axisPointer: {type: "shadow"}, valueFormatter: (v) => fmt(v)},
      grid: {left: 10, right: 60, top: 30, bottom: 30, containLabel: true},
      xAxis: {type: "value", name: label.unit, nameLocation: "middle", nameGap: 25},
      yAxis: {type: "category", inverse: true, data: items.map((i) => i.label)},
      series: [{type: "bar", name: label.unit, label: {show: true, position: "right", formatter: (p) => fmt(p.value, 2)},
                data: items.map((i) => ({value: i.kg, itemStyle: {color: PALETTE[i.kind] || PALETTE.purchased}}))}],
    });
    window.addEventListener("resize", () => c.resize());
  }
  const hist = document.getElementById("chart-hist");
  if (hist && data.histogram) {
    const h = data.histogram;
    const bins = h.counts.map((n, i) => [h.edges[i], h.edges[i + 1], n]);
    const c = echarts.init(hist, null, {renderer: "svg"});
    const marks = ["p2.5", "p50", "p97.5"].map((k) => ({
      xAxis: h.percentiles[k], label: {formatter: `${label[k]}\n${fmt(h.percentiles[k], 2)}`},
      lineStyle: {color: PALETTE.percentile, type: k === "p50" ? "solid" : "dashed"}}));
    c.setOption({
      animation: false,
      tooltip: {formatter: (p) => p.value ? `${fmt(p.value[0], 2)} – ${fmt(p.value[1], 2)}: ${p.value[2]}` : ""},
      grid: {left: 50, right: 30, top: 50, bottom: 45},
      xAxis: {type: "value", min: h.edges[0], max: h.edges[h.edges.length - 1], scale: true,
              name: label.unit, nameLocation: "middle", nameGap: 28, axisLabel: {formatter: (v) => fmt(v, 0)}},
      yAxis: {type: "value", name: label.runs},
      series: [{type: "custom", name: label.runs, data: bins, encode: {x: [0, 1], y: 2},
                renderItem: (params, api) => {
                  const lo = api.coord([api.value(0), api.value(2)]);
                  const hi = api.coord([api.value(1), 0]);
                  return {type: "rect", shape: {x: lo[0], y: lo[1], width: Math.max(hi[0] - lo[0] - 1, 1), height: hi[1] - lo[1]},
                          style: {fill: PALETTE.runs}};
                }},
               {type: "line", data: [], silent: true, markLine: {symbol: "none", data: marks}}],
    });
    window.addEventListener("resize", () => c.resize());
  }
});
