// Self-test of the Entra-shaped provider: `node --test idp/` (run by the test command).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import * as jose from 'jose';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startIdp } from './provider.js';

const CONTOSO = '6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11';
const FABRIKAM = '2a7d9e4b-8c3f-4b1a-a6e5-7f0c2d9b8e31';
const CLIENT = 'c1a0d5e2-0f4b-4b8e-9a61-2f7d3e8c9b10';
const SECRET = 'demo~Secret.Value-For.Local_Use_0nly';
const REDIRECT = 'http://127.0.0.1:3000/auth/callback';
const SIMON = { upn: 'B.Simon@contoso.com', oid: '3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f', password: 'Contoso-Demo-2026!' };

let idp;
before(async () => { idp = await startIdp(); });
after(async () => { await idp.close(); });

/** Follows redirects by hand, keeping cookies, until the redirect URI is reached. */
async function authorize(tenant, params, { username, password }) {
  const jar = new Map();
  const keep = (res) => {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const [name, value] = pair.split('=');
      jar.set(name, value);
    }
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  let url = `${idp.url}/${tenant}/oauth2/v2.0/authorize?${new URLSearchParams(params)}`;
  let res = await fetch(url, { redirect: 'manual' });
  keep(res);
  for (let hops = 0; hops < 10; hops += 1) {
    if (res.status !== 302 && res.status !== 303) return { final: res };
    const next = new URL(res.headers.get('location'), url);
    if (next.href.startsWith(params.redirect_uri)) return { redirect: next };
    if (next.pathname.includes('/interaction/')) {
      const form = await fetch(next, { headers: { cookie: cookie() } });
      assert.equal(form.status, 200);
      res = await fetch(`${next.href}/login`, {
        method: 'POST', redirect: 'manual',
        headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username, password }),
      });
    } else {
      res = await fetch(next, { redirect: 'manual', headers: { cookie: cookie() } });
    }
    keep(res);
    url = next.href;
  }
  throw new Error('too many redirects');
}

