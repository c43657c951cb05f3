// Latency of a full authorization-code login, the same steps against govgate and against
// node oidc-provider, N sequential logins, each with a fresh cookie jar (a new browser):
//   GET authorize (PKCE S256, state, nonce) → redirects → login form → POST credentials
//   → redirects (a consent form, if one appears, is approved) → code at the redirect URI
//   → POST token endpoint (HTTP Basic) → 200 with id_token and access_token.
// Plain fetch (keep-alive), redirects followed by hand; the form is read from the page
// (its action, its hidden fields; the user field is `username` or `login`).
//
//   ISSUER=http://127.0.0.1:PORT CLIENT_ID=bench-rp CLIENT_SECRET=… REDIRECT_URI=… \
//   LOGIN_USERNAME=nvan LOGIN_PASSWORD=… [N=200] [WARMUP=10] [SCOPE="openid profile"] node login-driver.mjs
//
// Prints one JSON line: {"n":…,"p50_ms":…,"p90_ms":…,"p99_ms":…,"mean_ms":…,"max_ms":…,"forms_per_login":…}; exits 1
// with the reason if any login fails.
import { createHash, randomBytes } from 'node:crypto';

const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
};
const issuer = need('ISSUER');
const clientId = need('CLIENT_ID');
const clientSecret = need('CLIENT_SECRET');
const redirectUri = need('REDIRECT_URI');
const username = need('LOGIN_USERNAME');
const password = need('LOGIN_PASSWORD');
const n = Number(process.env.N || 200);
const warmup = Number(process.env.WARMUP || 10);
const scope = process.env.SCOPE || 'openid profile';

const b64url = (buffer) => buffer.toString('base64url');

class Browser {
  constructor() {
    this.cookies = new Map();
  }

  async request(url, form) {
    const headers = { accept: 'text/html' };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const response = await fetch(url, { method: form ? 'POST' : 'GET', headers, body, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const gone = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a))
        || attributes.some((a) => /^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now());
      if (gone) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1).trim());
    }
    const text = await response.text();
    const location = response.headers.get('location');
    return { status: response.status, location: location && new URL(location, url), body: text, url: new URL(url) };
  }

  /** Follows redirects from `url` (GET) until the redirect URI or a non-redirect page. */
  async follow(first) {
    let response = first;
    for (let hop = 0; hop < 12; hop += 1) {
      if (!(response.status >= 300 && response.status < 400)) return { page: response };
      if (response.location.href.startsWith(redirectUri)) return { arrived: response.location };
      response = await this.request(response.location);
    }
    throw new Error('too many redirects');
  }
}

const decode = (text) => text.replace(/&quot;/g, '"').replace(/&#x27;|&#39;/g, "'").replace(/&lt;/g, '<')
  .replace(/&gt;/g, '>').replace(/&#x2F;/g, '/').replace(/&amp;/g, '&');

/** The first form of the page: its action and fields (hidden values, credentials filled). */
function fillForm(page) {
  const form = /<form\b[^>]*>([\s\S]*?)<\/form>/i.exec(page.body);
  if (!form) throw new Error(`no form on a ${page.status} page ${page.url.pathname}: ${page.body.slice(0, 200)}`);
  const action = /\baction="([^"]*)"/i.exec(form[0]);
  const fields = {};
  for (const [tag] of form[1].matchAll(/<(?:input|button)\b[^>]*>/gi)) {
    const name = /\bname="([^"]*)"/.exec(tag)?.[1];
    if (!name) continue;
    const value = /\bvalue="([^"]*)"/.exec(tag)?.[1];
    if (name === 'username' || name === 'login') fields[name] = username;
    else if (name === 'password') fields[name] = password;
    else if (value !== undefined && !(name in fields)) fields[name] = decode(value);
  }
  return { action: new URL(action ? decode(action[1]) : page.url.pathname, page.url), fields };
}

const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
const basic = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;

async function login() {
  const browser = new Browser();
  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(16));
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    scope,
    state,
    nonce: b64url(randomBytes(16)),
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  }).toString();
  let step = await browser.follow(await browser.request(url));
  let forms = 0;
  for (; !step.arrived; forms += 1) {
    if (forms >= 3 || step.page.status !== 200) {
      throw new Error(`stuck at a ${step.page.status} page ${step.page.url.pathname}: ${step.page.body.slice(0, 200)}`);
    }
    const { action, fields } = fillForm(step.page);
    step = await browser.follow(await browser.request(action, fields));
  }
  const code = step.arrived.searchParams.get('code');
  if (!code || step.arrived.searchParams.get('state') !== state) {
    throw new Error(`no code at the redirect URI: ${step.arrived.search}`);
  }
  const response = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }),
  });
  const tokens = await response.json();
  if (response.status !== 200 || !tokens.id_token || !tokens.access_token) {
    throw new Error(`token endpoint ${response.status}: ${JSON.stringify(tokens).slice(0, 200)}`);
  }
  return forms;
}

try {
  for (let i = 0; i < warmup; i += 1) await login();
  const times = [];
  let forms = 0;
  for (let i = 0; i < n; i += 1) {
    const started = process.hrtime.bigint();
    forms += await login();
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  times.sort((a, b) => a - b);
  const at = (q) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)];
  const round = (x) => Math.round(x * 100) / 100;
  process.stdout.write(`${JSON.stringify({
    n,
    p50_ms: round(at(0.5)),
    p90_ms: round(at(0.9)),
    p99_ms: round(at(0.99)),
    mean_ms: round(times.reduce((a, b) => a + b, 0) / n),
    max_ms: round(times[times.length - 1]),
    forms_per_login: forms / n,
  })}\n`);
} catch (error) {
  process.stderr.write(`login-driver: ${error.message}\n`);
  process.exitCode = 1;
}
