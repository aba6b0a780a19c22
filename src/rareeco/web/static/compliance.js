// The air-compliance page (ECharts, served locally): per outlet and pollutant the month's hourly averages at the
// reference O2 against the limit lines (hours without a valid average shaded: maintenance, invalid, no data,
// stopped) and the daily averages; the live card values kept current by the server-sent events of
// /compliance/live.  Colours contrast ≥ 3:1 with white (WCAG 1.4.11).
(() => {
  const LINE = "#1f4e79", PERMIT = "#b42318", TARGET = "#b45309", BAR = "#0f766e";
  const SHADE = {maintenance: "rgba(124, 58, 237, 0.16)", invalid: "rgba(107, 114, 128, 0.22)",
                 missing: "rgba(107, 114, 128, 0.12)", stopped: "rgba(15, 118, 110, 0.12)"};
  const read = (id) => { const el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; };
  const draw = (el, option) => {
    if (!el || !window.echarts) return null;
    const c = echarts.init(el, null, {renderer: "svg"});
    c.setOption({animation: false, ...option});
    window.addEventListener("resize", () => c.resize());
    return c;
  };

  // runs of consecutive hours (or days) that have no valid average, named by why
  const gaps = (labels, status, flags, label) => {
    const out = [];
    let start = null, kind = null;
    const why = (i) => {
      if (status[i] === "valid") return null;
      if (status[i] === "invalid" && flags && /M/.test(flags[i] || "")) return "maintenance";
      return status[i] in SHADE ? status[i] : "invalid";
    };
    for (let i = 0; i <= labels.length; i++) {
      const k = i < labels.length ? why(i) : null;
      if (k !== kind) {
        if (kind !== null) out.push([{name: label[kind] || kind, xAxis: labels[start], itemStyle: {color: SHADE[kind]}},
                                     {xAxis: labels[i - 1]}]);
        start = i; kind = k;
      }
    }
    return out;
  };

  // an axis top a little above the data and the limits, rounded to 1, 2 or 5 × 10^k
  const nice = (x) => {
    if (!(x > 0)) return 1;
    const k = Math.pow(10, Math.floor(Math.log10(x)));
    return [1, 2, 5, 10].map((m) => m * k).find((t) => t >= x);
  };

  const limitLines = (p, period, label, fmt) => p.limits.filter((l) => l.period === period).map((l) => ({
    yAxis: l.value, name: `${label[l.kind] || l.kind} ${fmt(l.value, 0)}`,
    lineStyle: {color: l.kind === "permit" ? PERMIT : TARGET, type: l.kind === "permit" ? "solid" : "dashed", width: 2},
    label: {formatter: `${label[l.kind] || l.kind} ${fmt(l.value, 0)}`, position: "insideEndTop",
            color: l.kind === "permit" ? PERMIT : TARGET},
  }));

  const drawOutlet = (data, label, fmt) => {
    data.pollutants.forEach((p) => {
      const top = Math.max(...p.limits.filter((l) => l.period === "h").map((l) => l.value), 0);
      draw(document.getElementById(`chart-hours-${data.outlet}-${p.code}`), {
        tooltip: {trigger: "axis", valueFormatter: (v) => `${fmt(v, 2)} ${p.unit}`},
        legend: {top: 0}, grid: {left: 60, right: 30, top: 36, bottom: 30},
        xAxis: {type: "category", data: data.hours, axisLabel: {formatter: (v) => v.slice(5, 10)}},
        yAxis: {type: "value", name: p.unit, max: (v) => nice(Math.max(v.max, top) * 1.05),
                axisLabel: {formatter: fmt.axis}},
        series: [{name: `${p.name} · ${label.hourly}`, type: "line", data: p.converted, showSymbol: false,
                  connectNulls: false, lineStyle: {width: 1.5}, itemStyle: {color: LINE},
                  markLine: {symbol: "none", silent: true, data: limitLines(p, "h", label, fmt)},
                  markArea: {silent: true, label: {color: "#1b1f24", fontSize: 11},
                             data: gaps(data.hours, p.status, p.flags, label)}}],
      });
      const daily = p.limits.filter((l) => l.period === "d").map((l) => l.value);
      draw(document.getElementById(`chart-days-${data.outlet}-${p.code}`), {
        tooltip: {trigger: "axis", valueFormatter: (v) => `${fmt(v, 2)} ${p.unit}`},
        legend: {top: 0}, grid: {left: 60, right: 30, top: 36, bottom: 30},
        xAxis: {type: "category", data: data.days, axisLabel: {formatter: (v) => v.slice(8, 10)}},
        yAxis: {type: "value", name: p.unit, max: (v) => nice(Math.max(v.max, ...daily, 0) * 1.05),
                axisLabel: {formatter: fmt.axis}},
        series: [{name: `${p.name} · ${label.daily}`, type: "bar", data: p.daily, itemStyle: {color: BAR},
                  markLine: {symbol: "none", silent: true, data: limitLines(p, "d", label, fmt)},
                  markArea: {silent: true, label: {color: "#1b1f24", fontSize: 11},
                             data: gaps(data.days, p.daily_status, null, label)}}],
      });
    });
  };

  const live = (config, label, fmt) => {
    const status = document.getElementById("live-status");
    if (!window.EventSource || !status) return;
    const source = new EventSource("/compliance/live");
    source.addEventListener("values", (ev) => {
      const values = JSON.parse(ev.data);
      Object.entries(values).forEach(([key, v]) => {
        const row = document.querySelector(`tr[data-channel="${CSS.escape(key)}"]`);
        if (!row) return;
        const cell = (k) => row.querySelector(`[data-key="${k}"]`);
        cell("value").textContent = fmt(v.value, 2);
        cell("flag").textContent = `${v.flag} · ${label.flags[v.flag] || v.flag}`;
        cell("flag").dataset.flag = v.flag;
        cell("at").textContent = v.at;
        cell("age").textContent = v.age;
      });
      status.dataset.state = "live";
      status.textContent = `${label.live} ${new Date().toLocaleTimeString(label.lang)}`;
    });
    source.addEventListener("error", () => {
      status.dataset.state = "reconnecting";
      status.textContent = label.reconnecting;
    });
    window.addEventListener("pagehide", () => source.close());
  };

  document.addEventListener("DOMContentLoaded", () => {
    const config = read("compliance-config");
    const label = read("compliance-labels") || {lang: "en", flags: {}};
    if (!config) return;
    const fmt = (v, d = 1) => v === null || v === undefined ? "—"
      : Number(v).toLocaleString(label.lang, {minimumFractionDigits: d, maximumFractionDigits: d});
    fmt.axis = (v) => Number(v).toLocaleString(label.lang, {maximumFractionDigits: 2});
    config.outlets.forEach((code) => {
      const url = `/compliance/data?outlet=${encodeURIComponent(code)}&month=${encodeURIComponent(config.month)}`;
      fetch(url, {credentials: "same-origin"})
        .then((r) => r.ok ? r.json() : Promise.reject(new Error(String(r.status))))
        .then((data) => drawOutlet(data, label, fmt))
        .catch(() => document.querySelectorAll(`.hours-chart[data-outlet="${CSS.escape(code)}"]`)
          .forEach((el) => { el.textContent = label.error; el.dataset.state = "error"; }));
    });
    live(config, label, fmt);
  });
})();
