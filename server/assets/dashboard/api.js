// The public API with the session's token, and the live event stream. The token lives in
// sessionStorage: it dies with the tab and is never put in a URL.

const TOKEN_KEY = 'chorus.token';

/** Raised when the API refuses the session; the app signs out. */
export class SignedOut extends Error {}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function keepToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** GET (or another method) `path`; resolves to the JSON body, throws the API's message. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  const current = token();
  if (current) headers.Authorization = `Bearer ${current}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (response.status === 401 && current) {
    throw new SignedOut(json?.message || 'the session is no longer valid');
  }
  if (!response.ok) {
    const error = new Error(json?.message || `${response.status} ${response.statusText}`);
    error.status = response.status;
    error.code = json?.code;
    throw error;
  }
  return json;
}

/** A query string from the defined, non-empty entries of `params`. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/**
 * Reads `/api/v1/events` (server-sent events) with the token in the Authorization header,
 * which EventSource cannot send; reconnects with backoff. `onEvent(name, data)` gets each
 * event; a 401 calls `onSignedOut`. Returns a function that stops the stream.
 */
export function listen(onEvent, onState, onSignedOut) {
  let stopped = false;
  let controller = null;
  let delay = 1000;
  async function connect() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const response = await fetch('/api/v1/events', {
          headers: { Authorization: `Bearer ${token()}`, Accept: 'text/event-stream' },
          signal: controller.signal,
        });
        if (response.status === 401) { onSignedOut('the session is no longer valid'); return; }
        if (!response.ok || !response.body) throw new Error(`events: ${response.status}`);
        delay = 1000;
        await readEvents(response.body, (name, data) => {
          if (name === 'ready') onState(true);
          onEvent(name, data);
        });
      } catch (e) {
        if (stopped) return;
      }
      onState(false);
      if (stopped) return;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 30000);
    }
  }
  connect();
  return () => { stopped = true; controller?.abort(); };
}

/** Splits an event-stream body into events (the text/event-stream format). */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trim());
      }
      if (data.length === 0) continue;
      let parsed = null;
      try { parsed = JSON.parse(data.join('\n')); } catch { parsed = null; }
      onEvent(name, parsed);
    }
  }
}
