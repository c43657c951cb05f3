// A relying party built on openid-client (an OpenID-certified RP library), driving
// govgate's real login form over HTTP with its own cookie jar, as a browser would:
//
//   discovery → authorization URL (PKCE S256, state, nonce) → /oidc/authorize → login form
//   → POST credentials → code at the redirect URI → authorizationCodeGrant (ID token
//   signature checked against the JWKS) → access token (RFC 9068) → userinfo
//   → refresh rotation (the old refresh token then fails, and takes its family with it)
//   → introspection, revocation → a second authorization through SSO (no login form)
//   → RP-initiated logout (buildEndSessionUrl) → prompt=none now says login_required.
//
// Run by tests/oidc_node.rs:
//   ISSUER=http://127.0.0.1:PORT CLIENT_ID=… CLIENT_SECRET=… REDIRECT_URI=… \
//   POST_LOGOUT_REDIRECT_URI=… LOGIN_USERNAME=nvan LOGIN_PASSWORD=… [SCOPE=…] [AUDIENCE=…] node rp.mjs
//
// Prints ONE JSON object on stdout: {"ok":true,...} when every check held; otherwise
// {"ok":false,"stage":…,"error":…,…} (and a one-line reason on stderr) and exits 1.
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

class CheckFailed extends Error {
  constructor(stage, message, details = {}) {
    super(message);
    this.stage = stage;
    this.details = details;
  }
}

function need(name) {
  const value = process.env[name];
  if (!value) throw new CheckFailed('setup', `environment variable ${name} is not set`);
  return value;
}

function check(condition, stage, message, details = {}) {
  if (!condition) throw new CheckFailed(stage, message, details);
}

/** The run's settings, from the environment (read in main, so a missing one is reported). */
let env;
const readEnv = () => ({
  issuer: need('ISSUER'),
  clientId: need('CLIENT_ID'),
  clientSecret: need('CLIENT_SECRET'),
  redirectUri: need('REDIRECT_URI'),
  postLogoutRedirectUri: need('POST_LOGOUT_REDIRECT_URI'),
  username: need('LOGIN_USERNAME'),
  password: need('LOGIN_PASSWORD'),
  scope: process.env.SCOPE || 'openid profile email',
  audience: process.env.AUDIENCE || process.env.CLIENT_ID,
});

// ---------- a small browser: cookie jar per host, redirects followed by hand ----------

/** host → Map(name → {value, path}) */
const jar = new Map();

function storeCookies(url, response) {
  const host = url.hostname;
  for (const line of response.headers.getSetCookie()) {
    const [pair, ...attributes] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let path = '/';
    let expired = false;
    for (const attribute of attributes) {
      const [key, ...rest] = attribute.split('=');
      const attrValue = rest.join('=').trim();
      switch (key.trim().toLowerCase()) {
        case 'path':
          path = attrValue || '/';
          break;
        case 'max-age':
          expired ||= Number(attrValue) <= 0;
          break;
        case 'expires':
          expired ||= Date.parse(attrValue) <= Date.now();
          break;
        default:
      }
    }
    if (!jar.has(host)) jar.set(host, new Map());
    const cookies = jar.get(host);
    if (expired) cookies.delete(name);
    else cookies.set(name, { value, path });
  }
}

function cookieHeader(url) {
  const cookies = jar.get(url.hostname);
  if (!cookies) return undefined;
  const sent = [...cookies]
    .filter(([, { path }]) => url.pathname === path || url.pathname.startsWith(path.endsWith('/') ? path : `${path}/`))
    .map(([name, { value }]) => `${name}=${value}`);
  return sent.length ? sent.join('; ') : undefined;
}

/** One request through the jar, never following redirects. */
async function browserFetch(url, { method = 'GET', form } = {}) {
  const target = new URL(url);
  const headers = { accept: 'text/html' };
  const cookie = cookieHeader(target);
  if (cookie) headers.cookie = cookie;
  let body;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  }
  const response = await fetch(target, { method, headers, body, redirect: 'manual' });
  storeCookies(target, response);
  const text = await response.text();
  const location = response.headers.get('location');
  return {
    url: target,
    status: response.status,
    location: location ? new URL(location, target) : null,
    body: text,
  };
}

const visited = [];

/**
 * GETs `url` and follows redirects until one points at `stopAt` (returned as
 * {arrived: URL}) or a page is not a redirect (returned as {page}).
 */
