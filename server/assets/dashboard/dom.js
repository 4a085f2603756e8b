// Small DOM and formatting helpers. Text always goes in as text nodes, never as HTML, so
// nothing from the API (comments, names) can inject markup.

/** An element with attributes (`on*` become listeners) and children (strings become text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Decimals shown per measure: NPS and shares in points, means to two places. */
export function decimals(measure) {
  return measure === 'ces' || measure === 'stars' ? 2 : 1;
}

/** A number for people, or an en dash when there is none. */
export function num(value, places = 1) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(places) : '–';
}

/** `[low, high]` of an interval, or an en dash. */
export function interval(ci, places = 1) {
  return ci ? `${num(ci.low, places)} to ${num(ci.high, places)}` : '–';
}

/** A p-value as people read it. */
export function pValue(p) {
  if (typeof p !== 'number') return '–';
  return p < 0.001 ? '< 0.001' : p.toFixed(3);
}

/** A labelled select whose options are `[value, text]` pairs. */
export function select(label, name, options, current, onChange) {
  const el = h('select', { name, onchange: (e) => onChange(e.target.value) },
    options.map(([value, text]) => h('option', { value, selected: value === current }, text)));
  return h('label', {}, label, el);
}

/** A labelled input. */
export function input(label, name, type, value, onChange, extra = {}) {
  const el = h('input', { name, type, value: value ?? '', onchange: (e) => onChange(e.target.value), ...extra });
  return h('label', {}, label, el);
}

/** A table from header names and rows of cells (strings or nodes); `num` columns align right. */
export function table(caption, headers, rows, numeric = []) {
  return h('table', {},
    h('caption', { class: 'note' }, caption),
    h('thead', {}, h('tr', {}, headers.map((name, i) =>
      h('th', { scope: 'col', class: numeric.includes(i) ? 'num' : undefined }, name)))),
    h('tbody', {}, rows.map((row) => h('tr', row.attrs || {}, row.cells.map((cell, i) =>
      h('td', { class: numeric.includes(i) ? 'num' : undefined }, cell))))));
}

/** A panel with a title, a chart/table toggle and both views of the same numbers. */
export function chartPanel(title, id, drawChart, tableNode, showTable, onToggle, height = '') {
  const chart = h('div', { class: `chart ${height}`, id: `${id}-chart`, role: 'img', 'aria-label': `${title}: chart; the table toggle shows the same numbers as text`, hidden: showTable });
  const tableBox = h('div', { id: `${id}-table`, hidden: !showTable }, tableNode);
  const toggle = h('button', {
    type: 'button', 'aria-pressed': String(showTable), class: 'toggle', id: `${id}-toggle`,
    onclick: () => onToggle(!showTable),
  }, showTable ? 'Show chart' : 'Show table');
  const panel = h('section', { class: 'panel', 'aria-labelledby': `${id}-title` },
    h('div', { class: 'panel-head' }, h('h2', { id: `${id}-title` }, title), toggle),
    chart, tableBox);
  // Drawn once the panel is in the page, so the chart knows its width.
  if (!showTable) queueMicrotask(() => drawChart(chart));
  return panel;
}
