// Chart drawing with Apache ECharts (vendor/echarts.min.js, loaded before the modules).
// Every chart here has a table with the same numbers next to it (the panel's toggle).

/** Okabe-Ito: distinguishable with every common colour-vision deficiency. */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#000000'];
const SYMBOLS = ['circle', 'diamond', 'triangle', 'rect', 'roundRect', 'pin'];

const charts = new Set();

/** Text made safe for the HTML of a tooltip: names come from configuration and taxonomy. */
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
window.addEventListener('resize', () => charts.forEach((c) => c.resize()));

/** Disposes every chart (before a view is drawn anew). */
export function disposeCharts() {
  charts.forEach((c) => c.dispose());
  charts.clear();
}

function init(el) {
  const chart = window.echarts.init(el, null, { renderer: 'canvas' });
  charts.add(chart);
  return chart;
}

/**
 * Points with 95 % interval whiskers per category (ranked top to bottom), one series per
 * group: `series = [{ name, points: [{ value, low, high, n }] }]`, points aligned with
 * `categories` (null: nothing drawn). A lone series is labelled with value, n and the point's
 * `mark` (e.g. a significant test).
 */
export function dotsWithIntervals(el, { categories, series, places, axisName }) {
  const chart = init(el);
  const offsets = series.map((_, i) => (series.length === 1 ? 0 : (i - (series.length - 1) / 2) * 0.28));
  const values = series.flatMap((s) => s.points.filter(Boolean).flatMap((p) => [p.low, p.high]));
  const option = {
    aria: { enabled: true },
    animation: false,
    grid: { left: 8, right: series.length === 1 ? 110 : 20, top: series.length > 1 ? 30 : 10, bottom: 34, containLabel: true },
    legend: series.length > 1 ? { top: 0, data: series.map((s) => s.name) } : undefined,
    tooltip: {
      trigger: 'item',
      formatter: (p) => {
        const point = series[p.seriesIndex]?.points[p.dataIndex];
        if (!point) return '';
        return `${escapeHtml(categories[p.dataIndex])} · ${escapeHtml(series[p.seriesIndex].name)}<br>`
          + `${point.value.toFixed(places)} (95 % ${point.low.toFixed(places)} to ${point.high.toFixed(places)}), n = ${point.n}`;
      },
    },
    xAxis: { type: 'value', name: axisName, nameLocation: 'middle', nameGap: 24, ...niceRange(values) },
    yAxis: { type: 'category', data: categories, inverse: true, axisTick: { show: false } },
    series: series.map((s, i) => {
      const color = s.color || PALETTE[i % PALETTE.length];
      const offset = offsets[i];
      return {
        type: 'custom',
        name: s.name,
        itemStyle: { color },
        renderItem: (params, api) => {
          const point = s.points[params.dataIndex];
          if (!point) return null;
          const band = api.size([0, 1])[1];
          const y = api.coord([0, params.dataIndex])[1] + offset * band;
          const left = api.coord([point.low, params.dataIndex])[0];
          const right = api.coord([point.high, params.dataIndex])[0];
          const x = api.coord([point.value, params.dataIndex])[0];
          const line = { stroke: color, lineWidth: 2 };
          const children = [
            { type: 'line', shape: { x1: left, y1: y, x2: right, y2: y }, style: line },
            { type: 'line', shape: { x1: left, y1: y - 5, x2: left, y2: y + 5 }, style: line },
            { type: 'line', shape: { x1: right, y1: y - 5, x2: right, y2: y + 5 }, style: line },
            i % 2 === 0
              ? { type: 'circle', shape: { cx: x, cy: y, r: 6 }, style: { fill: color } }
              : { type: 'rect', shape: { x: x - 5, y: y - 5, width: 10, height: 10 }, style: { fill: color } },
          ];
          if (series.length === 1) {
            children.push({
              type: 'text', x: right + 8, y,
              style: { text: `${point.value.toFixed(places)}  n=${point.n}${point.mark ? `  ${point.mark}` : ''}`, verticalAlign: 'middle', fill: '#333', font: '12px sans-serif' },
            });
          }
          return { type: 'group', children };
        },
        data: s.points.map((p, index) => [p ? p.value : null, index]),
        encode: { x: 0, y: 1 },
      };
    }),
  };
  chart.setOption(option);
  return chart;
}

/** Axis bounds that hold every whisker, on round numbers. */
function niceRange(values) {
  if (values.length === 0) return {};
  const low = Math.min(...values);
  const high = Math.max(...values);
  const span = high - low;
  const step = span > 20 ? 10 : span > 2 ? 1 : 0.1;
  return { min: Math.floor(low / step) * step, max: Math.ceil(high / step) * step };
}

/**
 * Monthly lines with their 95 % interval as a band: `series = [{ name, points: [{ month,
 * value, low, high, n }] }]` over the same `months`. Missing months leave gaps.
 */
export function trendLines(el, { months, series, places, axisName }) {
  const chart = init(el);
  const option = {
    aria: { enabled: true },
    animation: false,
    legend: { top: 0 },
    grid: { left: 8, right: 36, top: 30, bottom: 24, containLabel: true },
    tooltip: {
      trigger: 'axis',
      formatter: (items) => items
        .filter((i) => i.seriesType === 'line' && !i.seriesName.startsWith('band'))
        .map((i) => {
          const point = series[i.seriesIndex / 3]?.points[i.dataIndex];
          const name = escapeHtml(i.seriesName);
          if (!point || point.value === null) return `${name}: –`;
          const change = point.vs_baseline
            ? `; ${point.vs_baseline.difference > 0 ? '+' : ''}${point.vs_baseline.difference.toFixed(places)} vs the 12 months before${point.vs_baseline.significant ? ' (significant)' : ''}`
            : '';
          return `${name}: ${point.value.toFixed(places)} (${point.low.toFixed(places)} to ${point.high.toFixed(places)}), n = ${point.n}${change}`;
        })
        .join('<br>'),
    },
    xAxis: { type: 'category', data: months, boundaryGap: false },
    yAxis: { type: 'value', name: axisName, scale: true },
    series: series.flatMap((s, i) => {
      const color = PALETTE[i % PALETTE.length];
      const lows = s.points.map((p) => (p.value === null ? null : p.low));
      const widths = s.points.map((p) => (p.value === null ? null : p.high - p.low));
      return [
        { type: 'line', name: s.name, color, symbol: SYMBOLS[i % SYMBOLS.length], symbolSize: 7,
          data: s.points.map((p) => p.value), connectNulls: false, z: 3 },
        // 'all': the band's low may be negative; stack it as it is, not by sign.
        { type: 'line', name: `band-low ${s.name}`, data: lows, stack: `band${i}`, stackStrategy: 'all', symbol: 'none',
          lineStyle: { opacity: 0 }, silent: true, tooltip: { show: false } },
        { type: 'line', name: `band ${s.name}`, data: widths, stack: `band${i}`, stackStrategy: 'all', symbol: 'none',
          lineStyle: { opacity: 0 }, areaStyle: { color, opacity: 0.15 }, silent: true, tooltip: { show: false } },
      ];
    }),
  };
  option.legend.data = series.map((s) => s.name);
  chart.setOption(option);
  return chart;
}
