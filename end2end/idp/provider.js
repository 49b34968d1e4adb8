// An Entra-shaped OpenID provider for Gatehouse's tests and local demo, built on the
// OpenID-certified `oidc-provider` package. It serves Microsoft identity platform v2.0 paths per
// directory (tenant) GUID or verified domain, plus `common`/`organizations`; it issues Entra's
// ID token claims (oid, tid, pairwise sub, preferred_username, name, optional email, the app roles assigned to the person, ver) and
// answers with Entra's AADSTS error codes. App-only (client-credentials) tokens are Microsoft
// Graph access tokens carrying the app's granted application permissions as `roles`; the code
// flow's access tokens are delegated Graph tokens (`scp` User.Read). A small Microsoft Graph
// stand-in serves the directory's users under /v1.0/users to app-only tokens, and the
// directory's verified domains under /v1.0/organization. Test hooks
// under /_test rotate signing keys, make the next ID token bad in a chosen way, register app
// registrations, add or remove directory users and set a directory's verified domains at run
// time, and make a directory hang or fail (an outage). Its SAML side (federation metadata, the
// SAML2 endpoint, IdP-initiated sign-in) is in saml.js and shares the directories and users.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Provider from 'oidc-provider';
import * as jose from 'jose';
import { samlIdp } from './saml.js';
import { graphApplications, consentToClient } from './applications.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_DATA_FILE = path.join(here, 'directory.json');

/** Ways the next ID token can be made bad (POST /_test/next-token {"mode": ...}). */
export const BAD_TOKEN_MODES = [
  'wrong_audience', 'wrong_issuer', 'other_tenant', 'expired', 'not_yet_valid', 'bad_signature',
  'wrong_nonce', 'alg_none', 'unknown_key', 'hs256',
];

/** The audience of Microsoft Graph access tokens. */
const GRAPH_AUDIENCE = 'https://graph.microsoft.com';

const ROUTES = {
  authorization: '/oauth2/v2.0/authorize',
  token: '/oauth2/v2.0/token',
  jwks: '/discovery/v2.0/keys',
  end_session: '/oauth2/v2.0/logout',
  device_authorization: '/oauth2/v2.0/devicecode',
  code_verification: '/oauth2/v2.0/deviceauth',
  userinfo: '/oidc/userinfo',
  introspection: '/oauth2/v2.0/introspect',
  revocation: '/oauth2/v2.0/revoke',
};

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

