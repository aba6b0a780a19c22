// Charts of the overview page (ECharts, served locally). Colours contrast ≥ 3:1 with white (WCAG 1.4.11).
const PALETTE = {"scope1": "#1f4e79", "scope2l": "#b45309", "scope2m": "#7c3aed", "scope3": "#15803d"};

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
