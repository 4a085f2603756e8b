// Compare: markets ranked by their standardised figure (one reference channel mix for all),
// with 95 % intervals, n, the markets that have no value and why, and the tests against a
// chosen market and against each market's baseline.

import { api, query } from './api.js';
import { dotsWithIntervals } from './charts.js';
import { chartPanel, decimals, h, input, interval, num, pValue, select, table } from './dom.js';
import { MEASURES, STATISTIC, debounced, defaultPeriod, filters, frame } from './view.js';

export async function renderCompare(main, context) {
  const { me } = context;
  const programmes = [...new Set(me.channels.map((c) => c.programme))];
  const f = filters(context.params, {
    programme: programmes.includes('transactional') ? 'transactional' : programmes[0] || '',
    measure: 'nps',
    ...defaultPeriod(),
    baseline: 'previous_period',
    against: '',
    table: '',
  });
  const set = (key) => (value) => context.navigate({ ...f, [key]: value });
  const channelNames = Object.fromEntries(me.channels.map((c) => [c.id, c.name]));
  const content = frame(main, 'Compare markets', [
    select('Programme', 'programme', programmes.map((p) => [p, p]), f.programme, set('programme')),
    select('Measure', 'measure', MEASURES, f.measure, set('measure')),
    input('From', 'from', 'date', f.from, set('from')),
    input('To', 'to', 'date', f.to, set('to')),
    select('Baseline', 'baseline', [['previous_period', 'Previous period'], ['trailing_12m', 'Trailing 12 months']], f.baseline, set('baseline')),
    select('Test against', 'against', [['', 'No market'], ...me.markets.map((m) => [m.code, m.name])], f.against, set('against')),
  ]);

  async function load() {
    try {
      const answer = await api(`/api/v1/compare${query({
        programme: f.programme, measure: f.measure, from: f.from, to: f.to,
        baseline: f.baseline, against: f.against,
      })}`);
      content.replaceChildren(...draw(answer, f, channelNames, (on) => context.navigate({ ...f, table: on ? '1' : '' })));
    } catch (error) {
      context.failed(error);
      content.replaceChildren(h('p', { class: 'error' }, error.message));
    }
  }
  await load();
  return { onRecords: debounced(load) };
}

/** Significant tests of a market, for its chart label. */
function marks(m) {
  return [
    m.vs_market?.significant ? `${m.vs_market.difference > 0 ? '▲' : '▼'} vs ${m.vs_market.market}` : null,
    m.vs_baseline?.significant ? `${m.vs_baseline.difference > 0 ? '▲' : '▼'} vs baseline` : null,
  ].filter(Boolean).join('  ');
}

function draw(answer, f, channelNames, onToggle) {
  const places = decimals(f.measure);
  const ranked = answer.markets.filter((m) => m.value !== null).sort((a, b) => a.rank - b.rank);
  const unranked = answer.markets.filter((m) => m.value === null);
  const mix = Object.entries(answer.reference_mix.weights)
    .map(([channel, weight]) => `${channelNames[channel] || channel} ${(weight * 100).toFixed(1)} %`).join(', ');
  const label = (m) => `${m.name || m.market}`;
  const test = (t) => (t ? h('span', { class: t.significant ? 'sig' : undefined },
    `${t.difference > 0 ? '+' : ''}${num(t.difference, places)} (p ${pValue(t.p_adjusted ?? t.p_value)})${t.significant ? ' significant' : ''}`) : '–');
  const rows = ranked.map((m) => ({
    attrs: { 'data-market': m.market },
    cells: [String(m.rank), label(m), num(m.value, places), interval(m.ci95, places), String(m.n),
      test(m.vs_market), test(m.vs_baseline)],
  }));
  const tableNode = table(
    `${STATISTIC[answer.measure]}, standardised; ${answer.period.from} to ${answer.period.to}`,
    ['Rank', 'Market', 'Value', '95 % interval', 'n', answer.against ? `vs ${answer.against}` : 'vs market', 'vs baseline'],
    rows, [0, 2, 3, 4]);
  const chart = (el) => dotsWithIntervals(el, {
    categories: ranked.map(label),
    series: [{ name: STATISTIC[answer.measure], points: ranked.map((m) => ({ value: m.value, low: m.ci95.low, high: m.ci95.high, n: m.n, mark: marks(m) })) }],
    places,
    axisName: STATISTIC[answer.measure],
  });
  const parts = [
    h('p', { class: 'note', id: 'reference-mix' },
      `Every market is standardised over one reference channel mix (${answer.reference_mix.source}): ${mix || 'none'}. `,
      `Cells under ${answer.n_min} responses are marked low n; under ${answer.privacy_floor} they are withheld.`),
    chartPanel(`Markets ranked (${answer.programme})`, 'ranking', chart, tableNode, f.table === '1', onToggle),
  ];
  if (answer.against) {
    parts.push(h('p', { class: 'note' }, `Each market is tested against ${answer.against}.`));
  }
  const untested = ranked.filter((m) => !m.vs_baseline);
  if (untested.length === ranked.length && ranked.length > 0) {
    // Say so instead of promising tests that did not happen.
    parts.push(h('p', { class: 'note', id: 'baseline-note' },
      `No market could be tested against its baseline, ${answer.baseline.from} to ${answer.baseline.to}: `,
      `${untested[0].vs_baseline_reason || 'no value in the baseline period'}. Choose another baseline above.`));
  } else {
    parts.push(h('p', { class: 'note', id: 'baseline-note' }, `Each market is also tested against its baseline, ${answer.baseline.from} to ${answer.baseline.to}`,
      untested.length > 0 ? ` (not ${untested.map(label).join(', ')}: no value there). ` : '. ',
      '▲/▼ and "significant" mark differences with p < 0.05', answer.adjust === 'holm' ? ' after Holm\'s correction.' : '.'));
  }
  if (unranked.length > 0) {
    parts.push(h('section', { class: 'panel', id: 'unranked' },
      h('h2', {}, 'Markets without a value'),
      h('ul', {}, unranked.map((m) => h('li', { 'data-market': m.market },
        h('strong', {}, label(m)), ` (n = ${m.n}): ${m.reason || m.status}`)))));
  }
  if (answer.markets.length === 0) {
    parts.push(h('p', {}, 'No market in your scope has responses in this period.'));
  }
  return parts;
}
