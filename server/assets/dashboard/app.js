// Chorus dashboard: sign-in, navigation, live updates. Every number comes from the public API
// with the signed-in user's token, so the server's scope rules decide what is shown.

import { api, forgetToken, keepToken, listen, SignedOut, token } from './api.js';
import { disposeCharts } from './charts.js';
import { h } from './dom.js';
import { renderSignIn } from './signin.js';
import { renderCompare } from './compare.js';
import { renderMarket } from './market.js';
import { renderConnectors } from './connectors.js';
import { renderCases } from './cases.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const live = document.getElementById('live');
const notice = document.getElementById('notice');
const who = document.getElementById('who');
const signOutButton = document.getElementById('signout');

let me = null;
let view = null;
let stopEvents = null;
let expiryTimer = null;

const VIEWS = {
  compare: { title: 'Compare', render: renderCompare, allowed: (m) => m.can.read_feedback },
  market: { title: 'Market', render: renderMarket, allowed: (m) => m.can.read_feedback },
  cases: { title: 'Cases', render: renderCases, allowed: (m) => m.can.read_feedback },
  connectors: { title: 'Connectors', render: renderConnectors, allowed: (m) => m.can.see_connectors },
};

/** The view name and its filters from the URL's hash (`#/market?market=DE&measure=nps`). */
function location() {
  const hash = window.location.hash.replace(/^#\/?/, '');
  const [name, search = ''] = hash.split('?');
  return { name, params: new URLSearchParams(search) };
}

/** Puts a view's filters in the URL (so the link can be shared) and draws it. */
function navigate(name, params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, value);
  }
  const text = search.toString();
  const target = `#/${name}${text ? `?${text}` : ''}`;
  if (window.location.hash === target) draw();
  else window.location.hash = target;
}

function say(message, kind = 'error') {
  if (!message) { notice.hidden = true; return; }
  notice.className = `notice ${kind}`;
  notice.textContent = message;
  notice.hidden = false;
}

function signOut(message) {
  forgetToken();
  me = null;
  stopEvents?.();
  stopEvents = null;
  clearTimeout(expiryTimer);
  disposeCharts();
  nav.replaceChildren();
  who.textContent = '';
  live.textContent = '';
  live.classList.remove('on');
  signOutButton.hidden = true;
  say(null);
  renderSignIn(main, {
    message,
    onToken: (value) => { keepToken(value); start(); },
  });
}

/** Any failure of a view: a refused session signs out, anything else is shown. */
function failed(error) {
  if (error instanceof SignedOut) {
    signOut(`Signed out: ${error.message}. Sign in again.`);
  } else {
    say(error.message);
  }
}

function drawNav(current) {
  nav.replaceChildren(...Object.entries(VIEWS)
    .filter(([, v]) => v.allowed(me))
    .map(([name, v]) => h('a', { href: `#/${name}`, 'aria-current': name === current ? 'page' : undefined }, v.title)));
}

function defaultView() {
  return Object.keys(VIEWS).find((name) => VIEWS[name].allowed(me));
}

async function draw() {
  if (!me) return;
  let { name, params } = location();
  if (!VIEWS[name] || !VIEWS[name].allowed(me)) {
    name = defaultView();
    if (!name) { main.replaceChildren(h('p', {}, 'Your role has no view here.')); return; }
    params = new URLSearchParams();
  }
  drawNav(name);
  disposeCharts();
  say(null);
  view = null;
  const context = {
    me,
    params,
    navigate: (next) => navigate(name, next),
    open: navigate,
    say,
    failed,
  };
  try {
    view = await VIEWS[name].render(main, context);
  } catch (error) {
    failed(error);
  }
}

/** Events: refresh what changed, sign out when the token expires. */
function onEvent(name, data) {
  if (name === 'expired') {
    signOut('Your session has expired. Sign in again.');
  } else if (name === 'resync') {
    draw();
  } else if (name === 'records' && view?.onRecords) {
    view.onRecords(data.cells);
  } else if (name === 'run' && view?.onRun) {
    view.onRun(data);
  }
}

async function start() {
  try {
    me = await api('/api/v1/me');
  } catch (error) {
    signOut(error instanceof SignedOut ? `Signed out: ${error.message}. Sign in again.` : error.message);
    return;
  }
  who.textContent = `${me.sub} · ${me.role.replace('_', ' ')}`;
  signOutButton.hidden = false;
  clearTimeout(expiryTimer);
  const remaining = me.expires_at * 1000 - Date.now();
  expiryTimer = setTimeout(() => signOut('Your session has expired. Sign in again.'),
    Math.max(0, Math.min(remaining, 2 ** 31 - 1)));
  stopEvents?.();
  stopEvents = listen(onEvent, (on) => {
    live.textContent = on ? 'live' : 'reconnecting…';
    live.classList.toggle('on', on);
    live.dataset.state = on ? 'live' : 'off';
  }, (reason) => signOut(`Signed out: ${reason}. Sign in again.`));
  draw();
}

/** A one-time code in the URL (the link `chorus serve` prints) becomes the session token. */
async function redeemCode() {
  const url = new URL(window.location.href);
  const code = url.searchParams.get('code');
  if (!code) return null;
  url.searchParams.delete('code');
  window.history.replaceState(null, '', url.pathname + url.search + url.hash);
  try {
    const answer = await api('/api/v1/session', { method: 'POST', body: { code } });
    keepToken(answer.token);
    return null;
  } catch (error) {
    return `This sign-in link did not work: ${error.message}.`;
  }
}

signOutButton.addEventListener('click', () => signOut('You signed out.'));
window.addEventListener('hashchange', draw);

(async () => {
  const problem = await redeemCode();
  if (problem || !token()) signOut(problem);
  else start();
})();