async function signIn({ tenant = CONTOSO, user = SIMON, clientId = CLIENT, secret = SECRET, scope = 'openid profile email' } = {}) {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const nonce = crypto.randomBytes(16).toString('base64url');
  const { redirect, final } = await authorize(tenant, {
    client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, scope,
    state: 'st', nonce, code_challenge: challenge, code_challenge_method: 'S256',
  }, { username: user.upn, password: user.password });
  if (!redirect) return { final };
  if (redirect.searchParams.get('error')) return { redirect };
  const token = await fetch(`${idp.url}/${tenant}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code: redirect.searchParams.get('code'), redirect_uri: REDIRECT,
      client_id: clientId, client_secret: secret, code_verifier: verifier,
    }),
  });
  return { token: await token.json(), status: token.status, nonce, redirect };
}

async function verify(idToken, tenant = CONTOSO) {
  const jwks = jose.createRemoteJWKSet(new URL(`${idp.url}/${tenant}/discovery/v2.0/keys`));
  return jose.jwtVerify(idToken, jwks, { algorithms: ['RS256'] });
}

test('discovery follows the Entra v2.0 layout per directory and per verified domain', async () => {
  for (const tenant of [CONTOSO, 'contoso.onmicrosoft.com']) {
    const doc = await (await fetch(`${idp.url}/${tenant}/v2.0/.well-known/openid-configuration`)).json();
    assert.equal(doc.issuer, `${idp.url}/${CONTOSO}/v2.0`);
    assert.equal(doc.authorization_endpoint, `${idp.url}/${CONTOSO}/oauth2/v2.0/authorize`);
    assert.equal(doc.token_endpoint, `${idp.url}/${CONTOSO}/oauth2/v2.0/token`);
    assert.equal(doc.jwks_uri, `${idp.url}/${CONTOSO}/discovery/v2.0/keys`);
    assert.equal(doc.device_authorization_endpoint, `${idp.url}/${CONTOSO}/oauth2/v2.0/devicecode`);
    assert.equal(doc.end_session_endpoint, `${idp.url}/${CONTOSO}/oauth2/v2.0/logout`);
    assert.deepEqual(doc.id_token_signing_alg_values_supported, ['RS256']);
  }
});

test('common and organizations publish the {tenantid} issuer template', async () => {
  for (const tenant of ['common', 'organizations']) {
    const doc = await (await fetch(`${idp.url}/${tenant}/v2.0/.well-known/openid-configuration`)).json();
    assert.equal(doc.issuer, `${idp.url}/{tenantid}/v2.0`);
  }
});

test('an unknown directory answers AADSTS90002', async () => {
  const res = await fetch(`${idp.url}/${crypto.randomUUID()}/v2.0/.well-known/openid-configuration`);
  assert.equal(res.status, 400);
  assert.match((await res.json()).error_description, /^AADSTS90002:/);
});

test('B.Simon signs in with the code flow and PKCE and gets Entra claims', async () => {
  const { token, nonce } = await signIn();
  assert.ok(token.id_token, JSON.stringify(token));
  const { payload, protectedHeader } = await verify(token.id_token);
  assert.equal(protectedHeader.alg, 'RS256');
  assert.equal(payload.iss, `${idp.url}/${CONTOSO}/v2.0`);
  assert.equal(payload.aud, CLIENT);
  assert.equal(payload.tid, CONTOSO);
  assert.equal(payload.oid, SIMON.oid);
  assert.equal(payload.preferred_username, SIMON.upn);
  assert.equal(payload.name, 'B.Simon');
  assert.equal(payload.email, SIMON.upn);
  assert.equal(payload.ver, '2.0');
  assert.equal(payload.nonce, nonce);
  assert.notEqual(payload.sub, payload.oid, 'sub is pairwise, not the object id');
});

test('Graph: the code flow\'s delegated token reads the directory\'s verified domains, not its users', async () => {
  const { token } = await signIn({ scope: `openid profile email ${idp.url}/User.Read` });
  assert.ok(token.id_token, JSON.stringify(token));
  const organization = await fetch(`${idp.url}/v1.0/organization?$select=verifiedDomains`, { headers: { authorization: `Bearer ${token.access_token}` } });
  assert.equal(organization.status, 200);
  const [entry] = (await organization.json()).value;
  assert.deepEqual(entry.verifiedDomains.map((d) => d.name), ['contoso.onmicrosoft.com', 'contoso.com']);
  const users = await fetch(`${idp.url}/v1.0/users`, { headers: { authorization: `Bearer ${token.access_token}` } });
  assert.equal(users.status, 403);
  assert.equal((await fetch(`${idp.url}/v1.0/organization`)).status, 401);
});

test('a wrong PKCE verifier is refused by the provider', async () => {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const { redirect } = await authorize(CONTOSO, {
    client_id: CLIENT, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: 's', nonce: 'n',
    code_challenge: challenge, code_challenge_method: 'S256',
  }, { username: SIMON.upn, password: SIMON.password });
  const res = await fetch(`${idp.url}/${CONTOSO}/oauth2/v2.0/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: redirect.searchParams.get('code'),
      redirect_uri: REDIRECT, client_id: CLIENT, client_secret: SECRET, code_verifier: `${verifier}x` }),
  });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error, 'invalid_grant');
});

