// What every view shares: default period, measure names, table toggles kept in the URL, and a
// debounced reload for live updates.

import { h } from './dom.js';

export const MEASURES = [
  ['nps', 'NPS'], ['csat', 'CSAT'], ['ces', 'CES'], ['stars', 'Stars'],
];

/** What the compared figure of a measure is, in words. */
export const STATISTIC = {
  nps: 'NPS (−100 to 100)',
  csat: 'CSAT: % answering 4-5',
  ces: 'CES: mean (1-7)',
  stars: 'Stars: mean (1-5)',
};

/** `YYYY-MM-DD` of a date. */
export function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

/** The default period: the last twelve months, to today. */
export function defaultPeriod() {
  const today = new Date();
  const from = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 11, 1));
  return { from: isoDay(from), to: isoDay(today) };
}

/** The view's filters from the URL, with defaults. */
export function filters(params, defaults) {
  const out = { ...defaults };
  for (const key of Object.keys(defaults)) {
    const value = params.get(key);
    if (value !== null) out[key] = value;
  }
  return out;
}

/** Calls `load` at most once per `ms` however many changes arrive. */
export function debounced(load, ms = 300) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(load, ms);
  };
}

/** A heading and a place for the view's content, with a loading line. */
export function frame(main, title, controls) {
  const content = h('div', { id: 'content', 'aria-live': 'polite' }, h('p', { class: 'loading' }, 'Loading…'));
  main.replaceChildren(h('h1', {}, title), h('form', {
    class: 'filters', id: 'filters', onsubmit: (e) => e.preventDefault(),
  }, controls), content);
  return content;
}
