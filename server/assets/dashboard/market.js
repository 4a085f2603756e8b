// Market: one market's channel cells (never pooled across channels), monthly trends with
// interval bands and the comparison with the 12 months before, the topic driver view, and the
// latest redacted comments with filters and paging.

import { api, query } from './api.js';
import { dotsWithIntervals, trendLines } from './charts.js';
import { chartPanel, decimals, h, input, interval, num, pValue, select, table } from './dom.js';
import { MEASURES, STATISTIC, debounced, defaultPeriod, filters, frame } from './view.js';

/** The headline figure of a score cell of each measure, as `/compare` uses it. */
const HEADLINE = {
  nps: (c) => ({ value: c.nps, ci: c.ci95 }),
  csat: (c) => ({ value: c.share_4_5, ci: c.share_4_5_ci95 }),
  ces: (c) => ({ value: c.mean, ci: c.ci95 }),
  stars: (c) => ({ value: c.mean, ci: c.mean_ci95 }),
};

export async function renderMarket(main, context) {
  const { me } = context;
  if (me.markets.length === 0) {
    main.replaceChildren(h('p', {}, 'No market is in your scope.'));
    return {};
  }
  const f = filters(context.params, {
    market: me.markets[0].code,
    measure: 'nps',
    ...defaultPeriod(),
    topic: '', score_min: '', score_max: '', language: '', q: '',
    tables: '',
  });
  const channelNames = Object.fromEntries(me.channels.map((c) => [c.id, c.name]));
  const channelName = (id) => channelNames[id] || id;
  const set = (key) => (value) => context.navigate({ ...f, [key]: value });
  const toggle = (name) => (on) => {
    const shown = new Set(f.tables.split(',').filter(Boolean));
    if (on) shown.add(name); else shown.delete(name);
    context.navigate({ ...f, tables: [...shown].join(',') });
  };
  const showTable = (name) => f.tables.split(',').includes(name);
  const market = me.markets.find((m) => m.code === f.market);
  const content = frame(main, `Market: ${market ? market.name : f.market}`, [
    select('Market', 'market', me.markets.map((m) => [m.code, `${m.name} (${m.region_name})`]), f.market, set('market')),
    select('Measure', 'measure', MEASURES, f.measure, set('measure')),
    input('From', 'from', 'date', f.from, set('from')),
    input('To', 'to', 'date', f.to, set('to')),
  ]);
  const places = decimals(f.measure);

  async function load() {
    try {
      const period = { markets: f.market, from: f.from, to: f.to };
      const [cells, trends, topics] = await Promise.all([
        api(`/api/v1/${f.measure}${query({ ...period, group_by: 'market,channel' })}`),
        api(`/api/v1/trends${query({ markets: f.market, measure: f.measure, from: f.from.slice(0, 7), to: f.to.slice(0, 7) })}`),
        api(`/api/v1/topics${query(period)}`),
      ]);
      const comments = await commentsPanel(f, topics, set, channelName);
      content.replaceChildren(
        cellsPanel(cells, f.measure, places, channelName),
        trendPanel(trends, places, channelName, showTable('trends'), toggle('trends')),
        topicPanel(topics, channelName, showTable('topics'), toggle('topics')),
        comments,
      );
    } catch (error) {
      context.failed(error);
      content.replaceChildren(h('p', { class: 'error' }, error.message));
    }
  }
  await load();
  const reload = debounced(load);
  return { onRecords: (changed) => { if (changed.some((c) => c.market === f.market)) reload(); } };
}

function cellsPanel(answer, measure, places, channelName) {
  const cards = answer.cells.map((c) => {
    const { value, ci } = HEADLINE[measure](c);
    const state = c.suppressed ? 'withheld' : c.low_n ? 'low-n' : 'ok';
    return h('div', { class: `cell ${state === 'ok' ? '' : state}`, 'data-channel': c.channel, 'data-state': state },
      h('div', { class: 'name' }, channelName(c.channel)),
      c.suppressed
        ? h('div', { class: 'value' }, `withheld, n = ${c.n}`)
        : [h('div', { class: 'value' }, num(value, places)),
          h('div', {}, `95 %: ${interval(ci, places)}`),
          h('div', {}, `n = ${c.n}`, c.low_n ? h('span', { class: 'tag' }, `low n (< ${answer.n_min})`) : null)]);
  });
  return h('section', { class: 'panel', id: 'cells', 'aria-labelledby': 'cells-title' },
    h('h2', { id: 'cells-title' }, `${STATISTIC[measure]} per channel`),
    h('p', { class: 'note' }, 'Channels are shown side by side and never pooled: their respondents and questions differ. ',
      `Fewer than ${answer.privacy_floor} responses: withheld.`),
    cards.length ? h('div', { class: 'cells' }, cards) : h('p', {}, 'No responses in this period.'));
}