async function newSigningKey() {
  const { privateKey, publicKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(publicKey);
  const kid = crypto.randomBytes(12).toString('base64url');
  return { kid, privateKey, publicJwk: { ...jwk, kid, use: 'sig', alg: 'RS256', kty: 'RSA' } };
}

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 28rem; margin: 2rem auto; padding: 0 1rem">
<p><strong>Microsoft Entra ID (local test provider)</strong></p>${body}</body></html>`;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 64 * 1024) { reject(new Error('body too large')); req.destroy(); } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(value));
}

function sendHtml(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(html);
}

/** An Entra-style token error body. */
function aadstsError(error, code, text) {
  return {
    error,
    error_description: `AADSTS${code}: ${text} Trace ID: ${crypto.randomUUID()} Correlation ID: ${crypto.randomUUID()} Timestamp: ${new Date().toISOString()}`,
    error_codes: [Number(code)],
    timestamp: new Date().toISOString(),
    trace_id: crypto.randomUUID(),
    correlation_id: crypto.randomUUID(),
  };
}

/**
 * Starts the provider on `host`; `publicHost` (default `host`) is the name in its addresses, such
 * as `localhost`, so that it is another site than a Gatehouse on 127.0.0.1, as Entra is.
 */
export async function startIdp({ port = 0, host = '127.0.0.1', publicHost = host, dataFile = DEFAULT_DATA_FILE, quiet = true } = {}) {
  const state = {
    data: JSON.parse(fs.readFileSync(dataFile, 'utf8')),
    keys: [await newSigningKey()],
    nextTokenMode: null,
    // Directories made to hang or to fail (tenant id → 'hang' | 'error'), and the requests
    // left hanging, ended when the outage is over.
    outages: new Map(),
    hanging: new Set(),
    tokenRequests: 0,
    keyRequests: 0,
    discoveryRequests: 0,
    graphRequests: 0,
    // Client assertions accepted, and the jti of each (Entra refuses one seen before).
    assertionsAccepted: 0,
    usedAssertions: new Set(),
    // Device code sign-ins: the Graph scopes each device code asked for, and errors the next
    // polls answer (POST /_test/device-poll-errors).
    deviceScopes: new Map(),
    devicePollErrors: [],
    // Milliseconds before objects created through Graph are seen (POST /_test/replication-delay).
    replicationDelayMs: 0,
    // Seconds between polls that device codes ask for (Entra: 5), and the admin tokens issued
    // through them (so tests can look for them where they must not be).
    deviceInterval: 5,
    deviceTokens: [],
  };
  const server = http.createServer();
  await new Promise((resolve) => server.listen(port, host, resolve));
  const base = `http://${publicHost}:${server.address().port}`;

  const directories = () => state.data.directories;
  const directoryOf = (tenant) => directories().find(
    (d) => d.tenantId === tenant.toLowerCase() || d.domains.includes(tenant.toLowerCase()),
  );
  const appOf = (clientId) => {
    for (const dir of directories()) {
      const app = dir.apps.find((a) => a.clientId === clientId && (!a.visibleAt || a.visibleAt <= Date.now()));
      if (app) return { dir, app };
    }
    // Multi-tenant public clients (Gatehouse's setup client) are usable in every directory.
    const setup = (state.data.setupClients ?? []).find((a) => a.clientId === clientId);
    return setup ? { dir: null, app: { ...setup, publicClient: true, secrets: [], redirectUris: [] } } : null;
  };
  const userOf = (tid, oid) => directoryOf(tid)?.users.find((u) => u.oid === oid);
  const saml = samlIdp({ state, base, directoryOf, directories, page, sendHtml, sendJson, readBody, escapeHtml });
  const internalSecret = (clientId) => crypto.createHash('sha256').update(`internal:${clientId}`).digest('base64url');

  // oidc-provider keeps its sessions, codes and grants here; clients come from the directory data.
  const stores = new Map();
  class Adapter {
    constructor(name) { this.name = name; if (!stores.has(name)) stores.set(name, new Map()); this.store = stores.get(name); }
    async upsert(id, payload, expiresIn) {
      this.store.set(id, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : null });
      if (payload.grantId) {
        const grants = stores.get('grants') ?? new Map();
        stores.set('grants', grants);
        grants.set(payload.grantId, [...(grants.get(payload.grantId) ?? []), [this.name, id]]);
      }
      if (payload.userCode) this.store.set(`userCode:${payload.userCode}`, { payload: id });
      if (payload.uid) this.store.set(`uid:${payload.uid}`, { payload: id });
    }
    async find(id) {
      if (this.name === 'Client') {
        const found = appOf(id);
        if (!found) return undefined;
        if (found.app.publicClient) {
          return {
            client_id: id, client_name: found.app.displayName, application_type: 'web',
            redirect_uris: [], response_types: [], token_endpoint_auth_method: 'none',
            grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
          };
        }
        return {
          client_id: id,
          client_secret: internalSecret(id),
          client_name: found.app.displayName,
          redirect_uris: found.app.redirectUris,
          post_logout_redirect_uris: found.app.logoutUris ?? [],
          backchannel_logout_uri: `${base}/_test/backchannel-sink`,
          backchannel_logout_session_required: true,
          grant_types: ['authorization_code', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_post',
        };
      }
      const entry = this.store.get(id);
      if (!entry || (entry.expiresAt && entry.expiresAt < Date.now())) return undefined;
      return entry.payload;
    }
    async findByUserCode(code) { const id = this.store.get(`userCode:${code}`)?.payload; return id ? this.find(id) : undefined; }
    async findByUid(uid) { const id = this.store.get(`uid:${uid}`)?.payload; return id ? this.find(id) : undefined; }
    async consume(id) { const e = this.store.get(id); if (e) e.payload.consumed = Math.floor(Date.now() / 1000); }
    async destroy(id) { this.store.delete(id); }
    async revokeByGrantId(grantId) {
      for (const [name, id] of stores.get('grants')?.get(grantId) ?? []) stores.get(name)?.delete(id);
    }
  }

  // oidc-provider signs with its own key; every ID token it issues is re-issued below with
  // Entra's claims and the current key of the published JWKS.
  const providerJwk = await jose.exportJWK((await jose.generateKeyPair('RS256', { extractable: true })).privateKey);

  function makeProvider(tenant) {
    const provider = new Provider(`${base}/${tenant}/v2.0`, {
      adapter: Adapter,
      jwks: { keys: [{ ...providerJwk, kid: 'internal', use: 'sig', alg: 'RS256' }] },
      routes: ROUTES,
      scopes: ['openid', 'profile', 'email', 'offline_access'],
      claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email'] },
      features: {
        devInteractions: { enabled: false },
        deviceFlow: {
          enabled: true,
          // Entra's "Enter code" page, its "Are you trying to sign in to …?" question and its
          // closing page.
          async userCodeInputSource(ctx, form, out, err) {
            ctx.body = page('Enter code', `<h1>Enter code</h1>
${err ? `<p role="alert" id="device-error">${escapeHtml(err.userCode ? 'That code didn’t work. Check the code and try again.' : (err.error_description ?? err.message ?? err.error ?? 'Something went wrong.'))}</p>` : ''}
<p>Enter the code displayed on your app or device.</p>
<p><label for="user_code">Code</label></p>${form.replace('name="user_code"', 'id="user_code" name="user_code"')}
<p><button type="submit" form="op.deviceInputForm">Next</button></p>`);
          },
          async userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
            ctx.body = page('Confirm', `<h1>Are you trying to sign in to ${escapeHtml(client.clientName ?? client.clientId)}?</h1>
<p>Only continue if you downloaded the app from a store or website that you trust.</p>
<p>Code: <code id="confirm-code">${escapeHtml(userCode)}</code></p>${form}
<p><button autofocus type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" value="yes" name="abort">Cancel</button></p>`);
          },
          async successSource(ctx) {
            ctx.body = page('Signed in', `<h1 id="device-done">You have signed in to ${escapeHtml(ctx.oidc.client.clientName ?? '')} on your device.</h1><p>You may now close this window.</p>`);
          },
        },
        clientCredentials: { enabled: true },
        rpInitiatedLogout: {
          enabled: true,
          async logoutSource(ctx, form) {
            // Entra's front-channel logout: each app the person signed in to here is loaded in a
            // hidden iframe at its front-channel logout URL, with only its session id.
            const frames = Object.keys(ctx.oidc.session.authorizations ?? {}).map((clientId) => {
              const uri = appOf(clientId)?.app.frontchannelLogoutUri;
              const sid = ctx.oidc.session.sidFor(clientId);
              if (!uri || !sid) return '';
              const src = `${uri}${uri.includes('?') ? '&' : '?'}sid=${encodeURIComponent(sid)}`;
              return `<iframe class="front-channel-logout" hidden src="${escapeHtml(src)}"></iframe>`;
            }).join('');
            ctx.body = page('Sign out', `<h1>Sign out</h1><p>Sign out of the test directory?</p>${form}
    <button form="op.logoutForm" type="submit" name="logout" value="yes">Sign out</button>${frames}`);
          },
        },
        // Only so that ID tokens carry the session id (sid), as Entra's do; the logout
        // tokens go to a sink. Apps are told of a sign-out through their front-channel logout
        // URL (below), as Entra tells them.
        backchannelLogout: { enabled: true },
        introspection: { enabled: false },
        revocation: { enabled: false },
        userinfo: { enabled: true },
      },
      pkce: { required: () => false, methods: ['S256'] },
      cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
      ttl: { DeviceCode: 900, Interaction: 600, Session: 3600, Grant: 3600, AuthorizationCode: 600, AccessToken: 3600, ClientCredentials: 3600, IdToken: 3600 },
      interactions: { url: (ctx, interaction) => `/${tenant}/interaction/${interaction.uid}` },
      async findAccount(ctx, id) {
        return { accountId: id, async claims() { return { sub: id }; } };
      },
      async loadExistingGrant(ctx) {
        const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
        if (grantId) return ctx.oidc.provider.Grant.find(grantId);
        const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
        grant.addOIDCScope('openid profile email offline_access');
        await grant.save();
        return grant;
      },
      async renderError(ctx, out) {
        ctx.type = 'html';
        ctx.body = page('Sign-in error', `<h1>Sorry, but we’re having trouble signing you in.</h1>
<p id="error">${escapeHtml(out.error)}</p><p id="error-description">${escapeHtml(out.error_description ?? '')}</p>`);
      },
    });
    provider.on('server_error', (ctx, err) => { if (!quiet) console.error('idp server_error', err); });
    provider.use(async (ctx, next) => {
      await next();
      if (ctx.oidc?.route === 'discovery' && ctx.body) {
        if (tenant === 'common' || tenant === 'organizations') ctx.body.issuer = `${base}/{tenantid}/v2.0`;
        ctx.body.id_token_signing_alg_values_supported = ['RS256'];
        ctx.body.tenant_region_scope = 'EU';
        ctx.body.cloud_instance_name = 'local.test';
      }
      if (ctx.oidc?.route === 'device_authorization' && ctx.body?.device_code) {
        state.deviceScopes.set(ctx.body.device_code, String(ctx.get('x-graph-scopes') ?? '').split(' ').filter(Boolean));
        // Entra's answer carries a message for the person, and polls every 5 seconds.
        ctx.body.interval = state.deviceInterval;
        ctx.body.message = `To sign in, use a web browser to open the page ${ctx.body.verification_uri} and enter the code ${ctx.body.user_code} to authenticate.`;
      }
      const deviceCode = ctx.get('x-device-code');
      if (ctx.oidc?.route === 'token' && deviceCode && ctx.body?.error) {
        // Entra's words for a declined sign-in and for a code it does not know.
        const mapped = { access_denied: ['authorization_declined', '70000', 'The end user denied the authorization request.'],
          invalid_grant: ['bad_verification_code', '70019', 'Verification code expired or is not recognized.'],
          expired_token: ['expired_token', '70020', 'The provided value for the input parameter device_code is expired.'],
          authorization_pending: ['authorization_pending', '70016', 'OAuth 2.0 device flow error. Authorization is pending. Continue polling.'] }[ctx.body.error];
        if (mapped) { ctx.status = 400; ctx.body = aadstsError(...mapped); }
      }
      if (ctx.oidc?.route === 'token' && ctx.body?.id_token) {
        // As Entra's, the access token that comes with the ID token is for Microsoft Graph,
        // with the delegated User.Read that app registrations have from the start; a device
        // code sign-in's carries the Graph scopes it asked for, once consented to.
        let scopes = ['openid', 'profile', 'email', 'User.Read'];
        if (deviceCode) {
          const [tid, oid] = String(jose.decodeJwt(ctx.body.id_token).sub).split('.');
          const dir = directoryOf(tid);
          const client = appOf(ctx.oidc.client.clientId).app;
          const outcome = dir.blockDeviceCode
            ? { problem: ['invalid_grant', '53003', 'Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.'] }
            : consentToClient(dir, userOf(tid, oid), client, ['openid', 'profile', ...(state.deviceScopes.get(deviceCode) ?? [])]);
          if (outcome.problem) { ctx.status = 400; ctx.body = aadstsError(...outcome.problem); return; }
          scopes = outcome.scopes;
        }
        ctx.body.scope = scopes.join(' ');
        ctx.body.access_token = await delegatedGraphToken(ctx.body.id_token, ctx.oidc.client.clientId, scopes.join(' '));
        if (deviceCode) state.deviceTokens.push(ctx.body.access_token);
        ctx.body.id_token = await entraIdToken(ctx.body.id_token, ctx.oidc.client.clientId);
      }
    });
    return provider;
  }

  const providers = new Map();
  const providerFor = (tenant) => {
    if (!providers.has(tenant)) providers.set(tenant, makeProvider(tenant));
    return providers.get(tenant);
  };

  const pairwiseSub = (oid, clientId) => crypto.createHash('sha256').update(`${oid}:${clientId}`).digest('base64url').slice(0, 43);

  /** Re-issues oidc-provider's ID token with Entra's claims, applying a pending bad mode. */
  async function entraIdToken(original, clientId) {
    const issued = jose.decodeJwt(original);
    const [tid, oid] = String(issued.sub).split('.');
    const user = userOf(tid, oid);
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      ver: '2.0', iss: `${base}/${tid}/v2.0`, aud: clientId, iat: now, nbf: now, exp: now + 3600,
      sub: pairwiseSub(oid, clientId), oid, tid, name: user?.name, preferred_username: user?.upn,
      aio: crypto.randomBytes(16).toString('base64url'), uti: crypto.randomBytes(12).toString('base64url'),
    };
    if (issued.nonce !== undefined) claims.nonce = issued.nonce;
    if (issued.auth_time !== undefined) claims.auth_time = issued.auth_time;
    if (issued.sid !== undefined) claims.sid = issued.sid;
    if (user?.email) claims.email = user.email;
    if (user?.emailVerified) claims.xms_edov = true;
    // The app roles assigned to the person (directly or through a group), as Entra sends them.
    const assigned = appOf(clientId)?.app.appRoleAssignments?.[oid];
    if (assigned?.length) claims.roles = assigned;
    const mode = state.nextTokenMode;
    state.nextTokenMode = null;
    let key = state.keys[0];
    switch (mode) {
      case 'wrong_audience': claims.aud = crypto.randomUUID(); break;
      case 'wrong_issuer': claims.iss = `${base}/${crypto.randomUUID()}/v2.0`; break;
      case 'other_tenant': {
        const other = directories().find((d) => d.tenantId !== tid);
        claims.tid = other.tenantId; claims.iss = `${base}/${other.tenantId}/v2.0`; break;
      }
      case 'expired': claims.iat = now - 7200; claims.nbf = now - 7200; claims.exp = now - 3600; break;
      case 'not_yet_valid': claims.nbf = now + 3600; claims.iat = now + 3600; claims.exp = now + 7200; break;
      case 'wrong_nonce': claims.nonce = crypto.randomBytes(16).toString('base64url'); break;
      case 'unknown_key': key = await newSigningKey(); break;
      default: break;
    }
    if (mode === 'alg_none') {
      return `${jose.base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${jose.base64url.encode(JSON.stringify(claims))}.`;
    }
    if (mode === 'hs256') {
      return new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: state.keys[0].kid })
        .sign(new TextEncoder().encode(internalSecret(clientId)));
    }
    let token = await new jose.SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid })
      .sign(key.privateKey);
    if (mode === 'bad_signature') {
      const [h, p, s] = token.split('.');
      const sig = Buffer.from(s, 'base64url');
      sig[0] ^= 0xff;
      token = `${h}.${p}.${sig.toString('base64url')}`;
    }
    return token;
  }

  /**
   * Checks a certificate credential's client assertion as Entra does: an RS256 or PS256 JWT
   * whose `x5t#S256` (or `x5t`) names a certificate uploaded to the app and not expired, signed
   * by its key, with `iss` and `sub` the client id, `aud` this directory's token endpoint, a time
   * window that holds now, and a `jti` not seen before. Answers a problem, or null.
   */
  async function checkAssertion(tenant, clientId, app, assertion) {
    const invalid = (code, text) => [401, aadstsError('invalid_client', code, text)];
    let header; let claims;
    try {
      header = jose.decodeProtectedHeader(assertion);
      claims = jose.decodeJwt(assertion);
    } catch {
      return [400, aadstsError('invalid_request', '50027', 'JWT token is invalid or malformed.')];
    }
    if (!['RS256', 'PS256'].includes(header.alg)) {
      return invalid('5002738', `Invalid JWT token. '${header.alg}' is not a supported signature algorithm.`);
    }
    const used = header['x5t#S256'] ?? header.x5t ?? '';
    const byS256 = Boolean(header['x5t#S256']);
    const certificate = (app.certificates ?? []).find((c) => (byS256 ? c.thumbprintS256 : c.thumbprintSha1) === used);
    if (!certificate) {
      return invalid('700027', `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${used}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${clientId}'.]`);
    }
    if (new Date(certificate.expires) <= new Date()) {
      return invalid('700027', `Client assertion failed signature validation. [Reason - The key used is expired., Thumbprint of key used by client: '${used}']`);
    }
    try {
      const key = await jose.importX509(certificate.pem, header.alg);
      await jose.compactVerify(assertion, key);
    } catch {
      return invalid('700027', 'Client assertion failed signature validation.');
    }
    if (claims.iss !== clientId || claims.sub !== clientId) {
      return invalid('700021', "Client assertion application identifier doesn't match 'client_id' parameter.");
    }
    const audience = /^(.*)\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(String(claims.aud ?? ''));
    if (!audience || audience[1] !== base || directoryOf(audience[2]) !== directoryOf(tenant)) {
      return invalid('50027', `Invalid JWT token. Token audience '${claims.aud}' is not this directory's token endpoint.`);
    }
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.exp !== 'number' || claims.exp <= now - 300 || (typeof claims.nbf === 'number' && claims.nbf > now + 300) || claims.exp - (claims.nbf ?? claims.iat ?? now) > 600) {
      return invalid('700024', 'Client assertion is not within its valid time range.');
    }
    if (!claims.jti || state.usedAssertions.has(claims.jti)) {
      return invalid('50027', 'Invalid JWT token. The jti claim is missing or was used before.');
    }
    state.usedAssertions.add(claims.jti);
    return null;
  }

  /** A DER or PEM certificate as the app's keyCredential: thumbprints, expiry, PEM. */
  function keyCredential(certificate) {
    const text = String(certificate).trim();
    const der = text.startsWith('-----BEGIN') ? new crypto.X509Certificate(text).raw : Buffer.from(text, 'base64');
    const x509 = new crypto.X509Certificate(der);
    return {
      thumbprintS256: crypto.createHash('sha256').update(der).digest('base64url'),
      thumbprintSha1: crypto.createHash('sha1').update(der).digest('base64url'),
      thumbprint: crypto.createHash('sha1').update(der).digest('hex').toUpperCase(),
      expires: new Date(x509.validTo).toISOString(),
      pem: x509.toString(),
    };
  }

  /** Checks a token request's client authentication the way Entra words its failures. */
  async function checkClient(tenant, form, headers) {
    let clientId = form.get('client_id');
    let secret = form.get('client_secret');
    const basic = /^Basic (.+)$/i.exec(headers.authorization ?? '');
    if (basic) {
      const [id, pw] = Buffer.from(basic[1], 'base64').toString('utf8').split(':').map(decodeURIComponent);
      clientId = id; secret = pw;
    }
    const dir = directoryOf(tenant);
    const found = clientId ? appOf(clientId) : null;
    if (!found || (dir && found.dir && found.dir !== dir)) {
      return [400, aadstsError('unauthorized_client', '700016', `Application with identifier '${clientId}' was not found in the directory '${dir?.displayName ?? tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`)];
    }
    const assertion = form.get('client_assertion');
    if (found.app.publicClient) {
      if (assertion || secret) return [401, aadstsError('invalid_client', '700025', "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")];
      return null;
    }
    if (assertion && !secret) {
      if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
        return [400, aadstsError('invalid_request', '50027', "client_assertion_type must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.")];
      }
      const problem = await checkAssertion(tenant, clientId, found.app, assertion);
      if (problem) return problem;
      state.assertionsAccepted += 1;
      form.delete('client_assertion');
      form.delete('client_assertion_type');
      form.set('client_id', clientId);
      form.set('client_secret', internalSecret(clientId));
      return null;
    }
    if (!secret) {
      return [401, aadstsError('invalid_client', '7000218', "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")];
    }
    const match = found.app.secrets.find((s) => s.value === secret);
    if (!match) {
      return [401, aadstsError('invalid_client', '7000215', `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`)];
    }
    if (new Date(match.expires) <= new Date()) {
      return [401, aadstsError('invalid_client', '7000222', `The provided client secret keys for app '${clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`)];
    }
    form.delete('client_secret');
    form.set('client_id', clientId);
    form.set('client_secret', internalSecret(clientId));
    delete headers.authorization;
    return null;
  }

  /** Checks an authorization request before oidc-provider sees it, for Entra's error pages. */
  function checkAuthorize(tenant, url) {
    const clientId = url.searchParams.get('client_id');
    const dir = directoryOf(tenant);
    const found = clientId ? appOf(clientId) : null;
    if (!found || (dir && found.dir !== dir)) {
      return `AADSTS700016: Application with identifier '${clientId}' was not found in the directory '${dir?.displayName ?? tenant}'.`;
    }
    const redirect = url.searchParams.get('redirect_uri');
    if (!found.app.redirectUris.includes(redirect)) {
      return `AADSTS50011: The redirect URI '${redirect}' specified in the request does not match the redirect URIs configured for the application '${clientId}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.`;
    }
    return null;
  }

  async function interaction(req, res, tenant, uid, action) {
    const provider = providerFor(tenant);
    const details = await provider.interactionDetails(req, res);
    const clientId = details.params.client_id;
    const loginHint = details.params.login_hint ?? '';
    const form = (error, username = loginHint) => page('Sign in', `<h1>Sign in</h1>
${error ? `<p role="alert" id="login-error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/${tenant}/interaction/${uid}/login">
<p><label for="username">Email, phone, or Skype</label><br><input id="username" name="username" autocomplete="username" value="${escapeHtml(username)}"></p>
<p><label for="password">Password</label><br><input id="password" name="password" type="password" autocomplete="current-password"></p>
<p><button type="submit">Sign in</button></p></form>`);
    if (action !== 'login' || req.method !== 'POST') return sendHtml(res, 200, form());
    const fields = new URLSearchParams(await readBody(req));
    const username = (fields.get('username') ?? '').trim().toLowerCase();
    const dir = directoryOf(tenant);
    const candidates = dir ? [dir] : directories();
    let user = null; let userDir = null;
    for (const d of candidates) {
      const u = d.users.find((x) => x.upn.toLowerCase() === username);
      if (u) { user = u; userDir = d; }
    }
    if (!user || user.password !== fields.get('password')) {
      return sendHtml(res, 200, form('Your account or password is incorrect.', fields.get('username') ?? ''));
    }
    const app = appOf(clientId)?.app;
    if (app?.assignmentRequired && !app.assignedUsers.includes(user.oid)) {
      return provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: `AADSTS50105: Your administrator has configured the application ${app.displayName} ('${clientId}') to block users unless they are specifically granted ('assigned') access to the application. The signed in user '${user.upn}' is blocked because they are not a direct member of a group with access, nor had access directly assigned by an administrator.`,
      }, { mergeWithLastSubmission: false });
    }
    if (app?.consentRequired) {
      return provider.interactionFinished(req, res, {
        error: 'consent_required',
        error_description: `AADSTS65001: The user or administrator has not consented to use the application with ID '${clientId}' named '${app.displayName}'. Send an interactive authorization request for this user and resource.`,
      }, { mergeWithLastSubmission: false });
    }
    return provider.interactionFinished(req, res, { login: { accountId: `${userDir.tenantId}.${user.oid}` } }, { mergeWithLastSubmission: false });
  }

  async function testHook(req, res, url) {
    const route = url.pathname.slice('/_test'.length);
    const body = req.method === 'GET' || req.method === 'DELETE' ? {} : JSON.parse((await readBody(req)) || '{}');
    if (await saml.testHook(req, res, route, body) !== null) return undefined;
    if (req.method === 'POST' && route === '/rotate-keys') {
      state.keys.unshift(await newSigningKey());
      state.keys = state.keys.slice(0, 3);
      return sendJson(res, 200, { kid: state.keys[0].kid, published: state.keys.map((k) => k.kid) });
    }
    if (req.method === 'POST' && route === '/next-token') {
      if (!BAD_TOKEN_MODES.includes(body.mode)) return sendJson(res, 400, { error: `mode must be one of ${BAD_TOKEN_MODES.join(', ')}` });
      state.nextTokenMode = body.mode;
      return sendJson(res, 200, { mode: body.mode });
    }
    if (req.method === 'POST' && route === '/apps') {
      const dir = directoryOf(body.tenantId ?? '');
      if (!dir || !body.clientId) return sendJson(res, 400, { error: 'tenantId of a known directory and clientId are required' });
      for (const d of directories()) d.apps = d.apps.filter((a) => a.clientId !== body.clientId);
      dir.apps.push({
        displayName: body.displayName ?? 'Gatehouse', clientId: body.clientId, secrets: body.secrets ?? [],
        certificates: (body.certificates ?? []).map(keyCredential),
        redirectUris: body.redirectUris ?? [], logoutUris: body.logoutUris ?? [],
        frontchannelLogoutUri: body.frontchannelLogoutUri,
        assignmentRequired: Boolean(body.assignmentRequired), assignedUsers: body.assignedUsers ?? [],
        consentRequired: Boolean(body.consentRequired), graphPermissions: body.graphPermissions ?? [],
        appRoleAssignments: body.appRoleAssignments ?? {},
      });
      return sendJson(res, 201, { clientId: body.clientId });
    }
    // What an admin does under "Certificates & secrets", Certificates, "Upload certificate".
    if (req.method === 'POST' && route === '/apps/certificates') {
      const found = appOf(body.clientId ?? '');
      if (!found || !body.certificate) return sendJson(res, 400, { error: 'clientId of a registered app and certificate (base64 DER or PEM) are required' });
      let credential;
      try { credential = keyCredential(body.certificate); } catch (e) { return sendJson(res, 400, { error: `not a certificate: ${e.message}` }); }
      found.app.certificates = [...(found.app.certificates ?? []).filter((c) => c.thumbprint !== credential.thumbprint), credential];
      return sendJson(res, 201, { thumbprint: credential.thumbprint, expires: credential.expires });
    }
    // Makes every secret and certificate of an app expire now, as time would.
    if (req.method === 'POST' && route === '/apps/expire-credentials') {
      const found = appOf(body.clientId ?? '');
      if (!found) return sendJson(res, 400, { error: 'clientId of a registered app is required' });
      const past = new Date(Date.now() - 1000).toISOString();
      for (const s of found.app.secrets) s.expires = past;
      for (const c of found.app.certificates ?? []) c.expires = past;
      return sendJson(res, 200, { clientId: body.clientId, expired: found.app.secrets.length + (found.app.certificates ?? []).length });
    }
    if (req.method === 'POST' && route === '/apps/graph-permissions') {
      const found = appOf(body.clientId ?? '');
      if (!found || !Array.isArray(body.graphPermissions)) return sendJson(res, 400, { error: 'clientId of a registered app and graphPermissions are required' });
      found.app.graphPermissions = body.graphPermissions;
      return sendJson(res, 200, { clientId: body.clientId, graphPermissions: body.graphPermissions });
    }
    if (req.method === 'POST' && route === '/outage') {
      const dir = directoryOf(body.tenantId ?? '');
      if (!dir || ![null, 'hang', 'error'].includes(body.mode ?? null)) return sendJson(res, 400, { error: "tenantId of a known directory and mode 'hang', 'error' or null are required" });
      if (body.mode) {
        state.outages.set(dir.tenantId, body.mode);
      } else {
        state.outages.delete(dir.tenantId);
        for (const waiting of state.hanging) waiting.destroy();
        state.hanging.clear();
      }
      return sendJson(res, 200, { tenantId: dir.tenantId, mode: body.mode ?? null });
    }
    if (req.method === 'POST' && route === '/apps/app-roles') {
      const found = appOf(body.clientId ?? '');
      if (!found || !body.oid || !Array.isArray(body.roles)) return sendJson(res, 400, { error: 'clientId of a registered app, oid and roles are required' });
      found.app.appRoleAssignments = { ...found.app.appRoleAssignments, [body.oid]: body.roles };
      return sendJson(res, 200, { clientId: body.clientId, oid: body.oid, roles: body.roles });
    }
    if (req.method === 'POST' && route === '/users') {
      const dir = directoryOf(body.tenantId ?? '');
      if (!dir || !Array.isArray(body.users)) return sendJson(res, 400, { error: 'tenantId of a known directory and users are required' });
      for (const u of body.users) {
        if (!u.oid || !u.upn || !u.name) return sendJson(res, 400, { error: 'every user needs oid, upn and name' });
      }
      const added = new Set(body.users.map((u) => u.oid));
      dir.users = [...dir.users.filter((u) => !added.has(u.oid)), ...body.users];
      return sendJson(res, 201, { users: dir.users.length });
    }
    if (req.method === 'POST' && route === '/users/remove') {
      const dir = directoryOf(body.tenantId ?? '');
      if (!dir || !body.oid) return sendJson(res, 400, { error: 'tenantId of a known directory and oid are required' });
      dir.users = dir.users.filter((u) => u.oid !== body.oid);
      return sendJson(res, 200, { users: dir.users.length });
    }
    if (req.method === 'POST' && route === '/domains') {
      const dir = directoryOf(body.tenantId ?? '');
      if (!dir || !Array.isArray(body.domains)) return sendJson(res, 400, { error: 'tenantId of a known directory and domains are required' });
      dir.domains = body.domains.map((d) => String(d).toLowerCase());
      return sendJson(res, 200, { domains: dir.domains });
    }
    if (req.method === 'POST' && route === '/backchannel-sink') {
      await readBody(req);
      return sendJson(res, 200, {});
    }
    if (req.method === 'GET' && route === '/stats') {
      return sendJson(res, 200, { tokenRequests: state.tokenRequests, keyRequests: state.keyRequests, discoveryRequests: state.discoveryRequests, graphRequests: state.graphRequests, assertionsAccepted: state.assertionsAccepted, keysAdded: state.keysAdded ?? 0, keysRemoved: state.keysRemoved ?? 0, kids: state.keys.map((k) => k.kid) });
    }
    // The next device code polls answer these errors, in order.
    if (req.method === 'POST' && route === '/device-poll-errors') {
      if (!Array.isArray(body.errors)) return sendJson(res, 400, { error: 'errors (a list) is required' });
      state.devicePollErrors = [...body.errors];
      return sendJson(res, 200, { errors: state.devicePollErrors });
    }
    if (req.method === 'POST' && route === '/device-interval') {
      state.deviceInterval = Number(body.seconds ?? 5);
      return sendJson(res, 200, { seconds: state.deviceInterval });
    }
    if (req.method === 'GET' && route === '/device-tokens') return sendJson(res, 200, { tokens: state.deviceTokens });
    if (req.method === 'POST' && route === '/replication-delay') {
      state.replicationDelayMs = Number(body.ms ?? 0);
      return sendJson(res, 200, { ms: state.replicationDelayMs });
    }
    // A Conditional Access policy that blocks the device code flow in one directory.
    if (req.method === 'POST' && route === '/conditional-access') {
      const dir = directoryOf(body.tenantId ?? '');
      if (!dir) return sendJson(res, 400, { error: 'tenantId of a known directory is required' });
      dir.blockDeviceCode = Boolean(body.blockDeviceCode);
      return sendJson(res, 200, { tenantId: dir.tenantId, blockDeviceCode: dir.blockDeviceCode });
    }
    // What a directory holds of app registrations, for tests to check.
    if (req.method === 'GET' && route === '/registrations') {
      const dir = directoryOf(url.searchParams.get('tenantId') ?? '');
      if (!dir) return sendJson(res, 400, { error: 'tenantId of a known directory is required' });
      return sendJson(res, 200, {
        apps: dir.apps.filter((a) => a.objectId).map((a) => ({ objectId: a.objectId, clientId: a.clientId, displayName: a.displayName, tags: a.tags, signInAudience: a.signInAudience,
          redirectUris: a.redirectUris, homePageUrl: a.homePageUrl, frontchannelLogoutUri: a.frontchannelLogoutUri, optionalClaims: a.optionalClaims,
          requiredResourceAccess: a.requiredResourceAccess, certificates: (a.certificates ?? []).map((c) => ({ keyId: c.keyId, thumbprint: c.thumbprint, expires: c.expires })),
          secrets: a.secrets.length, consentRequired: a.consentRequired, graphPermissions: a.graphPermissions })),
        servicePrincipals: dir.servicePrincipals ?? [], permissionGrants: dir.permissionGrants ?? [], appRoleAssignments: dir.appRoleAssignments ?? [],
      });
    }
    if (req.method === 'POST' && route === '/reset') {
      state.data = JSON.parse(fs.readFileSync(dataFile, 'utf8'));
      state.nextTokenMode = null;
      state.devicePollErrors = [];
      state.replicationDelayMs = 0;
      state.deviceInterval = 5;
      saml.reset();
      state.outages.clear();
      for (const waiting of state.hanging) waiting.destroy();
      state.hanging.clear();
      return sendJson(res, 200, { reset: true });
    }
    return sendJson(res, 404, { error: 'unknown test hook' });
  }

  /** An app-only Microsoft Graph access token: the app's granted application permissions as roles. */
  async function graphAccessToken(clientId) {
    const { dir, app } = appOf(clientId);
    const now = Math.floor(Date.now() / 1000);
    const key = state.keys[0];
    const token = await new jose.SignJWT({
      aud: GRAPH_AUDIENCE, iss: `https://sts.windows.net/${dir.tenantId}/`, iat: now, nbf: now, exp: now + 3600,
      appid: clientId, app_displayname: app.displayName, idtyp: 'app', tid: dir.tenantId,
      roles: app.graphPermissions ?? [], ver: '1.0',
    }).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid }).sign(key.privateKey);
    return { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: token };
  }

  /** A delegated Microsoft Graph access token for the person oidc-provider's ID token names. */
  async function delegatedGraphToken(original, clientId, scp = 'openid profile email User.Read') {
    const [tid, oid] = String(jose.decodeJwt(original).sub).split('.');
    const now = Math.floor(Date.now() / 1000);
    const key = state.keys[0];
    return new jose.SignJWT({
      aud: GRAPH_AUDIENCE, iss: `https://sts.windows.net/${tid}/`, iat: now, nbf: now, exp: now + 3600,
      appid: clientId, idtyp: 'user', tid, oid, scp, ver: '1.0',
    }).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid }).sign(key.privateKey);
  }

  /** Microsoft Graph's error body. */
  function graphError(res, status, code, message) {
    const date = new Date().toISOString().slice(0, 19);
    return sendJson(res, status, { error: { code, message, innerError: { date, 'request-id': crypto.randomUUID(), 'client-request-id': crypto.randomUUID() } } });
  }

  const GRAPH_USER_FIELDS = ['id', 'displayName', 'userPrincipalName', 'mail', 'accountEnabled'];
  const graphUser = (u) => ({ id: u.oid, displayName: u.name, userPrincipalName: u.upn, mail: u.email ?? null, accountEnabled: u.accountEnabled ?? true });

  /** One `$filter` clause: startswith(field,'text') or field eq 'text', on the user fields. */
  function filterClause(text) {
    const m = /^\s*(?:startswith\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)|(\w+)\s+eq\s+'((?:[^']|'')*)')\s*$/i.exec(text);
    if (!m) return null;
    const field = m[1] ?? m[3];
    if (!['displayName', 'userPrincipalName', 'mail', 'id'].includes(field)) return null;
    const value = (m[2] ?? m[4]).replace(/''/g, "'").toLowerCase();
    return m[1]
      ? (u) => String(u[field] ?? '').toLowerCase().startsWith(value)
      : (u) => String(u[field] ?? '').toLowerCase() === value;
  }

  const registrations = graphApplications({ state, directoryOf, userOf, keyCredential, graphError, sendJson, readBody, base });

  /** The Microsoft Graph stand-in: users for app-only tokens, the organization, and app registrations. */
  async function graph(req, res, url) {
    const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '');
    if (!bearer) return graphError(res, 401, 'InvalidAuthenticationToken', 'Access token is empty.');
    let claims;
    try {
      const keys = jose.createLocalJWKSet({ keys: state.keys.map((k) => k.publicJwk) });
      ({ payload: claims } = await jose.jwtVerify(bearer[1], keys, { audience: GRAPH_AUDIENCE }));
    } catch {
      return graphError(res, 401, 'InvalidAuthenticationToken', 'Access token validation failure. Invalid audience.');
    }
    const roles = Array.isArray(claims.roles) ? claims.roles : [];
    const scopes = String(claims.scp ?? '').split(' ');
    if (url.pathname === '/v1.0/organization') {
      // The signed-in person's directory, for delegated User.Read or app-only Organization.Read.All.
      if (!scopes.includes('User.Read') && !roles.includes('Organization.Read.All')) {
        return graphError(res, 403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
      }
      const dir = directoryOf(String(claims.tid ?? ''));
      if (!dir) return graphError(res, 401, 'InvalidAuthenticationToken', 'Access token validation failure.');
      state.graphRequests += 1;
      const verifiedDomains = dir.domains.map((name, i) => ({
        capabilities: 'Email, OfficeCommunicationsOnline', isDefault: i === dir.domains.length - 1,
        isInitial: name.endsWith('.onmicrosoft.com'), name, type: 'Managed',
      }));
      return sendJson(res, 200, { '@odata.context': `${base}/v1.0/$metadata#organization`, value: [{ id: dir.tenantId, displayName: dir.displayName, verifiedDomains }] });
    }
    if (await registrations(req, res, url, claims)) return undefined;
    if (!roles.includes('User.Read.All') && !roles.includes('Directory.Read.All')) {
      return graphError(res, 403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
    }
    const dir = directoryOf(String(claims.tid ?? ''));
    if (!dir) return graphError(res, 401, 'InvalidAuthenticationToken', 'Access token validation failure.');
    state.graphRequests += 1;
    const select = (url.searchParams.get('$select') ?? GRAPH_USER_FIELDS.join(',')).split(',').map((f) => f.trim()).filter(Boolean);
    const shape = (u) => Object.fromEntries(select.filter((f) => f in graphUser(u)).map((f) => [f, graphUser(u)[f]]));
    const one = /^\/v1\.0\/users\/([^/]+)$/.exec(url.pathname);
    if (one) {
      const id = decodeURIComponent(one[1]).toLowerCase();
      const user = dir.users.find((u) => u.oid === id || u.upn.toLowerCase() === id);
      if (!user) return graphError(res, 404, 'Request_ResourceNotFound', `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`);
      return sendJson(res, 200, { '@odata.context': `${base}/v1.0/$metadata#users/$entity`, ...shape(user) });
    }
    if (url.pathname !== '/v1.0/users') return graphError(res, 400, 'BadRequest', `Resource not found for the segment '${url.pathname.split('/').pop()}'.`);
    const top = Number(url.searchParams.get('$top') ?? 100);
    if (!Number.isInteger(top) || top < 1 || top > 999) return graphError(res, 400, 'Request_UnsupportedQuery', `Invalid page size specified: '${url.searchParams.get('$top')}'. Must be between 1 and 999 inclusive.`);
    let users = [...dir.users].sort((a, b) => a.oid.localeCompare(b.oid)).map(graphUser);
    const filter = url.searchParams.get('$filter');
    if (filter) {
      const clauses = filter.split(/\s+or\s+/i).map(filterClause);
      if (clauses.some((c) => c === null)) return graphError(res, 400, 'Request_UnsupportedQuery', 'Unsupported Query.');
      users = users.filter((u) => clauses.some((c) => c(u)));
    }
    const skip = Number(Buffer.from(url.searchParams.get('$skiptoken') ?? 'MA', 'base64url').toString('utf8')) || 0;
    const value = users.slice(skip, skip + top);
    const body = { '@odata.context': `${base}/v1.0/$metadata#users(${select.join(',')})`, value: value.map((u) => Object.fromEntries(select.filter((f) => f in u).map((f) => [f, u[f]]))) };
    if (skip + top < users.length) {
      const next = new URL(`${base}/v1.0/users`);
      for (const [k, v] of url.searchParams) if (k !== '$skiptoken') next.searchParams.set(k, v);
      next.searchParams.set('$skiptoken', Buffer.from(String(skip + top)).toString('base64url'));
      body['@odata.nextLink'] = next.toString();
    }
    return sendJson(res, 200, body);
  }

  async function handle(req, res) {
    const url = new URL(req.url, base);
    if (url.pathname === '/' || url.pathname === '/healthz') return sendJson(res, 200, { status: 'ok', directories: directories().map((d) => d.tenantId) });
    if (url.pathname.startsWith('/_test/')) return testHook(req, res, url);
    if (url.pathname.startsWith('/v1.0/')) return graph(req, res, url);
    const [, tenant, ...restParts] = url.pathname.split('/');
    const rest = `/${restParts.join('/')}`;
    const shared = tenant === 'common' || tenant === 'organizations';
    const dir = shared ? null : directoryOf(tenant ?? '');
    if (!shared && !dir) {
      return sendJson(res, 400, aadstsError('invalid_tenant', '90002', `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`));
    }
    // A verified domain works like the directory's GUID.
    const key = shared ? tenant : dir.tenantId;
    // An outage: every endpoint of the directory hangs, or answers as a failing front end does.
    const outage = shared ? null : state.outages.get(key);
    if (outage === 'hang') {
      state.hanging.add(res);
      res.on('close', () => state.hanging.delete(res));
      return undefined;
    }
    if (outage === 'error') {
      return sendHtml(res, 503, page('Service Unavailable', '<h1>Service Unavailable</h1><p>The service is temporarily unavailable.</p>'));
    }
    if (dir && await saml.handle(req, res, dir, rest, url)) return undefined;
    const interactionMatch = /^\/interaction\/([^/]+)(?:\/(login))?$/.exec(rest);
    if (interactionMatch) return interaction(req, res, key, interactionMatch[1], interactionMatch[2]);
    if (rest === ROUTES.jwks) {
      state.keyRequests += 1;
      return sendJson(res, 200, { keys: state.keys.map((k) => k.publicJwk) });
    }
    if (rest === ROUTES.authorization && req.method === 'GET' && !url.searchParams.has('resume')) {
      const problem = checkAuthorize(key, url);
      if (problem) {
        return sendHtml(res, 400, page('Sign-in error', `<h1>Sorry, but we’re having trouble signing you in.</h1><p id="error-description">${escapeHtml(problem)}</p>`));
      }
    }
    let target = rest;
    if (rest === '/v2.0/.well-known/openid-configuration') {
      state.discoveryRequests += 1;
      target = '/.well-known/openid-configuration';
    }
    if (rest === ROUTES.token || rest === ROUTES.device_authorization) {
      if (rest === ROUTES.token) state.tokenRequests += 1;
      const form = new URLSearchParams(await readBody(req));
      // Entra's app-only requests name a resource's ".default" scope; this provider has none.
      if ((form.get('scope') ?? '').includes('/.default')) form.delete('scope');
      const problem = await checkClient(key, form, req.headers);
      if (problem) return sendJson(res, problem[0], problem[1]);
      if (rest === ROUTES.device_authorization) {
        // Graph's delegated scopes are Entra's, not this provider's: kept aside for the token.
        const asked = (form.get('scope') ?? '').split(' ').filter(Boolean);
        const graphScopes = asked.filter((s) => s.includes('/')).map((s) => s.split('/').pop());
        form.set('scope', asked.filter((s) => !s.includes('/')).join(' '));
        req.headers['x-graph-scopes'] = graphScopes.join(' ');
      }
      if (rest === ROUTES.token && form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:device_code') {
        req.headers['x-device-code'] = form.get('device_code') ?? '';
        const queued = state.devicePollErrors.shift();
        if (queued) {
          const codes = { authorization_pending: '70016', slow_down: '70016', authorization_declined: '70000', bad_verification_code: '70019', expired_token: '70020' };
          return sendJson(res, 400, aadstsError(queued, codes[queued] ?? '70000', `OAuth 2.0 device flow error: ${queued}.`));
        }
      }
      if (rest === ROUTES.token && form.get('grant_type') === 'client_credentials') {
        return sendJson(res, 200, await graphAccessToken(form.get('client_id')));
      }
      req.body = form.toString();
      req.headers['content-length'] = String(Buffer.byteLength(req.body));
    }
    // oidc-provider derives its mount path from originalUrl minus url: here, "/<directory>".
    req.originalUrl = `/${key}${target}${url.search}`;
    req.url = `${target}${url.search}`;
    return providerFor(key).callback()(req, res);
  }

  server.on('request', (req, res) => {
    handle(req, res).catch((err) => {
      if (!quiet) console.error(err);
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: String(err.message) });
    });
  });

  return {
    url: base,
    state,
    tenantUrl: (tenant) => `${base}/${tenant}/v2.0`,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}