async function browse(url, stopAt, stage) {
  let next = new URL(url);
  for (let hop = 0; hop < 15; hop += 1) {
    if (next.href.startsWith(stopAt)) return { arrived: next };
    const response = await browserFetch(next);
    visited.push(`${response.status} ${next.pathname}`);
    if (response.status >= 300 && response.status < 400) {
      check(response.location, stage, `${response.status} without Location from ${next.href}`);
      next = response.location;
      continue;
    }
    return { page: response };
  }
  throw new CheckFailed(stage, `more than 15 redirects from ${url}`, { visited });
}

function decodeEntities(text) {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&#x27;|&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#x2F;|&#47;/g, '/')
    .replace(/&amp;/g, '&');
}

/** The value of the <input> named `name`, whatever the attribute order. */
function formField(html, name) {
  for (const [tag] of html.matchAll(/<input\b[^>]*>/gi)) {
    if (new RegExp(`\\bname="${name}"`).test(tag)) {
      const value = /\bvalue="([^"]*)"/.exec(tag);
      return value ? decodeEntities(value[1]) : '';
    }
  }
  return undefined;
}

function formAction(html, base) {
  const match = /<form\b[^>]*\baction="([^"]*)"/i.exec(html);
  return new URL(match ? decodeEntities(match[1]) : '/.govgate/login', base);
}

function snippet(text) {
  return text.replace(/\s+/g, ' ').slice(0, 300);
}

/** Reads the OAuth error of a failed grant, or rethrows anything else. */
async function oauthError(promise) {
  try {
    await promise;
    return null;
  } catch (error) {
    if (error instanceof client.ResponseBodyError) return { error: error.error, status: error.status };
    throw error;
  }
}

// ---------- the relying party ----------

