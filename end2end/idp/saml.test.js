// Self-test of the provider's SAML side: `node --test idp/` (run by the test command).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { DOMParser } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';
import { startIdp } from './provider.js';

const CONTOSO = '6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11';
const IDENTIFIER = 'https://gatehouse.example/saml/0a1b2c3d';
const ACS = 'http://127.0.0.1:3000/saml/0a1b2c3d/acs';
const SIMON = { upn: 'B.Simon@contoso.com', oid: '3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f', password: 'Contoso-Demo-2026!' };

let idp;
let app;
before(async () => {
  idp = await startIdp();
  app = await hook('/saml-apps', { tenantId: CONTOSO, identifier: IDENTIFIER, replyUrls: [ACS] });
});
after(async () => { await idp.close(); });

async function hook(path, body) {
  const res = await fetch(`${idp.url}/_test${path}`, { method: 'POST', body: JSON.stringify(body) });
  assert.ok(res.ok, path);
  return res.json();
}

function authnRequest({ id = '_req1', issuer = IDENTIFIER, acs = ACS, extra = '' } = {}) {
  const xml = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${id}" Version="2.0" IssueInstant="${new Date().toISOString()}" AssertionConsumerServiceURL="${acs}"><saml:Issuer>${issuer}</saml:Issuer>${extra}</samlp:AuthnRequest>`;
  return zlib.deflateRawSync(Buffer.from(xml)).toString('base64');
}

/** Signs in through the SAML2 endpoint; answers the auto-posted form's fields. */
async function signIn(query, user = SIMON) {
  const page = await fetch(`${idp.url}/${CONTOSO}/saml2?${new URLSearchParams(query)}`);
  const html = await page.text();
  if (page.status !== 200) return { status: page.status, html };
  const pending = /name="pending" value="([^"]+)"/.exec(html)[1];
  const res = await fetch(`${idp.url}/${CONTOSO}/saml2/login`, {
    method: 'POST',
    body: new URLSearchParams({ pending, username: user.upn, password: user.password }),
  });
  const posted = await res.text();
  const field = (name) => new RegExp(`name="${name}" value="([^"]*)"`).exec(posted)?.[1];
  return { action: /action="([^"]+)"/.exec(posted)?.[1], response: Buffer.from(field('SAMLResponse'), 'base64').toString('utf8'), relayState: field('RelayState') };
}

test('metadata has the Entra Identifier, the SAML2 endpoint and the signing certificate', async () => {
  const res = await fetch(app.metadataUrl);
  assert.equal(res.status, 200);
  const doc = new DOMParser().parseFromString(await res.text(), 'text/xml');
  assert.equal(doc.documentElement.getAttribute('entityID'), `https://sts.windows.net/${CONTOSO}/`);
  assert.match(app.metadataUrl, new RegExp(`/${CONTOSO}/federationmetadata/2007-06/federationmetadata.xml\\?appid=`));
  const sso = doc.getElementsByTagName('SingleSignOnService')[0];
  assert.equal(sso.getAttribute('Location'), `${idp.url}/${CONTOSO}/saml2`);
  assert.equal(doc.getElementsByTagName('X509Certificate')[0].textContent, app.certificate);
});

test('an SP-initiated sign-in posts a signed assertion with Entra claims to the Reply URL', async () => {
  const out = await signIn({ SAMLRequest: authnRequest({ id: '_abc' }), RelayState: 'ref-1', login_hint: SIMON.upn });
  assert.equal(out.action, ACS);
  assert.equal(out.relayState, 'ref-1');
  const doc = new DOMParser().parseFromString(out.response, 'text/xml');
  const assertion = doc.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:assertion', 'Assertion')[0];
  assert.equal(doc.documentElement.getAttribute('InResponseTo'), '_abc');
  const signature = new SignedXml({ publicCert: `-----BEGIN CERTIFICATE-----\n${app.certificate}\n-----END CERTIFICATE-----` });
  signature.loadSignature(assertion.getElementsByTagNameNS('http://www.w3.org/2000/09/xmldsig#', 'Signature')[0]);
  assert.ok(signature.checkSignature(out.response), 'the assertion is signed by the metadata certificate');
  const value = (name) => [...assertion.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:assertion', 'Attribute')]
    .find((a) => a.getAttribute('Name') === name)?.textContent;
  assert.equal(value('http://schemas.microsoft.com/identity/claims/objectidentifier'), SIMON.oid);
  assert.equal(value('http://schemas.microsoft.com/identity/claims/tenantid'), CONTOSO);
  const requests = await (await fetch(`${idp.url}/_test/saml-requests`)).json();
  const last = requests.requests.at(-1);
  assert.equal(last.loginHint, SIMON.upn);
  assert.equal(last.hasSubject, false);
});

test('an unknown Identifier and an unregistered Reply URL end on the provider page', async () => {
  const unknown = await signIn({ SAMLRequest: authnRequest({ issuer: 'https://other.example' }) });
  assert.equal(unknown.status, 400);
  assert.match(unknown.html, /AADSTS700016/);
  const wrongReply = await signIn({ SAMLRequest: authnRequest({ acs: 'http://127.0.0.1:3000/elsewhere' }) });
  assert.match(wrongReply.html, /AADSTS50011/);
  const authnContext = await signIn({ SAMLRequest: authnRequest({ extra: '<samlp:RequestedAuthnContext><saml:AuthnContextClassRef>x</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>' }) });
  assert.match(authnContext.html, /AADSTS75011/);
});

test('a person not assigned gets AADSTS50105 as a SAML error status', async () => {
  await hook('/saml-apps', { tenantId: CONTOSO, identifier: IDENTIFIER, replyUrls: [ACS], appId: app.appId, assignmentRequired: true });
  try {
    const out = await signIn({ SAMLRequest: authnRequest() });
    assert.match(out.response, /status:RequestDenied/);
    assert.match(out.response, /AADSTS50105/);
  } finally {
    await hook('/saml-apps', { tenantId: CONTOSO, identifier: IDENTIFIER, replyUrls: [ACS], appId: app.appId });
  }
});

test('the bad-response hook spoils only the next response', async () => {
  await hook('/next-saml-response', { mode: 'wrong_audience' });
  const bad = await signIn({ SAMLRequest: authnRequest() });
  assert.match(bad.response, /<Audience>https:\/\/evil\.example/);
  const good = await signIn({ SAMLRequest: authnRequest() });
  assert.match(good.response, new RegExp(`<Audience>${IDENTIFIER}</Audience>`));
  await hook('/next-saml-response', { mode: 'doctype' });
  assert.match((await signIn({ SAMLRequest: authnRequest() })).response, /<!DOCTYPE/);
});

test('IdP-initiated sign-in posts a response without InResponseTo', async () => {
  const page = await fetch(`${idp.url}/${CONTOSO}/saml2/idp-initiated?appid=${app.appId}`);
  const pending = /name="pending" value="([^"]+)"/.exec(await page.text())[1];
  const res = await fetch(`${idp.url}/${CONTOSO}/saml2/login`, { method: 'POST', body: new URLSearchParams({ pending, username: SIMON.upn, password: SIMON.password }) });
  const response = Buffer.from(/name="SAMLResponse" value="([^"]*)"/.exec(await res.text())[1], 'base64').toString('utf8');
  assert.doesNotMatch(response, /InResponseTo/);
});
