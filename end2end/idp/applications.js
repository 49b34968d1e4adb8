// The Microsoft Graph calls that manage app registrations, as the local Entra-shaped provider
// serves them: applications (create, find by tag, read, update, delete, addKey, removeKey,
// addPassword), service principals, delegated permission grants (admin consent) and app role
// assignments (application permissions). Each checks what Entra checks: the token's delegated
// scopes (`scp`) or the app's own identity, and the signed-in person's directory role; failures
// come back with Graph's error bodies. New objects can be made to replicate late
// (POST /_test/replication-delay), as Entra's do.

import crypto from 'node:crypto';
import * as jose from 'jose';

/** Microsoft Graph's application id, the same in every directory. */
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
/** The audience of addKey and removeKey proofs. */
const PROOF_AUDIENCE = '00000002-0000-0000-c000-000000000000';
/** Microsoft Graph's permission ids: delegated scopes and the User.Read.All app role. */
export const GRAPH_SCOPES = {
  openid: '37f7f235-527c-4136-accd-4a02d197296e',
  profile: '14dad69e-099b-42c9-810b-d002981feec1',
  email: '64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0',
  'User.Read': 'e1fe6dd8-ba31-4d61-89e7-88639da4683d',
};
export const USER_READ_ALL_ROLE = 'df021288-bdef-4463-88db-98f22de89214';

/** Roles that may create app registrations, and those that may grant tenant-wide consent. */
const APP_ADMINS = ['Global Administrator', 'Application Administrator', 'Cloud Application Administrator'];
const CONSENT_ADMINS = ['Global Administrator', 'Privileged Role Administrator'];