async function main() {
  env = readEnv();
  const result = { ok: false, issuer: env.issuer, client_id: env.clientId };

  const config = await client.discovery(
    new URL(env.issuer),
    env.clientId,
    { redirect_uris: [env.redirectUri] },
    client.ClientSecretBasic(env.clientSecret),
    // http:// on loopback; and check the ID token's signature against the JWKS even
    // though it came from the token endpoint.
    { execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks] },
  );
  const metadata = config.serverMetadata();
  check(metadata.issuer === env.issuer, 'discovery', `issuer ${metadata.issuer} != ${env.issuer}`);
  check(
    metadata.code_challenge_methods_supported?.includes('S256'),
    'discovery',
    'code_challenge_methods_supported lacks S256',
  );
  for (const endpoint of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri',
    'end_session_endpoint', 'introspection_endpoint', 'revocation_endpoint']) {
    check(metadata[endpoint], 'discovery', `discovery has no ${endpoint}`);
  }

  // --- authorization with PKCE, state and nonce, through the real login form ---
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: env.redirectUri,
    scope: env.scope,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });

  const toForm = await browse(authorizationUrl, env.redirectUri, 'authorize');
  check(toForm.page, 'authorize', 'a code came back without any login (a session existed already?)');
  check(toForm.page.status === 200, 'login_form', `login form answered ${toForm.page.status}`,
    { body: snippet(toForm.page.body), visited });
  const csrf = formField(toForm.page.body, 'csrf');
  const rd = formField(toForm.page.body, 'rd');
  check(csrf, 'login_form', 'the login form has no csrf field', { body: snippet(toForm.page.body) });
  check(rd !== undefined, 'login_form', 'the login form has no rd field', { body: snippet(toForm.page.body) });
  result.login_form = { url: toForm.page.url.pathname, rd_is_authorize: rd.includes('/oidc/authorize') };

  const posted = await browserFetch(formAction(toForm.page.body, toForm.page.url), {
    method: 'POST',
    form: { username: env.username, password: env.password, csrf, rd },
  });
  visited.push(`${posted.status} POST ${posted.url.pathname}`);
  result.login_status = posted.status;
  if (!(posted.status >= 300 && posted.status < 400)) {
    const formAgain = formField(posted.body, 'csrf') !== undefined;
    throw new CheckFailed('login', `login POST answered ${posted.status}${formAgain ? ' with the login form again' : ''}, no code`, {
      login_status: posted.status,
      login_form_again: formAgain,
      code: null,
      body: snippet(posted.body),
    });
  }
  const arrived = await browse(posted.location, env.redirectUri, 'after_login');
  check(arrived.arrived, 'after_login', 'never reached the redirect URI after login',
    { status: arrived.page?.status, body: snippet(arrived.page?.body ?? ''), visited });
  const callback = arrived.arrived;
  check(callback.searchParams.get('code'), 'callback', `no code at the redirect URI: ${callback.search}`);
  check(callback.searchParams.get('state') === state, 'callback', 'state at the redirect URI differs');
  result.callback_params = [...callback.searchParams.keys()].sort();

  // --- code → tokens (openid-client checks state, PKCE, nonce, iss/aud/exp, signature) ---
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  check(claims, 'token', 'no ID token');
  for (const name of ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'acr', 'amr', 'sid', 'at_hash', 'azp']) {
    check(claims[name] !== undefined, 'id_token', `ID token has no ${name}`, { claims });
  }
  check(claims.nonce === nonce, 'id_token', 'nonce differs');
  check(claims.azp === env.clientId, 'id_token', `azp ${claims.azp} != ${env.clientId}`);
  check(claims.acr === 'urn:govgate:acr:password', 'id_token', `acr ${claims.acr}`);
  check(tokens.token_type?.toLowerCase() === 'bearer', 'token', `token_type ${tokens.token_type}`);
  check(tokens.refresh_token, 'token', 'no refresh token (client has the refresh_token grant)');
  const idTokenHeader = decodeProtectedHeader(tokens.id_token);
  result.id_token = { alg: idTokenHeader.alg, kid: idTokenHeader.kid, claims };

  // --- the access token: an RFC 9068 JWT, verified against the published JWKS ---
  const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri));
  const access = await verifyAccessToken(jwks, tokens.access_token, 'access_token');
  check(access.payload.sub === claims.sub, 'access_token', 'sub differs from the ID token');
  check(access.payload.client_id === env.clientId, 'access_token', `client_id ${access.payload.client_id}`);
  check(access.payload.sid === claims.sid, 'access_token', 'sid differs from the ID token');
  result.access_token = { header: access.protectedHeader, claims: access.payload };

  // --- userinfo ---
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  check(userinfo.preferred_username === env.username, 'userinfo',
    `preferred_username ${userinfo.preferred_username} != ${env.username}`, { userinfo });
  result.userinfo = userinfo;
  result.sub = claims.sub;
  result.preferred_username = userinfo.preferred_username;
  result.name = userinfo.name;

  // --- refresh: rotation, introspection, revocation, reuse detection ---
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  check(refreshed.refresh_token, 'refresh', 'no new refresh token');
  check(refreshed.refresh_token !== tokens.refresh_token, 'refresh', 'refresh token not rotated');
  check(refreshed.access_token !== tokens.access_token, 'refresh', 'same access token again');
  const refreshedClaims = refreshed.claims();
  if (refreshedClaims) check(refreshedClaims.sub === claims.sub, 'refresh', 'new ID token for another sub');
  await verifyAccessToken(jwks, refreshed.access_token, 'refresh');

  const introspectedAccess = await client.tokenIntrospection(config, refreshed.access_token);
  check(introspectedAccess.active === true, 'introspect', 'the new access token is not active', { introspectedAccess });
  check(introspectedAccess.sub === claims.sub, 'introspect', `sub ${introspectedAccess.sub}`);
  check(introspectedAccess.client_id === env.clientId, 'introspect', `client_id ${introspectedAccess.client_id}`);
  const introspectedRefresh = await client.tokenIntrospection(config, refreshed.refresh_token,
    { token_type_hint: 'refresh_token' });
  check(introspectedRefresh.active === true, 'introspect', 'the new refresh token is not active');
  const introspectedGarbage = await client.tokenIntrospection(config, 'not-a-token');
  check(introspectedGarbage.active === false, 'introspect', 'garbage is active');

  await client.tokenRevocation(config, refreshed.access_token, { token_type_hint: 'access_token' });
  const afterRevoke = await client.tokenIntrospection(config, refreshed.access_token);
  check(afterRevoke.active === false, 'revoke', 'a revoked access token is still active');
  const userinfoAfterRevoke = await oauthStatus(fetchUserinfoRaw(metadata.userinfo_endpoint, refreshed.access_token));
  check(userinfoAfterRevoke === 401, 'revoke', `userinfo with a revoked access token answered ${userinfoAfterRevoke}`);

  const oldReuse = await oauthError(client.refreshTokenGrant(config, tokens.refresh_token));
  check(oldReuse?.error === 'invalid_grant', 'rotation', `reusing the old refresh token gave ${JSON.stringify(oldReuse)}`);
  const familyAfterReuse = await client.tokenIntrospection(config, refreshed.refresh_token,
    { token_type_hint: 'refresh_token' });
  const newAfterReuse = await oauthError(client.refreshTokenGrant(config, refreshed.refresh_token));
  check(familyAfterReuse.active === false && newAfterReuse?.error === 'invalid_grant', 'rotation',
    'after the old refresh token was replayed, its successor still works (family not revoked)',
    { familyAfterReuse, newAfterReuse });
  result.refresh = {
    rotated: true,
    old_refresh_token_error: oldReuse.error,
    family_revoked_after_reuse: true,
    revoked_access_token_inactive: true,
    userinfo_after_revoke_status: userinfoAfterRevoke,
  };

  // --- single sign-on: a second authorization needs no login; revoke its refresh token ---
  const again = await authorizeSilently(config, 'sso');
  check(again.code, 'sso', `second authorization: ${again.error ?? 'no code'}`, { visited });
  const second = await client.authorizationCodeGrant(config, again.callback, {
    pkceCodeVerifier: again.codeVerifier,
    expectedState: again.state,
    expectedNonce: again.nonce,
    idTokenExpected: true,
  });
  check(second.claims().sub === claims.sub, 'sso', 'SSO gave another sub');
  check(second.claims().sid === claims.sid, 'sso', 'SSO gave another sid');
  await client.tokenRevocation(config, second.refresh_token, { token_type_hint: 'refresh_token' });
  const revokedRefresh = await oauthError(client.refreshTokenGrant(config, second.refresh_token));
  check(revokedRefresh?.error === 'invalid_grant', 'revoke', `a revoked refresh token gave ${JSON.stringify(revokedRefresh)}`);
  result.sso = { second_code_without_login: true, same_sid: true, revoked_refresh_error: revokedRefresh.error };

  // --- RP-initiated logout ---
  const logoutState = client.randomState();
  const endSession = client.buildEndSessionUrl(config, {
    id_token_hint: second.id_token,
    post_logout_redirect_uri: env.postLogoutRedirectUri,
    state: logoutState,
  });
  const loggedOut = await browse(endSession, env.postLogoutRedirectUri, 'logout');
  check(loggedOut.arrived, 'logout', 'logout did not redirect to post_logout_redirect_uri',
    { status: loggedOut.page?.status, body: snippet(loggedOut.page?.body ?? ''), visited });
  check(loggedOut.arrived.searchParams.get('state') === logoutState, 'logout',
    `logout redirect state ${loggedOut.arrived.searchParams.get('state')} != ${logoutState}`);
  const afterLogout = await authorizeSilently(config, 'after_logout', { prompt: 'none' });
  check(afterLogout.error === 'login_required', 'after_logout',
    `prompt=none after logout gave ${afterLogout.code ? 'a code' : afterLogout.error}`);
  result.logout = {
    redirect: `${loggedOut.arrived.origin}${loggedOut.arrived.pathname}`,
    state_matches: true,
    prompt_none_after_logout: afterLogout.error,
  };

  result.visited = visited;
  result.ok = true;
  return result;
}

