// The SAML side of the Entra-shaped provider, in Entra's shapes: federation metadata at
// /<tenant>/federationmetadata/2007-06/federationmetadata.xml?appid=…, the Issuer
// https://sts.windows.net/<tenant>/, the SAML2 endpoint /<tenant>/saml2 (HTTP-Redirect
// AuthnRequest in, HTTP-POST Response out), Entra's claim URIs, AADSTS700016 and AADSTS50011 on
// its own page, AADSTS50105 as a SAML error status, and IdP-initiated "Test this application".
// Assertions are signed (RSA-SHA256, exclusive C14N) with xml-crypto and a certificate made by
// openssl at start. Test hooks make the next response bad in a chosen way (BAD_SAML_MODES).

import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { DOMParser } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';

/** Ways the next SAML response can be made bad (POST /_test/next-saml-response {"mode": ...}). */
export const BAD_SAML_MODES = [
  'unsigned', 'unknown_certificate', 'wrapped_before', 'wrapped_after', 'wrapped_in_extensions',
  'wrapped_in_advice', 'comment_in_name_id', 'comment_in_attribute', 'two_assertions',
  'wrong_issuer', 'wrong_audience', 'wrong_recipient', 'expired', 'not_yet_valid',
  'other_request', 'other_tenant', 'doctype', 'oversized', 'sha1', 'signed_response_only',
];

const NS_PROTOCOL = 'urn:oasis:names:tc:SAML:2.0:protocol';
const NS_ASSERTION = 'urn:oasis:names:tc:SAML:2.0:assertion';
const CLAIMS = {
  tenantid: 'http://schemas.microsoft.com/identity/claims/tenantid',
  objectidentifier: 'http://schemas.microsoft.com/identity/claims/objectidentifier',
  displayname: 'http://schemas.microsoft.com/identity/claims/displayname',
  identityprovider: 'http://schemas.microsoft.com/identity/claims/identityprovider',
  authnmethodsreferences: 'http://schemas.microsoft.com/claims/authnmethodsreferences',
  emailaddress: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
  name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
  givenname: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
  surname: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname',
  role: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role',
};
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const RSA_SHA1 = 'http://www.w3.org/2000/09/xmldsig#rsa-sha1';
const SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';
const SHA1 = 'http://www.w3.org/2000/09/xmldsig#sha1';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';

const xml = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;',
}[c]));

/** A self-signed signing certificate as Entra makes them (three years, RSA 2048). */
export function newSigningCertificate(days = 3 * 365) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'saml-idp-'));
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
      '-days', String(days), '-subj', '/CN=Microsoft Azure Federated SSO Certificate'], { stdio: 'ignore' });
    const certPem = fs.readFileSync(cert, 'utf8');
    const base64 = certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    return { keyPem: fs.readFileSync(key, 'utf8'), certPem, base64 };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const samlId = () => `_${crypto.randomUUID()}`;
const instant = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Signs the element with `id` in `doc` (enveloped), placing the signature after its Issuer. */
function sign(doc, id, { certificate, sha1 = false }) {
  const signer = new SignedXml({
    privateKey: certificate.keyPem,
    publicCert: certificate.certPem,
    signatureAlgorithm: sha1 ? RSA_SHA1 : RSA_SHA256,
    canonicalizationAlgorithm: EXC_C14N,
  });
  signer.addReference({
    xpath: `//*[@ID='${id}']`,
    digestAlgorithm: sha1 ? SHA1 : SHA256,
    transforms: [ENVELOPED, EXC_C14N],
  });
  signer.computeSignature(doc, {
    prefix: 'ds',
    location: { reference: `//*[@ID='${id}']/*[local-name(.)='Issuer']`, action: 'after' },
  });
  return signer.getSignedXml();
}

/**
 * Adds the SAML routes to the provider. `ctx` lends the provider's state and helpers:
 * { state, base, directoryOf, directories, page, sendHtml, sendJson, readBody, escapeHtml }.
 */