/** A stable GUID for Microsoft Graph's service principal in one directory. */
const graphSpId = (dir) => {
  const h = crypto.createHash('sha256').update(`graph-sp:${dir.tenantId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

export function graphApplications({ state, directoryOf, userOf, keyCredential, graphError, sendJson, readBody, base }) {
  const visible = (o) => !o.visibleAt || o.visibleAt <= Date.now();
  const replicated = () => (state.replicationDelayMs ? Date.now() + state.replicationDelayMs : 0);
  const denied = (res) => graphError(res, 403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
  const notFound = (res, id) => graphError(res, 404, 'Request_ResourceNotFound', `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`);

  const servicePrincipals = (dir) => {
    dir.servicePrincipals ??= [];
    if (!dir.servicePrincipals.some((sp) => sp.appId === GRAPH_APP_ID)) {
      dir.servicePrincipals.push({ id: graphSpId(dir), appId: GRAPH_APP_ID, displayName: 'Microsoft Graph' });
    }
    return dir.servicePrincipals;
  };
  const grants = (dir) => { dir.permissionGrants ??= []; return dir.permissionGrants; };
  const assignments = (dir) => { dir.appRoleAssignments ??= []; return dir.appRoleAssignments; };

  const keyView = (c) => ({
    customKeyIdentifier: c.thumbprint, displayName: c.displayName ?? null, endDateTime: c.expires,
    keyId: c.keyId, startDateTime: c.starts ?? null, type: 'AsymmetricX509Cert', usage: 'Verify', key: null,
  });
  const applicationView = (app) => ({
    '@odata.context': `${base}/v1.0/$metadata#applications/$entity`,
    id: app.objectId, appId: app.clientId, displayName: app.displayName, tags: app.tags ?? [],
    signInAudience: app.signInAudience ?? 'AzureADMyOrg',
    web: { redirectUris: app.redirectUris, homePageUrl: app.homePageUrl ?? null, logoutUrl: app.frontchannelLogoutUri ?? null },
    optionalClaims: app.optionalClaims ?? null, requiredResourceAccess: app.requiredResourceAccess ?? [],
    keyCredentials: (app.certificates ?? []).map(keyView),
    passwordCredentials: app.secrets.map((s) => ({ keyId: s.id, displayName: s.displayName ?? null, hint: s.value.slice(0, 3), endDateTime: s.expires })),
  });

  /** The caller: a person with delegated scopes and directory roles, or an app (app-only). */
  function caller(claims) {
    const dir = directoryOf(String(claims.tid ?? ''));
    if (claims.idtyp === 'app') return { dir, appId: claims.appid, scopes: [], roles: claims.roles ?? [], directoryRoles: [] };
    const user = userOf(String(claims.tid ?? ''), String(claims.oid ?? ''));
    return { dir, appId: null, scopes: String(claims.scp ?? '').split(' '), roles: [], directoryRoles: user?.roles ?? [] };
  }
  const may = (who, permission, admins) => (who.scopes.includes(permission) && (!admins || who.directoryRoles.some((r) => admins.includes(r))))
    || who.roles.includes(permission);

  const applicationOf = (dir, objectId) => dir.apps.find((a) => a.objectId === objectId && visible(a));

  /** Checks an addKey/removeKey proof: a JWT signed with one of the app's valid certificates. */
  async function checkProof(app, proof) {
    const invalid = (message) => ({ code: 'Authorization_RequestDenied', message });
    let header; let claims;
    try { header = jose.decodeProtectedHeader(proof); claims = jose.decodeJwt(proof); } catch { return invalid('The proof of possession is not a JWT.'); }
    const candidates = (app.certificates ?? []).filter((c) => new Date(c.expires) > new Date()
      && (!header.x5t || c.thumbprintSha1 === header.x5t));
    let verified = false;
    for (const c of candidates) {
      try { await jose.compactVerify(proof, await jose.importX509(c.pem, header.alg)); verified = true; break; } catch { /* next */ }
    }
    if (!verified) return invalid("Proof of possession failed: it is not signed with one of the application's valid certificates.");
    if (claims.aud !== PROOF_AUDIENCE) return invalid(`Proof of possession failed: its audience must be '${PROOF_AUDIENCE}'.`);
    if (claims.iss !== app.objectId) return invalid("Proof of possession failed: its issuer must be the application's object id.");
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.nbf !== 'number' || typeof claims.exp !== 'number' || claims.exp - claims.nbf > 600 || claims.nbf > now + 300 || claims.exp < now) {
      return invalid('Proof of possession failed: it is not within its valid time range (at most 10 minutes).');
    }
    return null;
  }

  function addCertificate(app, credential) {
    if (credential?.type !== 'AsymmetricX509Cert' || credential?.usage !== 'Verify' || !credential?.key) {
      throw new Error("keyCredential must have type 'AsymmetricX509Cert', usage 'Verify' and the certificate in key.");
    }
    const made = { ...keyCredential(credential.key), keyId: crypto.randomUUID(), displayName: credential.displayName ?? null, starts: new Date().toISOString() };
    app.certificates = [...(app.certificates ?? []), made];
    return made;
  }

  function applyRegistration(app, body) {
    if (body.displayName !== undefined) app.displayName = body.displayName;
    if (body.tags !== undefined) app.tags = body.tags;
    if (body.signInAudience !== undefined) app.signInAudience = body.signInAudience;
    if (body.web) {
      app.redirectUris = body.web.redirectUris ?? app.redirectUris;
      app.homePageUrl = body.web.homePageUrl ?? app.homePageUrl;
      app.frontchannelLogoutUri = body.web.logoutUrl ?? app.frontchannelLogoutUri;
    }
    if (body.optionalClaims !== undefined) app.optionalClaims = body.optionalClaims;
    if (body.requiredResourceAccess !== undefined) app.requiredResourceAccess = body.requiredResourceAccess;
    if (body.keyCredentials !== undefined) {
      // PATCH replaces the whole list; a certificate already there keeps its key id.
      const before = app.certificates ?? [];
      app.certificates = [];
      for (const k of body.keyCredentials) {
        const made = addCertificate(app, k);
        const kept = before.find((c) => c.thumbprint === made.thumbprint);
        if (kept) made.keyId = kept.keyId;
      }
    }
  }

  /** Answers a Graph request under /v1.0 that manages registrations; false when it is not one. */
  return async function handle(req, res, url, claims) {
    const path = url.pathname.slice('/v1.0'.length);
    if (!/^\/(applications|servicePrincipals|oauth2PermissionGrants)(\/|$)/.test(path)) return false;
    const who = caller(claims);
    const { dir } = who;
    if (!dir) { graphError(res, 401, 'InvalidAuthenticationToken', 'Access token validation failure.'); return true; }
    state.graphRequests += 1;
    const body = ['POST', 'PATCH'].includes(req.method) ? JSON.parse((await readBody(req)) || '{}') : {};
    const filter = url.searchParams.get('$filter') ?? '';
    let m;

    // Applications.
    if (path === '/applications' && req.method === 'POST') {
      if (!may(who, 'Application.ReadWrite.All', APP_ADMINS)) return denied(res), true;
      if (!body.displayName) return graphError(res, 400, 'Request_BadRequest', "Property 'displayName' is required."), true;
      if (body.signInAudience && !['AzureADMyOrg', 'AzureADMultipleOrgs', 'AzureADandPersonalMicrosoftAccount'].includes(body.signInAudience)) {
        return graphError(res, 400, 'Request_BadRequest', `Invalid value specified for property 'signInAudience' of resource 'Application'.`), true;
      }
      const app = {
        objectId: crypto.randomUUID(), clientId: crypto.randomUUID(), displayName: body.displayName,
        secrets: [], certificates: [], redirectUris: [], logoutUris: [],
        assignmentRequired: false, assignedUsers: [], consentRequired: true, graphPermissions: [], appRoleAssignments: {},
        createdBy: claims.oid ?? claims.appid, visibleAt: replicated(),
      };
      try { applyRegistration(app, body); } catch (e) { return graphError(res, 400, 'Request_BadRequest', e.message), true; }
      dir.apps.push(app);
      return sendJson(res, 201, applicationView(app)), true;
    }
    if (path === '/applications' && req.method === 'GET') {
      if (!may(who, 'Application.ReadWrite.All') && !who.scopes.includes('Application.Read.All')) return denied(res), true;
      const tag = /^tags\/any\(t:t eq '((?:[^']|'')*)'\)$/.exec(filter);
      if (filter && !tag) return graphError(res, 400, 'Request_UnsupportedQuery', 'Unsupported Query.'), true;
      const value = dir.apps.filter((a) => a.objectId && visible(a) && (!tag || (a.tags ?? []).includes(tag[1].replace(/''/g, "'"))));
      return sendJson(res, 200, { value: value.map(applicationView) }), true;
    }
    if ((m = /^\/applications\/([^/]+)(?:\/(addKey|removeKey|addPassword))?$/.exec(path))) {
      const app = applicationOf(dir, m[1]);
      if (!app) return notFound(res, m[1]), true;
      const self = who.appId === app.clientId;
      const action = m[2];
      if (action === 'addKey' || action === 'removeKey') {
        // An app may roll its own keys without any permission, proving it holds a current key.
        if (!self && !may(who, 'Application.ReadWrite.All', APP_ADMINS)) return denied(res), true;
        const problem = await checkProof(app, String(body.proof ?? ''));
        if (problem) return graphError(res, 403, problem.code, problem.message), true;
        if (action === 'addKey') {
          let made;
          try { made = addCertificate(app, body.keyCredential); } catch (e) { return graphError(res, 400, 'Request_BadRequest', e.message), true; }
          state.keysAdded = (state.keysAdded ?? 0) + 1;
          return sendJson(res, 200, { '@odata.context': `${base}/v1.0/$metadata#microsoft.graph.keyCredential`, ...keyView(made) }), true;
        }
        const before = (app.certificates ?? []).length;
        app.certificates = (app.certificates ?? []).filter((c) => c.keyId !== body.keyId);
        if (app.certificates.length === before) return graphError(res, 400, 'Request_BadRequest', `No key credential with keyId '${body.keyId}' exists on the application.`), true;
        state.keysRemoved = (state.keysRemoved ?? 0) + 1;
        res.writeHead(204); res.end(); return true;
      }
      if (!may(who, 'Application.ReadWrite.All', APP_ADMINS)) {
        if (!(req.method === 'GET' && (self || who.scopes.includes('Application.Read.All')))) return denied(res), true;
      }
      if (action === 'addPassword') {
        const secret = { id: crypto.randomUUID(), value: crypto.randomBytes(30).toString('base64url'), displayName: body.passwordCredential?.displayName ?? null,
          expires: body.passwordCredential?.endDateTime ?? new Date(Date.now() + 180 * 86400e3).toISOString() };
        app.secrets.push(secret);
        return sendJson(res, 200, { keyId: secret.id, secretText: secret.value, hint: secret.value.slice(0, 3), displayName: secret.displayName, endDateTime: secret.expires }), true;
      }
      if (req.method === 'GET') return sendJson(res, 200, applicationView(app)), true;
      if (req.method === 'PATCH') {
        try { applyRegistration(app, body); } catch (e) { return graphError(res, 400, 'Request_BadRequest', e.message), true; }
        res.writeHead(204); res.end(); return true;
      }
      if (req.method === 'DELETE') {
        dir.apps = dir.apps.filter((a) => a !== app);
        const sps = servicePrincipals(dir).filter((sp) => sp.appId === app.clientId).map((sp) => sp.id);
        dir.servicePrincipals = servicePrincipals(dir).filter((sp) => !sps.includes(sp.id));
        dir.permissionGrants = grants(dir).filter((g) => !sps.includes(g.clientId));
        dir.appRoleAssignments = assignments(dir).filter((a) => !sps.includes(a.principalId));
        res.writeHead(204); res.end(); return true;
      }
    }

    // Service principals.
    if (path === '/servicePrincipals' && req.method === 'GET') {
      const byApp = /^appId eq '([^']*)'$/.exec(filter);
      if (filter && !byApp) return graphError(res, 400, 'Request_UnsupportedQuery', 'Unsupported Query.'), true;
      const value = servicePrincipals(dir).filter((sp) => visible(sp) && (!byApp || sp.appId === byApp[1]));
      return sendJson(res, 200, { value }), true;
    }
    if (path === '/servicePrincipals' && req.method === 'POST') {
      if (!may(who, 'Application.ReadWrite.All', APP_ADMINS)) return denied(res), true;
      const app = dir.apps.find((a) => a.clientId === body.appId && visible(a));
      if (!app) return graphError(res, 400, 'Request_BadRequest', `The appId '${body.appId}' of the service principal does not reference a valid application object.`), true;
      if (servicePrincipals(dir).some((sp) => sp.appId === body.appId)) {
        return graphError(res, 409, 'Request_MultipleObjectsWithSameKeyValue', 'Another object with the same value for property servicePrincipalNames already exists.'), true;
      }
      const sp = { id: crypto.randomUUID(), appId: app.clientId, displayName: app.displayName, visibleAt: replicated() };
      servicePrincipals(dir).push(sp);
      return sendJson(res, 201, sp), true;
    }
    if ((m = /^\/servicePrincipals\/([^/]+)\/appRoleAssignedTo$/.exec(path)) && req.method === 'POST') {
      if (!may(who, 'AppRoleAssignment.ReadWrite.All', CONSENT_ADMINS)) return denied(res), true;
      const resource = servicePrincipals(dir).find((sp) => sp.id === m[1] && visible(sp));
      const principal = servicePrincipals(dir).find((sp) => sp.id === body.principalId && visible(sp));
      if (!resource) return notFound(res, m[1]), true;
      if (!principal) return notFound(res, body.principalId), true;
      if (resource.appId !== GRAPH_APP_ID || body.appRoleId !== USER_READ_ALL_ROLE) {
        return graphError(res, 400, 'Request_BadRequest', 'Permission being assigned was not found on application.'), true;
      }
      const assignment = { id: crypto.randomBytes(24).toString('base64url'), principalId: principal.id, resourceId: resource.id, appRoleId: body.appRoleId };
      assignments(dir).push(assignment);
      const app = dir.apps.find((a) => a.clientId === principal.appId);
      if (app && !app.graphPermissions.includes('User.Read.All')) app.graphPermissions.push('User.Read.All');
      return sendJson(res, 201, assignment), true;
    }

    // Delegated permission grants (admin consent for everyone).
    if (path === '/oauth2PermissionGrants' && req.method === 'GET') {
      const byClient = /^clientId eq '([^']*)'$/.exec(filter);
      if (filter && !byClient) return graphError(res, 400, 'Request_UnsupportedQuery', 'Unsupported Query.'), true;
      return sendJson(res, 200, { value: grants(dir).filter((g) => !byClient || g.clientId === byClient[1]) }), true;
    }
    if (path === '/oauth2PermissionGrants' && req.method === 'POST') {
      if (!may(who, 'DelegatedPermissionGrant.ReadWrite.All', CONSENT_ADMINS)) return denied(res), true;
      const client = servicePrincipals(dir).find((sp) => sp.id === body.clientId && visible(sp));
      if (!client) return notFound(res, body.clientId), true;
      if (!servicePrincipals(dir).some((sp) => sp.id === body.resourceId)) return notFound(res, body.resourceId), true;
      if (body.consentType !== 'AllPrincipals' && body.consentType !== 'Principal') {
        return graphError(res, 400, 'Request_BadRequest', "consentType must be 'AllPrincipals' or 'Principal'."), true;
      }
      const grant = { id: crypto.randomBytes(24).toString('base64url'), clientId: client.id, consentType: body.consentType, principalId: body.principalId ?? null, resourceId: body.resourceId, scope: String(body.scope ?? '') };
      grants(dir).push(grant);
      const app = dir.apps.find((a) => a.clientId === client.appId);
      if (app && body.consentType === 'AllPrincipals' && grant.scope.split(' ').includes('openid')) app.consentRequired = false;
      return sendJson(res, 201, grant), true;
    }
    if ((m = /^\/oauth2PermissionGrants\/([^/]+)$/.exec(path)) && req.method === 'DELETE') {
      if (!may(who, 'DelegatedPermissionGrant.ReadWrite.All', CONSENT_ADMINS)) return denied(res), true;
      const found = grants(dir).find((g) => g.id === m[1]);
      if (!found) return notFound(res, m[1]), true;
      dir.permissionGrants = grants(dir).filter((g) => g !== found);
      res.writeHead(204); res.end(); return true;
    }
    graphError(res, 400, 'BadRequest', `Resource not found for the segment '${path.split('/').pop()}'.`);
    return true;
  };
}