test('client credentials: Entra error codes for unknown apps, bad and expired secrets', async () => {
  const token = (tenant, clientId, secret) => fetch(`${idp.url}/${tenant}/oauth2/v2.0/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, scope: 'openid' }),
  });
  const ok = await token(CONTOSO, CLIENT, SECRET);
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.ok((await ok.json()).access_token);
  assert.match((await (await token(CONTOSO, crypto.randomUUID(), SECRET)).json()).error_description, /^AADSTS700016:/);
  assert.match((await (await token(FABRIKAM, CLIENT, SECRET)).json()).error_description, /^AADSTS700016:/, 'another directory does not know the app');
  assert.match((await (await token(CONTOSO, CLIENT, '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9')).json()).error_description, /^AADSTS7000215:/);
  const expiredApp = crypto.randomUUID();
  await fetch(`${idp.url}/_test/apps`, { method: 'POST', body: JSON.stringify({
    tenantId: CONTOSO, clientId: expiredApp, redirectUris: [REDIRECT],
    secrets: [{ id: crypto.randomUUID(), value: 'old-secret-value', expires: '2020-01-01T00:00:00Z' }] }) });
  assert.match((await (await token(CONTOSO, expiredApp, 'old-secret-value')).json()).error_description, /^AADSTS7000222:/);
});

test('an unregistered redirect URI ends on an AADSTS50011 page', async () => {
  const res = await fetch(`${idp.url}/${CONTOSO}/oauth2/v2.0/authorize?${new URLSearchParams({
    client_id: CLIENT, response_type: 'code', redirect_uri: 'http://127.0.0.1:9/elsewhere', scope: 'openid' })}`);
  assert.equal(res.status, 400);
  assert.match(await res.text(), /AADSTS50011: The redirect URI &#39;http:\/\/127\.0\.0\.1:9\/elsewhere&#39;/);
});

test('a user not assigned to the app comes back with AADSTS50105', async () => {
  const clientId = crypto.randomUUID();
  await fetch(`${idp.url}/_test/apps`, { method: 'POST', body: JSON.stringify({
    tenantId: CONTOSO, clientId, redirectUris: [REDIRECT], assignmentRequired: true, assignedUsers: [SIMON.oid],
    secrets: [{ id: crypto.randomUUID(), value: 'assigned-secret', expires: '2099-01-01T00:00:00Z' }] }) });
  const nobody = { upn: 'nobody@contoso.com', password: 'Contoso-Demo-2026!' };
  const { redirect } = await signIn({ clientId, secret: 'assigned-secret', user: nobody });
  assert.equal(redirect.searchParams.get('error'), 'access_denied');
  assert.match(redirect.searchParams.get('error_description'), /^AADSTS50105:/);
  const { token } = await signIn({ clientId, secret: 'assigned-secret' });
  assert.ok(token.id_token, 'assigned users still sign in');
});

test('app roles assigned to a person come in the ID token as roles, and only theirs', async () => {
  const clientId = crypto.randomUUID();
  await fetch(`${idp.url}/_test/apps`, { method: 'POST', body: JSON.stringify({
    tenantId: CONTOSO, clientId, redirectUris: [REDIRECT],
    secrets: [{ id: crypto.randomUUID(), value: 'roles-secret', expires: '2099-01-01T00:00:00Z' }] }) });
  const without = await signIn({ clientId, secret: 'roles-secret' });
  assert.equal((await verify(without.token.id_token)).payload.roles, undefined, 'no roles before any is assigned');
  const set = await fetch(`${idp.url}/_test/apps/app-roles`, { method: 'POST', body: JSON.stringify({
    clientId, oid: SIMON.oid, roles: ['Backup.Operator', 'Backup.Reader'] }) });
  assert.equal(set.status, 200);
  const { token } = await signIn({ clientId, secret: 'roles-secret' });
  assert.deepEqual((await verify(token.id_token)).payload.roles, ['Backup.Operator', 'Backup.Reader']);
  const other = await signIn({ secret: SECRET });
  assert.equal((await verify(other.token.id_token)).payload.roles, undefined, 'another app of the directory gets none');
});

test('a directory can be made to hang or to fail, and only that directory', async () => {
  const outage = (mode) => fetch(`${idp.url}/_test/outage`, { method: 'POST', body: JSON.stringify({ tenantId: CONTOSO, mode }) });
  const discovery = (tenant) => fetch(`${idp.url}/${tenant}/v2.0/.well-known/openid-configuration`, { signal: AbortSignal.timeout(500) });
  assert.equal((await outage('error')).status, 200);
  const failing = await discovery(CONTOSO);
  assert.equal(failing.status, 503);
  assert.equal((await discovery(FABRIKAM)).status, 200, 'other directories answer');
  await outage('hang');
  await assert.rejects(discovery(CONTOSO), /timeout|abort/i);
  assert.equal((await discovery(FABRIKAM)).status, 200);
  await outage(null);
  assert.equal((await discovery(CONTOSO)).status, 200, 'back once the outage is over');
});

test('an app without consent comes back with AADSTS65001', async () => {
  const clientId = crypto.randomUUID();
  await fetch(`${idp.url}/_test/apps`, { method: 'POST', body: JSON.stringify({
    tenantId: CONTOSO, clientId, redirectUris: [REDIRECT], consentRequired: true,
    secrets: [{ id: crypto.randomUUID(), value: 'consent-secret', expires: '2099-01-01T00:00:00Z' }] }) });
  const { redirect } = await signIn({ clientId, secret: 'consent-secret' });
  assert.equal(redirect.searchParams.get('error'), 'consent_required');
  assert.match(redirect.searchParams.get('error_description'), /^AADSTS65001:/);
});

test('signing keys rotate and the old key stays published', async () => {
  const before = (await (await fetch(`${idp.url}/${CONTOSO}/discovery/v2.0/keys`)).json()).keys.map((k) => k.kid);
  const rotated = await (await fetch(`${idp.url}/_test/rotate-keys`, { method: 'POST' })).json();
  assert.ok(!before.includes(rotated.kid));
  const { token } = await signIn();
  assert.equal(jose.decodeProtectedHeader(token.id_token).kid, rotated.kid);
  const after = (await (await fetch(`${idp.url}/${CONTOSO}/discovery/v2.0/keys`)).json()).keys.map((k) => k.kid);
  assert.ok(before.every((kid) => after.includes(kid)));
});

test('the next token can be made bad in each chosen way', async () => {
  const bad = async (mode) => {
    const r = await fetch(`${idp.url}/_test/next-token`, { method: 'POST', body: JSON.stringify({ mode }) });
    assert.equal(r.status, 200);
    return (await signIn()).token.id_token;
  };
  assert.notEqual(jose.decodeJwt(await bad('wrong_audience')).aud, CLIENT);
  assert.notEqual(jose.decodeJwt(await bad('wrong_issuer')).iss, `${idp.url}/${CONTOSO}/v2.0`);
  assert.equal(jose.decodeJwt(await bad('other_tenant')).tid, FABRIKAM);
  assert.ok(jose.decodeJwt(await bad('expired')).exp < Date.now() / 1000);
  assert.ok(jose.decodeJwt(await bad('not_yet_valid')).nbf > Date.now() / 1000);
  assert.equal(jose.decodeProtectedHeader(await bad('alg_none')).alg, 'none');
  assert.equal(jose.decodeProtectedHeader(await bad('hs256')).alg, 'HS256');
  await assert.rejects(verify(await bad('bad_signature')));
  await assert.rejects(verify(await bad('unknown_key')));
  const { token, nonce } = await (async () => {
    await fetch(`${idp.url}/_test/next-token`, { method: 'POST', body: JSON.stringify({ mode: 'wrong_nonce' }) });
    return signIn();
  })();
  assert.notEqual(jose.decodeJwt(token.id_token).nonce, nonce);
  const { token: good } = await signIn();
  await verify(good.id_token);
});

test('through common, the token names the user\'s own directory', async () => {
  const { token } = await signIn({ tenant: 'common' });
  const { payload } = await verify(token.id_token, 'common');
  assert.equal(payload.iss, `${idp.url}/${CONTOSO}/v2.0`);
  assert.equal(payload.tid, CONTOSO);
});

test('the device authorization endpoint issues codes with a 15 minute life', async () => {
  const res = await fetch(`${idp.url}/${CONTOSO}/oauth2/v2.0/devicecode`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: CLIENT, client_secret: SECRET, scope: 'openid' }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.ok(body.device_code && body.user_code && body.verification_uri);
  assert.equal(body.expires_in, 900);
});

/** An app-only Graph access token for an app registered with these application permissions. */
async function graphToken(graphPermissions) {
  const clientId = crypto.randomUUID();
  await fetch(`${idp.url}/_test/apps`, { method: 'POST', body: JSON.stringify({
    tenantId: CONTOSO, clientId, redirectUris: [REDIRECT], graphPermissions,
    secrets: [{ id: crypto.randomUUID(), value: 'graph-secret', expires: '2099-01-01T00:00:00Z' }] }) });
  const res = await fetch(`${idp.url}/${CONTOSO}/oauth2/v2.0/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: 'graph-secret', scope: 'https://graph.microsoft.com/.default' }),
  });
  assert.equal(res.status, 200);
  return (await res.json()).access_token;
}