export function samlIdp(ctx) {
  const { state, base, directoryOf, directories, page, sendHtml, readBody, escapeHtml } = ctx;
  state.saml = {
    certificate: newSigningCertificate(),
    // The next certificate, published in the metadata before it signs (Entra's rollover).
    next: null,
    stranger: newSigningCertificate(),
    nextMode: null,
    pending: new Map(),
    requests: [],
    responses: 0,
  };
  const issuerOf = (tenantId) => `https://sts.windows.net/${tenantId}/`;
  const samlAppOf = (dir, identifier) => (dir.samlApps ?? []).find((a) => a.identifier === identifier);
  const samlAppById = (appId) => {
    for (const dir of directories()) {
      const app = (dir.samlApps ?? []).find((a) => a.appId === appId);
      if (app) return { dir, app };
    }
    return null;
  };

  function metadata(dir, app) {
    const published = [state.saml.certificate, state.saml.next].filter(Boolean);
    const keyDescriptor = published.map((c) => `<KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>${c.base64}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>`).join('');
    const saml2 = `${base}/${dir.tenantId}/saml2`;
    return `<?xml version="1.0" encoding="utf-8"?><EntityDescriptor ID="${samlId()}" entityID="${issuerOf(dir.tenantId)}" xmlns="urn:oasis:names:tc:SAML:2.0:metadata">`
      + `<RoleDescriptor xsi:type="fed:SecurityTokenServiceType" protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706">${keyDescriptor}</RoleDescriptor>`
      + `<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">${keyDescriptor}`
      + `<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${saml2}"/>`
      + `<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${saml2}"/>`
      + `<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${saml2}"/>`
      + `</IDPSSODescriptor></EntityDescriptor>${app ? `<!-- ${xml(app.displayName)} -->` : ''}`;
  }

  function errorPage(res, text) {
    return sendHtml(res, 400, page('Sign-in error', `<h1>Sorry, but we’re having trouble signing you in.</h1><p id="error-description">${escapeHtml(text)}</p>`));
  }

  function loginForm(tenant, pendingId, error, username = '') {
    return page('Sign in', `<h1>Sign in</h1>
${error ? `<p role="alert" id="login-error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/${tenant}/saml2/login">
<input type="hidden" name="pending" value="${escapeHtml(pendingId)}">
<p><label for="username">Email, phone, or Skype</label><br><input id="username" name="username" autocomplete="username" value="${escapeHtml(username)}"></p>
<p><label for="password">Password</label><br><input id="password" name="password" type="password" autocomplete="current-password"></p>
<p><button type="submit">Sign in</button></p></form>`);
  }

  /** The auto-posting form Entra answers with (HTTP-POST binding). */
  function postForm(res, acs, samlResponse, relayState) {
    const relay = relayState ? `<input type="hidden" name="RelayState" value="${escapeHtml(relayState)}">` : '';
    return sendHtml(res, 200, `<!doctype html><html><head><title>Working...</title></head><body>
<form method="POST" name="hiddenform" action="${escapeHtml(acs)}"><input type="hidden" name="SAMLResponse" value="${escapeHtml(samlResponse)}">${relay}
<noscript><p>Script is disabled. Click Submit to continue.</p><input type="submit" value="Submit"></noscript></form>
<script>window.setTimeout(function () { document.forms[0].submit(); }, 0);</script></body></html>`);
  }

  /** Entra's error status for a person not assigned to the application (AADSTS50105). */
  function deniedResponse(dir, app, pending, user) {
    const now = Date.now();
    const inResponseTo = pending.requestId ? ` InResponseTo="${xml(pending.requestId)}"` : '';
    const message = `AADSTS50105: Your administrator has configured the application ${app.displayName} ('${app.appId}') to block users unless they are specifically granted ('assigned') access to the application. The signed in user '${user.upn}' is blocked because they are not a direct member of a group with access, nor had access directly assigned by an administrator.`;
    return `<samlp:Response ID="${samlId()}" Version="2.0" IssueInstant="${instant(now)}" Destination="${xml(pending.acs)}"${inResponseTo} xmlns:samlp="${NS_PROTOCOL}">`
      + `<Issuer xmlns="${NS_ASSERTION}">${issuerOf(dir.tenantId)}</Issuer>`
      + '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Requester"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:RequestDenied"/></samlp:StatusCode>'
      + `<samlp:StatusMessage>${xml(message)}</samlp:StatusMessage></samlp:Status></samlp:Response>`;
  }

  function assertionXml({ id, dir, app, user, pending, now, mode, sessionIndex }) {
    let issuer = issuerOf(dir.tenantId);
    let audience = app.identifier;
    let recipient = pending.acs;
    let inResponseTo = pending.requestId;
    let tenantId = dir.tenantId;
    let notBefore = now - 5 * 60_000;
    let notOnOrAfter = now + 70 * 60_000;
    let confirmationUntil = now + 5 * 60_000;
    let issueInstant = now;
    switch (mode) {
      case 'wrong_issuer': issuer = issuerOf(crypto.randomUUID()); break;
      case 'wrong_audience': audience = `https://evil.example/${crypto.randomUUID()}`; break;
      case 'wrong_recipient': recipient = 'https://evil.example/saml/acs'; break;
      case 'other_request': inResponseTo = `_${crypto.randomUUID()}`; break;
      case 'other_tenant': tenantId = directories().find((d) => d.tenantId !== dir.tenantId).tenantId; break;
      case 'expired':
        issueInstant = now - 3 * 3600_000; notBefore = now - 3 * 3600_000;
        notOnOrAfter = now - 2 * 3600_000 + 10 * 60_000; confirmationUntil = now - 2 * 3600_000; break;
      case 'not_yet_valid':
        issueInstant = now + 3600_000; notBefore = now + 3600_000; notOnOrAfter = now + 3 * 3600_000;
        confirmationUntil = now + 2 * 3600_000; break;
      default: break;
    }
    const attr = (name, values) => `<Attribute Name="${name}">${values.map((v) => `<AttributeValue>${xml(v)}</AttributeValue>`).join('')}</Attribute>`;
    const [given, ...rest] = String(user.name).split(' ');
    const roles = app.appRoleAssignments?.[user.oid] ?? [];
    const attributes = [
      attr(CLAIMS.tenantid, [tenantId]),
      attr(CLAIMS.objectidentifier, [user.oid]),
      attr(CLAIMS.displayname, [user.name]),
      attr(CLAIMS.identityprovider, [issuerOf(dir.tenantId)]),
      attr(CLAIMS.authnmethodsreferences, ['http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password']),
      ...(user.email ? [attr(CLAIMS.emailaddress, [user.email])] : []),
      attr(CLAIMS.givenname, [given]),
      ...(rest.length ? [attr(CLAIMS.surname, [rest.join(' ')])] : []),
      attr(CLAIMS.name, [user.upn]),
      ...(roles.length ? [attr(CLAIMS.role, roles)] : []),
    ].join('');
    const confirmationInResponseTo = inResponseTo ? ` InResponseTo="${xml(inResponseTo)}"` : '';
    return `<Assertion ID="${id}" IssueInstant="${instant(issueInstant)}" Version="2.0" xmlns="${NS_ASSERTION}">`
      + `<Issuer>${xml(issuer)}</Issuer>`
      + `<Subject><NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${xml(user.upn)}</NameID>`
      + `<SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><SubjectConfirmationData${confirmationInResponseTo} NotOnOrAfter="${instant(confirmationUntil)}" Recipient="${xml(recipient)}"/></SubjectConfirmation></Subject>`
      + `<Conditions NotBefore="${instant(notBefore)}" NotOnOrAfter="${instant(notOnOrAfter)}"><AudienceRestriction><Audience>${xml(audience)}</Audience></AudienceRestriction></Conditions>`
      + `<AttributeStatement>${attributes}</AttributeStatement>`
      + `<AuthnStatement AuthnInstant="${instant(now)}" SessionIndex="${sessionIndex}"><AuthnContext><AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</AuthnContextClassRef></AuthnContext></AuthnStatement>`
      + '</Assertion>';
  }

  /** The signed Response for a signed-in person, made bad in the pending mode if any. */
  function response(dir, app, user, pending) {
    const mode = state.saml.nextMode;
    state.saml.nextMode = null;
    state.saml.responses += 1;
    const now = Date.now();
    const responseId = samlId();
    const assertionId = samlId();
    const sessionIndex = samlId();
    const certificate = mode === 'unknown_certificate' ? state.saml.stranger : state.saml.certificate;
    const sha1 = mode === 'sha1';
    const inResponseTo = pending.requestId && mode !== 'other_request' ? ` InResponseTo="${xml(pending.requestId)}"` : '';
    const destination = mode === 'wrong_recipient' ? 'https://evil.example/saml/acs' : pending.acs;
    const shell = (inner) => `<samlp:Response ID="${responseId}" Version="2.0" IssueInstant="${instant(now)}" Destination="${xml(destination)}"${inResponseTo} xmlns:samlp="${NS_PROTOCOL}">`
      + `<Issuer xmlns="${NS_ASSERTION}">${xml(issuerOf(dir.tenantId))}</Issuer>`
      + `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>${inner}</samlp:Response>`;
    const assertion = assertionXml({ id: assertionId, dir, app, user, pending, now, mode, sessionIndex });
    if (mode === 'unsigned') return shell(assertion);
    if (mode === 'signed_response_only') return sign(shell(assertion), responseId, { certificate });
    const signedAssertion = sign(assertion, assertionId, { certificate, sha1 });
    // An attacker's assertion beside the signed one: someone else, and not signed.
    const mallory = () => {
      const victim = dir.users.find((u) => u.oid !== user.oid) ?? user;
      return assertionXml({ id: samlId(), dir, app, user: victim, pending, now, mode: null, sessionIndex });
    };
    switch (mode) {
      case 'wrapped_before': return shell(mallory() + signedAssertion);
      case 'wrapped_after': return shell(signedAssertion + mallory());
      case 'wrapped_in_extensions':
        return shell(`<samlp:Extensions>${signedAssertion}</samlp:Extensions>${mallory()}`);
      case 'wrapped_in_advice': {
        // The evil assertion carries the signed one in its Advice.
        const evil = mallory().replace('</Conditions>', `</Conditions><Advice>${signedAssertion}</Advice>`);
        return shell(evil);
      }
      case 'two_assertions': {
        const secondId = samlId();
        const second = sign(assertionXml({ id: secondId, dir, app, user, pending, now, mode: null, sessionIndex }), secondId, { certificate });
        return shell(signedAssertion + second);
      }
      // A comment splits a signed value; exclusive C14N drops comments, so the signature still
      // verifies, and a parser that reads only the first text node reads a shorter value.
      case 'comment_in_name_id': {
        const upn = xml(user.upn);
        const at = upn.indexOf('@') + 1;
        return shell(signedAssertion.replace(`>${upn}</NameID>`, `>${upn.slice(0, at)}<!---->${upn.slice(at)}</NameID>`));
      }
      case 'comment_in_attribute':
        return shell(signedAssertion.replace(`<AttributeValue>${user.oid}</AttributeValue>`, `<AttributeValue>${user.oid.slice(0, 8)}<!---->${user.oid.slice(8)}</AttributeValue>`));
      case 'doctype':
        return `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>${shell(signedAssertion).replace('</samlp:Response>', '<samlp:Extensions>&c;</samlp:Extensions></samlp:Response>')}`;
      case 'oversized':
        return shell(`${signedAssertion}<samlp:Extensions>${'<x>padding</x>'.repeat(45_000)}</samlp:Extensions>`);
      default: return shell(signedAssertion);
    }
  }

  function finish(res, dir, app, user, pending) {
    const assigned = !app.assignmentRequired || (app.assignedUsers ?? []).includes(user.oid);
    const body = assigned ? response(dir, app, user, pending) : deniedResponse(dir, app, pending, user);
    return postForm(res, pending.acs, Buffer.from(body, 'utf8').toString('base64'), pending.relayState);
  }

  /** GET /<tenant>/saml2?SAMLRequest=…: an SP-initiated sign-in (HTTP-Redirect binding). */
  function authnRequest(res, dir, url) {
    const encoded = url.searchParams.get('SAMLRequest');
    if (!encoded) return errorPage(res, 'AADSTS750054: SAMLRequest or SAMLResponse must be present as query string parameters in HTTP request for SAML Redirect binding.');
    let requestXml;
    try {
      requestXml = zlib.inflateRawSync(Buffer.from(encoded, 'base64')).toString('utf8');
    } catch {
      return errorPage(res, 'AADSTS750056: SAML message was not properly base64 encoded.');
    }
    const doc = new DOMParser().parseFromString(requestXml, 'text/xml');
    const request = doc.documentElement;
    const issuer = request.getElementsByTagNameNS(NS_ASSERTION, 'Issuer')[0]?.textContent?.trim() ?? '';
    const recorded = {
      id: request.getAttribute('ID'), issuer, acs: request.getAttribute('AssertionConsumerServiceURL'),
      forceAuthn: request.getAttribute('ForceAuthn') === 'true',
      hasSubject: request.getElementsByTagNameNS(NS_ASSERTION, 'Subject').length > 0,
      hasRequestedAuthnContext: request.getElementsByTagNameNS(NS_PROTOCOL, 'RequestedAuthnContext').length > 0,
      loginHint: url.searchParams.get('login_hint'), relayState: url.searchParams.get('RelayState'), xml: requestXml,
    };
    state.saml.requests.push(recorded);
    state.saml.requests = state.saml.requests.slice(-20);
    const app = samlAppOf(dir, issuer);
    if (!app) {
      return errorPage(res, `AADSTS700016: Application with identifier '${issuer}' was not found in the directory '${dir.displayName}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`);
    }
    const acs = recorded.acs ?? app.replyUrls[0];
    if (!app.replyUrls.includes(acs)) {
      return errorPage(res, `AADSTS50011: The reply URL '${acs}' specified in the request does not match the reply URLs configured for the application '${app.appId}'. Make sure the reply URL sent in the request matches one added to your application in the Azure portal.`);
    }
    if (recorded.hasRequestedAuthnContext) {
      return errorPage(res, "AADSTS75011: Authentication method 'Password' by which the user authenticated with the service doesn't match requested authentication method 'X509'. Contact the application owner.");
    }
    const pendingId = crypto.randomBytes(16).toString('base64url');
    state.saml.pending.set(pendingId, { appId: app.appId, tenantId: dir.tenantId, requestId: recorded.id, acs, relayState: recorded.relayState });
    return sendHtml(res, 200, loginForm(dir.tenantId, pendingId, null, recorded.loginHint ?? ''));
  }

  async function login(req, res, dir) {
    const fields = new URLSearchParams(await readBody(req));
    const pending = state.saml.pending.get(fields.get('pending') ?? '');
    if (!pending || pending.tenantId !== dir.tenantId) return errorPage(res, 'AADSTS90014: The sign-in request expired. Start again.');
    const username = (fields.get('username') ?? '').trim().toLowerCase();
    const user = dir.users.find((u) => u.upn.toLowerCase() === username);
    if (!user || user.password !== fields.get('password')) {
      return sendHtml(res, 200, loginForm(dir.tenantId, fields.get('pending'), 'Your account or password is incorrect.', fields.get('username') ?? ''));
    }
    state.saml.pending.delete(fields.get('pending'));
    const { app } = samlAppById(pending.appId);
    return finish(res, dir, app, user, pending);
  }

  /** GET /<tenant>/saml2/idp-initiated?appid=…: "Test this application" and the My Apps tile. */
  function idpInitiated(res, dir, url) {
    const app = (dir.samlApps ?? []).find((a) => a.appId === url.searchParams.get('appid'));
    if (!app) return errorPage(res, `AADSTS700016: Application with identifier '${url.searchParams.get('appid')}' was not found in the directory '${dir.displayName}'.`);
    const pendingId = crypto.randomBytes(16).toString('base64url');
    state.saml.pending.set(pendingId, { appId: app.appId, tenantId: dir.tenantId, requestId: null, acs: app.replyUrls[0], relayState: null });
    return sendHtml(res, 200, loginForm(dir.tenantId, pendingId, null));
  }

  async function testHook(req, res, route, body) {
    if (req.method === 'POST' && route === '/saml-apps') {
      const dir = directoryOf(body.tenantId ?? '');
      if (!dir || !body.identifier || !Array.isArray(body.replyUrls)) return ctx.sendJson(res, 400, { error: 'tenantId of a known directory, identifier and replyUrls are required' });
      dir.samlApps = (dir.samlApps ?? []).filter((a) => a.identifier !== body.identifier);
      const app = {
        appId: body.appId ?? crypto.randomUUID(), displayName: body.displayName ?? 'Gatehouse', identifier: body.identifier,
        replyUrls: body.replyUrls, logoutUrl: body.logoutUrl ?? null, signOnUrl: body.signOnUrl ?? null,
        assignmentRequired: Boolean(body.assignmentRequired), assignedUsers: body.assignedUsers ?? [],
        appRoleAssignments: body.appRoleAssignments ?? {},
      };
      dir.samlApps.push(app);
      return ctx.sendJson(res, 201, { appId: app.appId, metadataUrl: `${base}/${dir.tenantId}/federationmetadata/2007-06/federationmetadata.xml?appid=${app.appId}`, certificate: state.saml.certificate.base64, issuer: issuerOf(dir.tenantId), loginUrl: `${base}/${dir.tenantId}/saml2` });
    }
    if (req.method === 'POST' && route === '/next-saml-response') {
      if (!BAD_SAML_MODES.includes(body.mode)) return ctx.sendJson(res, 400, { error: `mode must be one of ${BAD_SAML_MODES.join(', ')}` });
      state.saml.nextMode = body.mode;
      return ctx.sendJson(res, 200, { mode: body.mode });
    }
    if (req.method === 'POST' && route === '/saml-certificates') {
      // 'add': publish the next certificate beside the current one; 'switch': sign with it.
      if (body.action === 'add') state.saml.next = newSigningCertificate();
      else if (body.action === 'switch' && state.saml.next) { state.saml.certificate = state.saml.next; state.saml.next = null; }
      else return ctx.sendJson(res, 400, { error: "action 'add', or 'switch' after 'add'" });
      return ctx.sendJson(res, 200, { signing: state.saml.certificate.base64, next: state.saml.next?.base64 ?? null });
    }
    if (req.method === 'GET' && route === '/saml-requests') {
      return ctx.sendJson(res, 200, { requests: state.saml.requests, responses: state.saml.responses });
    }
    return null;
  }

  /** Serves `rest` (the path after /<tenant>) of a directory's SAML endpoints; false if not one. */
  async function handle(req, res, dir, rest, url) {
    if (rest === '/federationmetadata/2007-06/federationmetadata.xml') {
      const found = url.searchParams.has('appid') ? samlAppById(url.searchParams.get('appid')) : null;
      if (url.searchParams.has('appid') && (!found || found.dir !== dir)) {
        errorPage(res, `AADSTS700016: Application with identifier '${url.searchParams.get('appid')}' was not found in the directory '${dir.displayName}'.`);
        return true;
      }
      res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' });
      res.end(metadata(dir, found?.app));
      return true;
    }
    if (rest === '/saml2' && req.method === 'GET') { authnRequest(res, dir, url); return true; }
    if (rest === '/saml2/login' && req.method === 'POST') { await login(req, res, dir); return true; }
    if (rest === '/saml2/idp-initiated' && req.method === 'GET') { idpInitiated(res, dir, url); return true; }
    return false;
  }

  return { handle, testHook, issuerOf, reset: () => { state.saml.nextMode = null; state.saml.pending.clear(); } };
}