function trendPanel(answer, places, channelName, showTable, onToggle) {
  const months = answer.series[0]?.points.map((p) => p.month) || [];
  const series = answer.series.map((s) => ({
    name: channelName(s.channel),
    points: s.points.map((p) => ({
      month: p.month, value: p.value, low: p.ci95?.low, high: p.ci95?.high, n: p.n, vs_baseline: p.vs_baseline,
    })),
  }));
  const rows = answer.series.flatMap((s) => s.points.filter((p) => p.n > 0).map((p) => ({
    cells: [p.month, channelName(s.channel), p.suppressed ? `withheld, n = ${p.n}` : num(p.value, places),
      interval(p.ci95, places), String(p.n),
      p.vs_baseline ? `${p.vs_baseline.difference > 0 ? '+' : ''}${num(p.vs_baseline.difference, places)} (p ${pValue(p.vs_baseline.p_value)})${p.vs_baseline.significant ? ' significant' : ''}` : '–'],
  })));
  const tableNode = table('Each month, and the month against the 12 months before it',
    ['Month', 'Channel', 'Value', '95 % interval', 'n', 'vs 12 months before'], rows, [2, 3, 4]);
  return chartPanel('Monthly trend', 'trends',
    (el) => trendLines(el, { months, series, places, axisName: answer.statistic }),
    tableNode, showTable, onToggle, 'short');
}

function topicPanel(answer, channelName, showTable, onToggle) {
  const shown = answer.topics.filter((t) => t.mentions > 0);
  const categories = shown.map((t) => `${t.name} · ${channelName(t.channel)}`);
  const point = (side) => (side && side.nps !== null && side.ci95 ? { value: side.nps, low: side.ci95.low, high: side.ci95.high, n: side.n } : null);
  const rows = shown.map((t) => ({
    attrs: { 'data-topic': t.topic },
    cells: [t.name, channelName(t.channel), String(t.mentions), `${num(t.share, 1)} %`,
      t.nps_with.suppressed ? `withheld, n = ${t.nps_with.n}` : `${num(t.nps_with.nps, 1)} (${interval(t.nps_with.ci95, 1)})`,
      t.nps_without.suppressed ? `withheld, n = ${t.nps_without.n}` : `${num(t.nps_without.nps, 1)} (${interval(t.nps_without.ci95, 1)})`,
      t.difference ? `${num(t.difference.difference, 1)} (p ${pValue(t.difference.p_value)})${t.difference.significant ? ' significant' : ''}` : '–'],
  }));
  const tableNode = table('Commenters who mention the topic against those who do not (NPS)',
    ['Topic', 'Channel', 'Mentions', 'Share of comments', 'NPS with', 'NPS without', 'Difference'], rows, [2, 3]);
  const panel = chartPanel('Topics: NPS with and without', 'topics',
    (el) => {
      el.style.height = `${Math.max(260, 26 * categories.length + 60)}px`;
      dotsWithIntervals(el, {
        categories,
        series: [
          { name: 'NPS of those who mention it', points: shown.map((t) => point(t.nps_with)) },
          { name: 'NPS of those who do not', points: shown.map((t) => point(t.nps_without)) },
        ],
        places: 1,
        axisName: 'NPS',
      });
    },
    tableNode, showTable, onToggle);
  return panel;
}

async function commentsPanel(f, topics, set, channelName) {
  const topicNames = [...new Map(topics.topics.map((t) => [t.topic, t.name])).entries()];
  const list = h('ul', { class: 'comments', id: 'comments' });
  const more = h('button', { type: 'button', id: 'more-comments', hidden: true }, 'More comments');
  let cursor = null;
  async function page() {
    const answer = await api(`/api/v1/records${query({
      markets: f.market, from: f.from, to: f.to, topic: f.topic, measure: f.measure,
      score_min: f.score_min, score_max: f.score_max, languages: f.language, q: f.q,
      limit: 20, cursor,
    })}`);
    list.append(...answer.records.filter((r) => r.text).map((r) => comment(r, channelName)));
    cursor = answer.next_cursor || null;
    more.hidden = !cursor;
  }
  more.addEventListener('click', page);
  await page();
  if (!list.children.length) list.append(h('li', {}, 'No comments match.'));
  return h('section', { class: 'panel', 'aria-labelledby': 'comments-title' },
    h('h2', { id: 'comments-title' }, 'Latest comments (redacted)'),
    h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() },
      select('Topic', 'topic', [['', 'Any topic'], ...topicNames], f.topic, set('topic')),
      input(`Lowest ${f.measure}`, 'score_min', 'number', f.score_min, set('score_min'), { min: 0, max: 10 }),
      input(`Highest ${f.measure}`, 'score_max', 'number', f.score_max, set('score_max'), { min: 0, max: 10 }),
      input('Language', 'language', 'text', f.language, set('language'), { size: 4, maxlength: 2, placeholder: 'de' }),
      input('Text', 'q', 'search', f.q, set('q'), { placeholder: 'contains…' })),
    list, more);
}

function comment(r, channelName) {
  const scores = ['nps', 'csat', 'ces', 'stars'].filter((m) => r[m] !== null).map((m) => `${m.toUpperCase()} ${r[m]}`);
  return h('li', { 'data-external-id': r.external_id },
    h('div', {}, r.text),
    h('div', { class: 'meta' }, [r.occurred_at.slice(0, 10), channelName(r.channel), ...scores,
      r.language ? `language ${r.language}` : null, r.topics.length ? `topics: ${r.topics.join(', ')}` : null]
      .filter(Boolean).join(' · ')));
}