/**
 * What happens in a directory when someone finishes the device code sign-in of a multi-tenant
 * client: its service principal appears and, when the person may consent for everyone, a
 * grant of the scopes asked for. Answers the scopes the token carries, or an AADSTS problem.
 */
export function consentToClient(dir, user, client, scopes) {
  const adminOnly = scopes.filter((s) => !['openid', 'profile', 'email', 'offline_access', 'User.Read'].includes(s));
  const consentAdmin = (user.roles ?? []).some((r) => [...CONSENT_ADMINS, ...APP_ADMINS].includes(r));
  if (adminOnly.length && !consentAdmin) {
    return { problem: ['invalid_grant', '65001', `The user or administrator has not consented to use the application with ID '${client.clientId}' named '${client.displayName}'. This application requires admin approval for ${adminOnly.join(', ')}.`] };
  }
  dir.servicePrincipals ??= [];
  let sp = dir.servicePrincipals.find((s) => s.appId === client.clientId);
  if (!sp) {
    sp = { id: crypto.randomUUID(), appId: client.clientId, displayName: client.displayName };
    dir.servicePrincipals.push(sp);
  }
  dir.permissionGrants ??= [];
  const graph = dir.servicePrincipals.find((s) => s.appId === GRAPH_APP_ID) ?? { id: graphSpId(dir) };
  if (!dir.servicePrincipals.some((s) => s.appId === GRAPH_APP_ID)) dir.servicePrincipals.push({ id: graph.id, appId: GRAPH_APP_ID, displayName: 'Microsoft Graph' });
  const existing = dir.permissionGrants.find((g) => g.clientId === sp.id && g.consentType === 'AllPrincipals');
  const scope = [...new Set([...(existing?.scope.split(' ') ?? []), ...scopes])].filter(Boolean).join(' ');
  if (existing) existing.scope = scope;
  else dir.permissionGrants.push({ id: crypto.randomBytes(24).toString('base64url'), clientId: sp.id, consentType: 'AllPrincipals', principalId: null, resourceId: graph.id, scope });
  return { scopes };
}
