// The Sankey charts of the zero-liquid-discharge page (ECharts, served locally): a period's water balance (m3) and,
// with the feed's dissolved solids, its salt balance (t).  Colours contrast ≥ 3:1 with white (WCAG 1.4.11); an
// unexplained loss or gain and a discharge are drawn in red.
(() => {
  const COLOUR = {in: "#1f4e79", middle: "#0f766e", out: "#7c3aed", alarm: "#b42318", reused: "#15803d"};
  const ALARM = new Set(["loss", "gain", "discharge", "salt_loss", "salt_gain"]);
  const REUSED = new Set(["distillate"]);
  const read = (id) => { const el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; };

  const colour = (n) => ALARM.has(n.name) ? COLOUR.alarm : REUSED.has(n.name) ? COLOUR.reused : COLOUR[n.side];

  const draw = (id, graph, label) => {
    const el = document.getElementById(id);
    if (!el || !graph || !window.echarts) return;
    const fmt = (v, d = 1) => Number(v).toLocaleString(label.lang, {minimumFractionDigits: d, maximumFractionDigits: d});
    const name = (key) => key.startsWith("salt:") ? `${key.slice(5)} (${label.dry})` : (label.nodes[key] || key);
    const chart = echarts.init(el, null, {renderer: "svg"});
    chart.setOption({
      animation: false,
      tooltip: {trigger: "item", formatter: (p) => p.dataType === "edge"
        ? `${name(p.data.source)} → ${name(p.data.target)}: ${fmt(p.data.value)} ${graph.unit}`
        : `${name(p.name)}: ${fmt(p.value)} ${graph.unit}`},
      series: [{type: "sankey", left: 10, right: 200, top: 10, bottom: 10, nodeGap: 14, draggable: false,
                layoutIterations: 0, emphasis: {focus: "adjacency"}, lineStyle: {color: "gradient", opacity: 0.35},
                label: {formatter: (p) => `${name(p.name)}  ${fmt(p.value)} ${graph.unit}`, color: "#1b1f24"},
                data: graph.nodes.map((n) => ({name: n.name, itemStyle: {color: colour(n)}})),
                links: graph.links}],
    });
    window.addEventListener("resize", () => chart.resize());
  };

  document.addEventListener("DOMContentLoaded", () => {
    const data = read("zld-data");
    const label = read("zld-labels") || {lang: "en", nodes: {}, dry: "dry"};
    if (!data) return;
    draw("chart-zld-water", data.water, label);
    draw("chart-zld-salt", data.salt, label);
  });
})();
