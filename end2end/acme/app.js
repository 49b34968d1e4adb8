// "Acme Backup": a vendor application that signs its customers' people in through Gatehouse,
// written the way a vendor would. Express 5 with the OpenID-certified openid-client library,
// configured only from Gatehouse's discovery URL, a client ID and a client secret; logout
// tokens (OpenID Connect Back-Channel Logout 1.0) are checked with jose.
//
//   GATEHOUSE_URL=http://127.0.0.1:3000 ACME_CLIENT_ID=… ACME_CLIENT_SECRET=… node acme/app.js
import express from 'express';
import session from 'express-session';
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

function escape(text) {
  return String(text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body><header><strong>Acme Backup</strong></header><main>${body}</main></body></html>`;
}

/** Starts Acme Backup on `port`; answers its address and a function that stops it. */
export async function startAcme({ port, host = 'localhost', issuer, clientId, clientSecret }) {
  const base = `http://${host}:${port}`;
  const redirectUri = `${base}/auth/callback`;
  // Gatehouse on plain http (a test on one machine) needs openid-client's explicit consent.
  const options = issuer.startsWith('http:') ? { execute: [client.allowInsecureRequests] } : undefined;
  const config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined, options);
  const metadata = config.serverMetadata();
  const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri));

  // The sessions of each Gatehouse session (`sid`), so a logout token can end them.
  const store = new session.MemoryStore();
  const sessionsBySid = new Map();

  const app = express();
  app.disable('x-powered-by');
  app.use(session({
    name: 'acme.sid',
    store,
    secret: 'acme-demo-session-secret-0123456789',
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax', secure: false },
  }));

  app.get('/', (req, res) => {
    const user = req.session.user;
    if (!user) {
      res.send(page('Acme Backup', `<h1>Acme Backup</h1>
        <p>Your backups, protected by your company's sign-in.</p>
        <p><a href="/login">Sign in with your company</a></p>`));
      return;
    }
    res.send(page('Acme Backup', `<h1>Welcome, ${escape(user.name)}</h1>
      <dl>
        <dt>Email</dt><dd id="email">${escape(user.email)}</dd>
        <dt>Organization</dt><dd id="organization">${escape(user.org_name)}</dd>
        <dt>Role</dt><dd id="role">${escape(user.role)}</dd>
      </dl>
      <form method="post" action="/logout"><button type="submit">Sign out</button></form>`));
  });

  app.get('/login', async (req, res, next) => {
    try {
      const codeVerifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      req.session.login = { codeVerifier, state, nonce };
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid profile email',
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      res.redirect(url.href);
    } catch (e) { next(e); }
  });

  app.get('/auth/callback', async (req, res) => {
    const login = req.session.login;
    if (!login) {
      res.status(400).send(page('Sign-in failed', '<p>This sign-in was not started here. <a href="/login">Try again</a>.</p>'));
      return;
    }
    try {
      const tokens = await client.authorizationCodeGrant(config, new URL(req.originalUrl, base), {
        pkceCodeVerifier: login.codeVerifier, expectedState: login.state, expectedNonce: login.nonce, idTokenExpected: true,
      });
      const claims = tokens.claims();
      req.session.regenerate((err) => {
        if (err) { res.status(500).send(page('Error', '<p>Session error.</p>')); return; }
        req.session.user = {
          sub: claims.sub, name: claims.name, email: claims.email,
          org_name: claims.org_name, org_slug: claims.org_slug, role: claims.role, sid: claims.sid,
        };
        req.session.idToken = tokens.id_token;
        const ids = sessionsBySid.get(claims.sid) ?? new Set();
        ids.add(req.session.id);
        sessionsBySid.set(claims.sid, ids);
        res.redirect('/');
      });
    } catch (e) {
      res.status(401).send(page('Sign-in failed', `<p>${escape(e.message)}</p><p><a href="/login">Try again</a>.</p>`));
    }
  });

  // Signs out here and at Gatehouse (RP-Initiated Logout), then comes back to the start page.
  app.post('/logout', (req, res) => {
    const idToken = req.session.idToken;
    req.session.destroy(() => {
      if (!idToken) { res.redirect('/'); return; }
      const url = client.buildEndSessionUrl(config, { id_token_hint: idToken, post_logout_redirect_uri: `${base}/` });
      res.redirect(url.href);
    });
  });

  // Gatehouse says a person's session ended: end Acme's sessions of that Gatehouse session.
  app.post('/backchannel-logout', express.urlencoded({ extended: false }), async (req, res) => {
    try {
      const { payload } = await jwtVerify(req.body.logout_token ?? '', jwks, {
        issuer: metadata.issuer, audience: clientId, typ: 'logout+jwt', maxTokenAge: '2 minutes',
      });
      if (!payload.events?.[LOGOUT_EVENT] || 'nonce' in payload || !(payload.sid || payload.sub)) {
        throw new Error('not a logout token');
      }
      const ids = sessionsBySid.get(payload.sid) ?? new Set();
      for (const id of ids) store.destroy(id, () => {});
      sessionsBySid.delete(payload.sid);
      res.set('Cache-Control', 'no-store').status(200).end();
    } catch (e) {
      res.status(400).json({ error: 'invalid_request', error_description: e.message });
    }
  });

  const server = await new Promise((resolve) => {
    const s = app.listen(port, '127.0.0.1', () => resolve(s));
  });
  return {
    url: base,
    redirectUri,
    backchannelLogoutUri: `${base}/backchannel-logout`,
    postLogoutRedirectUri: `${base}/`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const acme = await startAcme({
    port: Number(process.env.ACME_PORT ?? 4300),
    issuer: process.env.GATEHOUSE_URL ?? 'http://127.0.0.1:3000',
    clientId: process.env.ACME_CLIENT_ID,
    clientSecret: process.env.ACME_CLIENT_SECRET,
  });
  console.log(`Acme Backup on ${acme.url}`);
}