const graph = (path, token) => fetch(`${idp.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

test('Graph: app-only tokens carry the granted application permissions as roles', async () => {
  const token = await graphToken(['User.Read.All']);
  const claims = jose.decodeJwt(token);
  assert.equal(claims.aud, 'https://graph.microsoft.com');
  assert.equal(claims.tid, CONTOSO);
  assert.deepEqual(claims.roles, ['User.Read.All']);
});

test('Graph: users are listed with $select, $filter startswith and @odata.nextLink paging', async () => {
  const token = await graphToken(['User.Read.All']);
  const seen = [];
  let next = '/v1.0/users?$select=id,displayName,userPrincipalName&$top=2';
  while (next) {
    const body = await (await graph(next, token)).json();
    assert.ok(body.value.length <= 2);
    for (const u of body.value) assert.deepEqual(Object.keys(u).sort(), ['displayName', 'id', 'userPrincipalName']);
    seen.push(...body.value);
    next = body['@odata.nextLink']?.slice(idp.url.length);
  }
  const all = await (await graph('/v1.0/users?$top=999', token)).json();
  assert.equal(seen.length, all.value.length);
  assert.ok(all.value.length >= 4);
  const filter = encodeURIComponent("startswith(displayName,'adele') or startswith(userPrincipalName,'adele')");
  const found = await (await graph(`/v1.0/users?$filter=${filter}`, token)).json();
  assert.deepEqual(found.value.map((u) => u.userPrincipalName), ['AdeleV@contoso.com']);
  const one = await (await graph(`/v1.0/users/${SIMON.oid}`, token)).json();
  assert.equal(one.userPrincipalName, SIMON.upn);
  assert.equal((await graph(`/v1.0/users/${crypto.randomUUID()}`, token)).status, 404);
  assert.equal((await graph('/v1.0/users?$top=1000', token)).status, 400);
  assert.equal((await graph(`/v1.0/users?$filter=${encodeURIComponent('jobTitle ne null')}`, token)).status, 400);
});

test('Graph: refuses tokens without User.Read.All, without a token, and tokens it did not issue', async () => {
  const denied = await graph('/v1.0/users', await graphToken([]));
  assert.equal(denied.status, 403);
  assert.equal((await denied.json()).error.code, 'Authorization_RequestDenied');
  assert.equal((await graph('/v1.0/users')).status, 401);
  const { privateKey } = await jose.generateKeyPair('RS256');
  const forged = await new jose.SignJWT({ aud: 'https://graph.microsoft.com', tid: CONTOSO, roles: ['User.Read.All'] })
    .setProtectedHeader({ alg: 'RS256', kid: 'forged' }).setExpirationTime('1h').sign(privateKey);
  assert.equal((await graph('/v1.0/users', forged)).status, 401);
});

test('Graph: directory users can be added and removed by the test hooks', async () => {
  const token = await graphToken(['User.Read.All']);
  const oid = crypto.randomUUID();
  await fetch(`${idp.url}/_test/users`, { method: 'POST', body: JSON.stringify({ tenantId: CONTOSO, users: [{ oid, name: 'Temp User', upn: 'temp@contoso.com', password: 'x' }] }) });
  assert.equal((await graph(`/v1.0/users/${oid}`, token)).status, 200);
  await fetch(`${idp.url}/_test/users/remove`, { method: 'POST', body: JSON.stringify({ tenantId: CONTOSO, oid }) });
  assert.equal((await graph(`/v1.0/users/${oid}`, token)).status, 404);
});

test('certificate credentials: client assertions are checked as Entra checks them', async () => {
  const { execFileSync } = await import('node:child_process');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-cert-'));
  const made = (name) => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`,
      '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, `${name}.pem`)], { stdio: 'ignore' });
    const pem = fs.readFileSync(path.join(dir, `${name}.pem`), 'utf8');
    return { pem, der: new crypto.X509Certificate(pem).raw, key: crypto.createPrivateKey(fs.readFileSync(path.join(dir, `${name}.key`))) };
  };
  const mine = made('gatehouse');
  const other = made('other');
  const app = crypto.randomUUID();
  await fetch(`${idp.url}/_test/apps`, { method: 'POST', body: JSON.stringify({ tenantId: CONTOSO, clientId: app, redirectUris: [REDIRECT] }) });
  const endpoint = `${idp.url}/${CONTOSO}/oauth2/v2.0/token`;
  const assertion = ({ cert = mine, key = cert.key, aud = endpoint, iss = app, jti = crypto.randomUUID(), exp = 300 } = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return new jose.SignJWT({ aud, iss, sub: iss, jti, nbf: now, iat: now, exp: now + exp })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', 'x5t#S256': crypto.createHash('sha256').update(cert.der).digest('base64url') })
      .sign(key);
  };
  const token = async (jwt) => fetch(endpoint, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: app, scope: 'https://graph.microsoft.com/.default',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt }),
  });
  const code = async (jwt) => (await (await token(jwt)).json()).error_description?.match(/^AADSTS(\d+)/)?.[1];

  assert.equal(await code(await assertion()), '700027', 'not uploaded yet');
  const uploaded = await fetch(`${idp.url}/_test/apps/certificates`, { method: 'POST', body: JSON.stringify({ clientId: app, certificate: mine.der.toString('base64') }) });
  assert.equal(uploaded.status, 201);
  const jti = crypto.randomUUID();
  const ok = await token(await assertion({ jti }));
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.ok((await ok.json()).access_token);
  assert.equal(await code(await assertion({ jti })), '50027', 'a jti is used once');
  assert.equal(await code(await assertion({ key: other.key })), '700027', 'signed by another key');
  assert.equal(await code(await assertion({ cert: other })), '700027', 'another certificate');
  assert.equal(await code(await assertion({ aud: `${idp.url}/${FABRIKAM}/oauth2/v2.0/token` })), '50027', "another directory's endpoint");
  assert.equal(await code(await assertion({ iss: crypto.randomUUID() })), '700021');
  assert.equal(await code(await assertion({ exp: -600 })), '700024');
  await fetch(`${idp.url}/_test/apps/expire-credentials`, { method: 'POST', body: JSON.stringify({ clientId: app }) });
  const expired = await (await token(await assertion())).json();
  assert.match(expired.error_description, /^AADSTS700027: .*The key used is expired/);
  fs.rmSync(dir, { recursive: true, force: true });
});

