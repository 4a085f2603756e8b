// Cases and alerts: the work the closed loop makes. Everyone who reads feedback sees the cases
// and alerts of their markets; those who work cases (market and regional leads, admins) move
// them on here: start, resolve with a code and a note, close, reopen.

import { api } from './api.js';
import { h, num, pValue, select, table } from './dom.js';
import { debounced, filters, frame } from './view.js';

const STATUSES = [
  ['active', 'Open, in progress or reopened'], ['open', 'Open'], ['in_progress', 'In progress'],
  ['resolved', 'Resolved'], ['closed', 'Closed'], ['reopened', 'Reopened'], ['', 'Any'],
];

/** The moves a status allows, as buttons say them (the server checks them again). */
const MOVES = {
  open: [['in_progress', 'Start'], ['resolved', 'Resolve…']],
  reopened: [['in_progress', 'Start'], ['resolved', 'Resolve…']],
  in_progress: [['resolved', 'Resolve…']],
  resolved: [['closed', 'Close'], ['reopened', 'Reopen']],
  closed: [['reopened', 'Reopen']],
};

function day(text) {
  return text ? text.replace('T', ' ').slice(0, 16) : '–';
}

function scores(record) {
  if (!record) return 'record erased';
  return ['nps', 'csat', 'ces', 'stars']
    .filter((m) => record[m] !== null && record[m] !== undefined)
    .map((m) => `${m.toUpperCase()} ${record[m]}`).join(', ') || '–';
}

