// The reference point of the vendor-app benchmark (bench/vendor-app.sh): the OpenID-certified
// oidc-provider package doing what Gatehouse does for a vendor's application whose user already
// has a session: authorize (the session answers at once, the grant is kept) → code → token →
// userinfo, signing ID tokens with the same algorithm (PEER_ALG: ES256 or RS256). Sessions,
// grants and tokens live in its in-memory adapter. The first authorize of each user signs them
// in without a form (the interaction takes `login_hint` as the account), as the benchmark's
// users already have a session when it measures.
//
//   PORT=9600 PEER_ALG=ES256 node end2end/peers/oidc-provider-peer.mjs
import Provider from 'oidc-provider';
import * as jose from 'jose';

const PORT = Number(process.env.PORT ?? 9600);
const ALG = process.env.PEER_ALG ?? 'ES256';
const ISSUER = `http://127.0.0.1:${PORT}`;
export const CLIENT_ID = 'acme-backup';
export const CLIENT_SECRET = 'peer-bench-secret-0123456789abcdef0123456789';
export const REDIRECT_URI = 'http://127.0.0.1:9/acme/callback';

const { privateKey } = await jose.generateKeyPair(ALG, { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), kid: 'peer-1', use: 'sig', alg: ALG };

const provider = new Provider(ISSUER, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: [REDIRECT_URI],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: ALG,
  }],
  jwks: { keys: [jwk] },
  scopes: ['openid', 'profile', 'email'],
  claims: { openid: ['sub'], profile: ['name', 'org_id', 'org_slug', 'org_name', 'role'], email: ['email', 'email_verified'] },
  features: { devInteractions: { enabled: false }, userinfo: { enabled: true } },
  pkce: { required: () => true, methods: ['S256'] },
  cookies: { keys: ['peer-cookie-key-0123456789abcdef'] },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id, name: `Member ${id}`, email: `${id}@contoso.com`, email_verified: true,
          org_id: '6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11', org_slug: 'contoso', org_name: 'Contoso', role: 'member',
        };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile email');
    await grant.save();
    return grant;
  },
});
provider.proxy = false;

// The interaction signs the person in as their login_hint: no form to fill.
provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/interaction/')) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const accountId = String(details.params.login_hint ?? 'user');
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId } }, { mergeWithLastSubmission: false });
    ctx.respond = false;
    return;
  }
  await next();
});

const server = provider.listen(PORT, '127.0.0.1', () => {
  console.log(`oidc-provider peer on ${ISSUER} (${ALG}, pid ${process.pid})`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => { server.close(); process.exit(0); });
