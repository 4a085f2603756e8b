// Connectors (admins, integrators, HQ read-only): instances, their last run, counts,
// rejections, and "run now" for those who may run them.

import { api } from './api.js';
import { h, table } from './dom.js';
import { debounced, frame } from './view.js';

export async function renderConnectors(main, context) {
  const content = frame(main, 'Connectors', []);
  const canRun = context.me.can.run_connectors;
  const rejections = h('section', { class: 'panel', id: 'rejections', hidden: true });

  async function showRejections(instance, runId) {
    try {
      const answer = await api(`/api/v1/connectors/${encodeURIComponent(instance)}/runs/${runId}/rejections`);
      rejections.replaceChildren(table(`Rows that run ${runId} of ${instance} rejected`, ['Where', 'Why'],
        answer.rejections.map((r) => ({ cells: [r.location, r.reason] }))));
      rejections.hidden = false;
      rejections.scrollIntoView();
    } catch (error) {
      context.failed(error);
    }
  }

  async function load() {
    try {
      const answer = await api('/api/v1/connectors');
      const rows = answer.connectors.map((c) => {
        const run = c.last_run;
        const action = canRun && c.plugin !== 'push'
          ? h('button', {
            type: 'button', 'data-run': c.id, disabled: c.running,
            onclick: async (e) => {
              e.target.disabled = true;
              try { await api(`/api/v1/connectors/${encodeURIComponent(c.id)}/run`, { method: 'POST' }); } catch (error) { context.failed(error); }
              load();
            },
          }, 'Run now')
          : null;
        return {
          attrs: { 'data-instance': c.id },
          cells: [c.id, c.plugin, c.market || c.markets.join(', ') || '–', c.channel || '–',
            c.running ? 'running' : (run ? run.status : 'never run'),
            run ? (run.finished_at || run.started_at).replace('T', ' ').slice(0, 19) : '–',
            run ? String(run.records_read) : '–', run ? String(run.inserted) : '–',
            run ? String(run.duplicates) : '–',
            run && run.rejected > 0 ? h('button', {
              type: 'button', 'data-rejections': c.id, title: 'Show the rejected rows',
              onclick: () => showRejections(c.id, run.id),
            }, String(run.rejected)) : (run ? '0' : '–'),
            run?.error || '', action],
        };
      });
      content.replaceChildren(h('section', { class: 'panel' }, table('Instances and their latest run',
        ['Instance', 'Plugin', 'Market', 'Channel', 'Status', 'Last run (UTC)', 'Read', 'Stored', 'Duplicates', 'Rejected', 'Error', ''],
        rows, [6, 7, 8, 9])), rejections);
    } catch (error) {
      context.failed(error);
      content.replaceChildren(h('p', { class: 'error' }, error.message));
    }
  }
  await load();
  return { onRun: debounced(load) };
}