async function verifyAccessToken(jwks, token, stage) {
  try {
    const verified = await jwtVerify(token, jwks, {
      issuer: env.issuer,
      audience: env.audience,
      typ: 'at+jwt',
      requiredClaims: ['sub', 'exp', 'iat', 'jti', 'client_id'],
    });
    return verified;
  } catch (error) {
    throw new CheckFailed(stage, `access token rejected by jose: ${error.code ?? ''} ${error.message}`,
      { header: safeHeader(token) });
  }
}

function safeHeader(token) {
  try {
    return decodeProtectedHeader(token);
  } catch {
    return null;
  }
}

function fetchUserinfoRaw(endpoint, accessToken) {
  return fetch(endpoint, { headers: { authorization: `Bearer ${accessToken}` } });
}

async function oauthStatus(promise) {
  const response = await promise;
  await response.text();
  return response.status;
}

/** An authorization that must not show a login form: the SSO session decides. */
async function authorizeSilently(config, stage, extra = {}) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: env.redirectUri,
    scope: env.scope,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  const outcome = await browse(url, env.redirectUri, stage);
  if (!outcome.arrived) {
    throw new CheckFailed(stage, `authorization stopped at a ${outcome.page.status} page`,
      { body: snippet(outcome.page.body), visited });
  }
  const params = outcome.arrived.searchParams;
  check(params.get('state') === state, stage, 'state at the redirect URI differs');
  return {
    callback: outcome.arrived,
    code: params.get('code'),
    error: params.get('error'),
    codeVerifier,
    state,
    nonce,
  };
}

try {
  const result = await main();
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (error) {
  const failure = error instanceof CheckFailed
    ? { ok: false, stage: error.stage, error: error.message, ...error.details, visited }
    : {
      ok: false,
      stage: 'exception',
      error: `${error.name}: ${error.message}`,
      oauth_error: error.error,
      status: error.status,
      cause: error.cause instanceof Error ? error.cause.message : error.cause,
      visited,
    };
  process.stdout.write(`${JSON.stringify(failure)}\n`);
  process.stderr.write(`rp.mjs: FAILED at ${failure.stage}: ${failure.error}\n`);
  process.exitCode = 1;
}