export async function renderCases(main, context) {
  const f = filters(context.params, { status: 'active', mine: '' });
  const canWork = context.me.can.work_cases;
  const controls = [
    select('Status', 'status', STATUSES, f.status, (status) => context.navigate({ ...f, status })),
    select('Assigned to', 'mine', [['', 'Anyone'], ['yes', 'Me']], f.mine,
      (mine) => context.navigate({ ...f, mine })),
  ];
  const content = frame(main, 'Cases and alerts', controls);
  const resolver = h('section', { class: 'panel', id: 'resolve', hidden: true });
  const detail = h('section', { class: 'panel', id: 'case-detail', hidden: true });
  // Pages already shown: `before` of each further page (ids descend).
  let before = null;

  async function showHistory(id) {
    try {
      const c = await api(`/api/v1/cases/${id}`);
      const rows = (c.history || []).map((e) => ({
        cells: [day(e.at), e.actor, e.kind, [e.from_status, e.to_status].filter(Boolean).join(' → ').replace(/_/g, ' '),
          e.assignee || '', e.note || ''],
      }));
      const contact = c.contact ? Object.entries(c.contact).map(([k, v]) => `${k}: ${v}`).join(', ') : c.contact_note;
      detail.replaceChildren(
        h('h2', {}, `Case ${c.id}: ${c.rule}, ${c.market}, ${c.channel}`),
        h('p', { class: 'note' }, `Contact: ${contact || '–'}. Escalates to: ${c.escalation.join(' → ') || 'nobody'}.`),
        table('What happened (UTC)', ['When', 'Who', 'What', 'Status', 'Assignee', 'Note'], rows));
      detail.hidden = false;
      detail.scrollIntoView();
    } catch (error) {
      context.failed(error);
    }
  }

  async function move(id, status, extra = {}) {
    try {
      await api(`/api/v1/cases/${id}`, { method: 'PATCH', body: { status, ...extra } });
      context.say(`Case ${id} is now ${status.replace('_', ' ')}.`, 'info');
      resolver.hidden = true;
      load();
    } catch (error) {
      context.failed(error);
    }
  }

  function askResolution(id) {
    const code = h('input', { name: 'resolution_code', required: true, maxlength: 64, placeholder: 'e.g. refund' });
    const note = h('textarea', { name: 'note', required: true, maxlength: 4000, rows: 3 });
    resolver.replaceChildren(h('form', {
      class: 'filters', id: 'resolve-form',
      onsubmit: (e) => { e.preventDefault(); move(id, 'resolved', { resolution_code: code.value, note: note.value }); },
    },
    h('h2', {}, `Resolve case ${id}`),
    h('label', {}, 'Resolution code', code),
    h('label', {}, 'What was done', note),
    h('button', { type: 'submit', class: 'primary' }, 'Resolve')));
    resolver.hidden = false;
    code.focus();
  }

  function actions(c) {
    if (!canWork) return '';
    return h('span', { class: 'actions' }, (MOVES[c.status] || []).map(([status, label]) => h('button', {
      type: 'button', 'data-case': String(c.id), 'data-move': status,
      onclick: () => (status === 'resolved' ? askResolution(c.id) : move(c.id, status)),
    }, label)));
  }

  async function load() {
    try {
      const query = new URLSearchParams({ limit: '100' });
      if (before) query.set('before', String(before));
      if (f.status) query.set('status', f.status);
      if (f.mine) query.set('assignee', context.me.sub);
      const [cases, summary, alerts] = await Promise.all([
        api(`/api/v1/cases?${query}`),
        api('/api/v1/cases/summary'),
        api('/api/v1/alerts?limit=20'),
      ]);
      const caseRows = cases.cases.map((c) => ({
        attrs: { 'data-case-row': String(c.id), class: c.overdue ? 'overdue' : undefined },
        cells: [h('button', { type: 'button', class: 'link', 'data-history': String(c.id), title: 'Show what happened', onclick: () => showHistory(c.id) }, String(c.id)),
          c.market, c.channel, c.status.replace('_', ' '), c.assignee,
          c.overdue ? `${day(c.due_at)} (overdue)` : day(c.due_at),
          scores(c.record), c.record?.text || '', c.contact_consent ? 'may be contacted' : (c.contact_note || ''),
          actions(c)],
      }));
      const summaryRows = summary.markets.map((m) => ({
        cells: [m.market, String(m.open), String(m.overdue), String(m.resolved),
          num(m.median_hours_to_first_response, 1), num(m.median_hours_to_resolve, 1)],
      }));
      const alertRows = alerts.alerts.map((a) => ({
        attrs: { 'data-alert': String(a.id) },
        cells: [a.market, a.channel, `${a.subject}${a.kind === 'topic' ? ' (share of comments)' : ''}`,
          a.period_label, a.direction, num(a.baseline_value, 1), num(a.value, 1), `${a.n} / ${a.baseline_n}`,
          pValue(a.p_adjusted)],
      }));
      content.replaceChildren(
        h('section', { class: 'panel', id: 'alerts' }, alertRows.length
          ? table('Significant changes: the last complete week or month against the market\'s own baseline (Holm-adjusted p)',
            ['Market', 'Channel', 'What', 'Period', 'Change', 'Baseline', 'Period value', 'n / baseline n', 'p (adjusted)'],
            alertRows, [5, 6, 7, 8])
          : h('p', { class: 'note' }, 'No significant changes in your markets.')),
        h('section', { class: 'panel', id: 'case-summary' }, table('Cases per market',
          ['Market', 'Active', 'Overdue', 'Resolved', 'Median hours to first response', 'Median hours to resolve'],
          summaryRows, [1, 2, 3, 4, 5])),
        resolver,
        detail,
        h('section', { class: 'panel', id: 'cases' }, caseRows.length
          ? table(`${caseRows.length} case${caseRows.length === 1 ? '' : 's'}${before ? ` older than case ${before}` : ''}, newest first`,
            ['Case', 'Market', 'Channel', 'Status', 'Assignee', 'Due (UTC)', 'Scores', 'Comment (redacted)', 'Contact', ''],
            caseRows, [0])
          : h('p', { class: 'note' }, 'No cases match.'),
        h('p', {},
          before ? h('button', { type: 'button', id: 'newest-cases', onclick: () => { before = null; load(); } }, 'Newest cases') : null,
          cases.next_before ? h('button', { type: 'button', id: 'older-cases', onclick: () => { before = cases.next_before; load(); } }, 'Older cases') : null)),
      );
    } catch (error) {
      context.failed(error);
      content.replaceChildren(h('p', { class: 'error' }, error.message));
    }
  }
  await load();
  return { onRecords: debounced(load, 1000) };
}