const SETUP_CLIENT = '7b4c2e1a-9d3f-4a8b-b6c5-0e1f2a3b4c5d';
const MEGAN = { upn: 'MeganB@contoso.com', password: 'Contoso-Demo-2026!' };
const LEE = { upn: 'LeeG@contoso.com', password: 'Contoso-Demo-2026!' };
const SETUP_SCOPES = 'openid profile offline_access https://graph.microsoft.com/User.Read https://graph.microsoft.com/Application.ReadWrite.All https://graph.microsoft.com/DelegatedPermissionGrant.ReadWrite.All https://graph.microsoft.com/AppRoleAssignment.ReadWrite.All';

/** A device code for the setup client, then the person's sign-in at the verification page. */
async function deviceSignIn(user, { tenant = 'organizations', confirm = true } = {}) {
  const started = await (await fetch(`${idp.url}/${tenant}/oauth2/v2.0/devicecode`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: SETUP_CLIENT, scope: SETUP_SCOPES }),
  })).json();
  const jar = new Map();
  const keep = (res) => { for (const c of res.headers.getSetCookie()) { const [pair] = c.split(';'); const i = pair.indexOf('='); jar.set(pair.slice(0, i), pair.slice(i + 1)); } };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const submit = async (html, at, fields) => {
    const form = /<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/.exec(html);
    const hidden = Object.fromEntries([...form[2].matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const res = await fetch(new URL(form[1].replace(/&amp;/g, '&'), at), { method: 'POST', redirect: 'manual', headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ ...hidden, ...fields }) });
    keep(res);
    return res;
  };
  let res = await fetch(started.verification_uri, { headers: { cookie: cookie() } });
  keep(res);
  let at = started.verification_uri;
  // Follows redirects, signing in at the directory's page when it asks.
  const follow = async (first) => {
    let r = first;
    for (let hops = 0; hops < 10 && [302, 303].includes(r.status); hops += 1) {
      const next = new URL(r.headers.get('location'), at);
      if (next.pathname.includes('/interaction/')) {
        keep(await fetch(next, { headers: { cookie: cookie() } }));
        r = await fetch(`${next.href}/login`, { method: 'POST', redirect: 'manual', headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ username: user.upn, password: user.password }) });
      } else {
        r = await fetch(next, { redirect: 'manual', headers: { cookie: cookie() } });
      }
      keep(r);
      at = next.href;
    }
    return r;
  };
  res = await follow(await submit(await res.text(), at, { user_code: started.user_code }));
  const confirmPage = await res.text();
  assert.match(confirmPage, /Are you trying to sign in to Gatehouse setup\?/);
  const done = await follow(await submit(confirmPage, at, confirm ? {} : { abort: 'yes' }));
  assert.equal(done.status, 200, await done.clone().text());
  const poll = await fetch(`${idp.url}/${tenant}/oauth2/v2.0/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: SETUP_CLIENT, device_code: started.device_code }),
  });
  return { status: poll.status, body: await poll.json(), started };
}

const graphCall = (token, method, path, body) => fetch(`${idp.url}/v1.0${path}`, {
  method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined,
});

test('device code: an admin signs in on the code page and the setup client gets a delegated Graph token', async () => {
  const pending = await fetch(`${idp.url}/organizations/oauth2/v2.0/devicecode`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: SETUP_CLIENT, scope: SETUP_SCOPES }),
  }).then((r) => r.json());
  const early = await fetch(`${idp.url}/organizations/oauth2/v2.0/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: SETUP_CLIENT, device_code: pending.device_code }),
  });
  assert.equal((await early.json()).error, 'authorization_pending');
  const { status, body } = await deviceSignIn(MEGAN);
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(jose.decodeJwt(body.id_token).tid, CONTOSO);
  assert.deepEqual(jose.decodeJwt(body.access_token).scp.split(' ').sort(), ['AppRoleAssignment.ReadWrite.All', 'Application.ReadWrite.All', 'DelegatedPermissionGrant.ReadWrite.All', 'User.Read', 'openid', 'profile']);
  const declined = await deviceSignIn(MEGAN, { confirm: false });
  assert.equal(declined.body.error, 'authorization_declined');
  const notAdmin = await deviceSignIn(SIMON);
  assert.match(notAdmin.body.error_description, /AADSTS65001/);
  await fetch(`${idp.url}/_test/conditional-access`, { method: 'POST', body: JSON.stringify({ tenantId: CONTOSO, blockDeviceCode: true }) });
  const blocked = await deviceSignIn(MEGAN);
  assert.match(blocked.body.error_description, /AADSTS53003/);
  await fetch(`${idp.url}/_test/conditional-access`, { method: 'POST', body: JSON.stringify({ tenantId: CONTOSO, blockDeviceCode: false }) });
});

