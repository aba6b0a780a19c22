// Charts of the meters page (ECharts, served locally): the sub-meter balance per month (sub-meters stacked with the
// unaccounted rest on top), one meter's daily totals (bars) and hourly values (a line).  Colours contrast ≥ 3:1
// with white (WCAG 1.4.11).
(() => {
  const SUBS = ["#1f4e79", "#0f766e", "#7c3aed", "#b45309", "#15803d", "#9d174d", "#4338ca", "#6b7280"];
  const UNACCOUNTED = "#b42318";
  const read = (id) => { const el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; };
  const draw = (el, option) => {
    if (!el || !window.echarts) return null;
    const c = echarts.init(el, null, {renderer: "svg"});
    c.setOption({animation: false, ...option});
    window.addEventListener("resize", () => c.resize());
    return c;
  };

  document.addEventListener("DOMContentLoaded", () => {
    const data = read("meters-data");
    const label = read("meters-labels") || {lang: "en"};
    if (!data) return;
    const fmt = (v, d = 1) => v === null || v === undefined ? "—"
      : Number(v).toLocaleString(label.lang, {minimumFractionDigits: d, maximumFractionDigits: d});

    (data.balances || []).forEach((b, i) => {
      draw(document.getElementById(`chart-balance-${i}`), {
        tooltip: {trigger: "axis", axisPointer: {type: "shadow"}, valueFormatter: (v) => `${fmt(v, 3)} ${b.unit}`},
        legend: {top: 0}, grid: {left: 70, right: 20, top: 40, bottom: 30},
        xAxis: {type: "category", data: b.months},
        yAxis: {type: "value", name: b.unit, axisLabel: {formatter: (v) => fmt(v, 0)}},
        series: [
          ...b.subs.map((s, k) => ({name: s.code, type: "bar", stack: "main", data: s.values,
                                    itemStyle: {color: SUBS[k % SUBS.length]}})),
          {name: label.unaccounted, type: "bar", stack: "main", data: b.unaccounted, itemStyle: {color: UNACCOUNTED}},
        ],
      });
    });

    const m = data.meter;
    if (m) {
      draw(document.getElementById("chart-days"), {
        tooltip: {trigger: "axis", valueFormatter: (v) => `${fmt(v, 3)} ${m.unit}`}, legend: {top: 0},
        grid: {left: 70, right: 20, top: 40, bottom: 30},
        xAxis: {type: "category", data: m.days},
        yAxis: {type: "value", name: m.unit, axisLabel: {formatter: (v) => fmt(v, 0)}},
        series: [{name: `${m.code} · ${label.day}`, type: "bar", data: m.day_values, itemStyle: {color: SUBS[0]}}],
      });
      draw(document.getElementById("chart-hours"), {
        tooltip: {trigger: "axis", valueFormatter: (v) => `${fmt(v, 3)} ${m.unit}`}, legend: {top: 0},
        grid: {left: 70, right: 20, top: 40, bottom: 30},
        xAxis: {type: "category", data: m.hours, axisLabel: {formatter: (v) => v.slice(5, 10)}},
        yAxis: {type: "value", name: m.unit, scale: true, axisLabel: {formatter: (v) => fmt(v, 0)}},
        series: [{name: `${m.code} · ${label.hour}`, type: "line", data: m.hour_values, showSymbol: false,
                  lineStyle: {width: 1}, itemStyle: {color: SUBS[1]}}],
      });
    }
  });
})();