test('Graph: an admin creates an app registration, its service principal and admin consent; an app rolls its own key', async () => {
  const token = (await deviceSignIn(MEGAN)).body.access_token;
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-cert-'));
  fs.writeFileSync(path.join(dir, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const certificate = execFileSync('openssl', ['req', '-x509', '-key', path.join(dir, 'key.pem'), '-subj', '/CN=test', '-days', '2', '-outform', 'DER']);
  fs.rmSync(dir, { recursive: true });
  assert.ok(publicKey);
  const created = await graphCall(token, 'POST', '/applications', {
    displayName: 'Gatehouse SSO', tags: ['gatehouse:test'], signInAudience: 'AzureADMyOrg', web: { redirectUris: [REDIRECT] },
    keyCredentials: [{ type: 'AsymmetricX509Cert', usage: 'Verify', key: certificate.toString('base64') }],
  });
  assert.equal(created.status, 201);
  const app = await created.json();
  const found = await (await graphCall(token, 'GET', `/applications?$filter=${encodeURIComponent("tags/any(t:t eq 'gatehouse:test')")}`)).json();
  assert.deepEqual(found.value.map((a) => a.id), [app.id]);
  const sp = await (await graphCall(token, 'POST', '/servicePrincipals', { appId: app.appId })).json();
  const graphSp = (await (await graphCall(token, 'GET', `/servicePrincipals?$filter=${encodeURIComponent("appId eq '00000003-0000-0000-c000-000000000000'")}`)).json()).value[0];
  const grant = await graphCall(token, 'POST', '/oauth2PermissionGrants', { clientId: sp.id, consentType: 'AllPrincipals', resourceId: graphSp.id, scope: 'openid profile email User.Read' });
  assert.equal(grant.status, 201);
  const role = await graphCall(token, 'POST', `/servicePrincipals/${graphSp.id}/appRoleAssignedTo`, { principalId: sp.id, resourceId: graphSp.id, appRoleId: 'df021288-bdef-4463-88db-98f22de89214' });
  assert.equal(role.status, 201);
  const held = await (await fetch(`${idp.url}/_test/registrations?tenantId=${CONTOSO}`)).json();
  const mine = held.apps.find((a) => a.objectId === app.id);
  assert.equal(mine.consentRequired, false);
  assert.deepEqual(mine.graphPermissions, ['User.Read.All']);

  // An Application Administrator creates apps but may not grant consent for everyone.
  const lee = (await deviceSignIn(LEE)).body.access_token;
  const refused = await graphCall(lee, 'POST', '/oauth2PermissionGrants', { clientId: sp.id, consentType: 'AllPrincipals', resourceId: graphSp.id, scope: 'openid' });
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).error.code, 'Authorization_RequestDenied');

  // addKey with a proof signed by the current key; a proof from another issuer is refused.
  const now = Math.floor(Date.now() / 1000);
  const x5t = crypto.createHash('sha1').update(certificate).digest('base64url');
  const proof = (iss) => new jose.SignJWT({ aud: '00000002-0000-0000-c000-000000000000', iss, nbf: now, exp: now + 600 })
    .setProtectedHeader({ alg: 'RS256', x5t }).sign(privateKey);
  const appToken = await graphCall(token, 'POST', `/applications/${app.id}/addKey`, { keyCredential: { type: 'AsymmetricX509Cert', usage: 'Verify', key: certificate.toString('base64') }, proof: await proof(app.appId) });
  assert.equal(appToken.status, 403);
  const added = await graphCall(token, 'POST', `/applications/${app.id}/addKey`, { keyCredential: { type: 'AsymmetricX509Cert', usage: 'Verify', key: certificate.toString('base64') }, proof: await proof(app.id) });
  assert.equal(added.status, 200);
  const removed = await graphCall(token, 'POST', `/applications/${app.id}/removeKey`, { keyId: app.keyCredentials[0].keyId, proof: await proof(app.id) });
  assert.equal(removed.status, 204);
  assert.equal((await graphCall(token, 'DELETE', `/applications/${app.id}`)).status, 204);
  assert.equal((await graphCall(token, 'GET', `/applications/${app.id}`)).status, 404);
});
