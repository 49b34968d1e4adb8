// SAML connections from the wizard with the local Entra-shaped SAML provider, which runs on
// another site than Gatehouse (localhost against 127.0.0.1) as Entra does, so its cross-site
// POST to the Reply URL carries no SameSite=Lax cookie: the seeds' Autotask path (the
// Federation Metadata XML uploaded) and Mozy path (Login URL, Identifier and certificate pasted
// by hand), then B.Simon signs in SP-initiated and IdP-initiated ("Test this application").
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, expect } from '@playwright/test';
import { api, ensureOperator, hydrated, screenshots } from './helpers.js';
import { PUBLIC_URL } from '../playwright.config.js';

test.describe.configure({ mode: 'serial' });

const CONTOSO = '6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11';
const PASSWORD = 'Contoso-Demo-2026!';
const SIMON = { upn: 'B.Simon@contoso.com', oid: '3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f' };
/** The operator's own browser, signed in once (password sign-in is rate-limited per account). */
let ops;

test.beforeAll(async ({ browser }, testInfo) => {
  const context = await browser.newContext({ baseURL: testInfo.project.use.baseURL });
  ops = await context.newPage();
  await ops.goto('/signin');
  await ensureOperator(ops);
});

test.afterAll(async () => {
  await ops?.context().close();
});

/** Signs in at the directory's own page (the local provider's form). */
async function atDirectory(page, upn) {
  await expect(page.getByLabel('Email, phone, or Skype')).toBeVisible();
  await page.getByLabel('Email, phone, or Skype').fill(upn);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

function copied(page, label) {
  return page.locator('.copy-value', { hasText: label }).locator('code').textContent();
}

/** Opens the wizard of a new organization and chooses SAML; answers the organization's id. */
async function startSaml(page, name, slug) {
  const created = await api(page, 'POST', '/organizations', { name, slug });
  expect(created.ok()).toBeTruthy();
  const { id } = await created.json();
  await page.goto(`/console/orgs/${id}/sso`);
  await hydrated(page);
  await page.getByLabel('SAML (an Enterprise application with SAML-based sign-on)').check();
  await expect(page.getByRole('heading', { name: 'Step 1 of 6: Add Gatehouse as an Enterprise application' })).toBeVisible();
  return id;
}

/** The admin adds Gatehouse in Entra with the wizard's Identifier and Reply URL. */
async function addEnterpriseApp(page, orgId, slug) {
  const identifier = await copied(page, 'Identifier (Entity ID)');
  const replyUrl = await copied(page, 'Reply URL (Assertion Consumer Service URL)');
  expect(identifier).toBe(`${PUBLIC_URL}/saml/${orgId}`);
  expect(replyUrl).toBe(`${PUBLIC_URL}/saml/${orgId}/acs`);
  await expect(page.locator('.copy-value', { hasText: 'Sign on URL' }).locator('code')).toHaveText(`${PUBLIC_URL}/o/${slug}/sso`);
  const registered = await page.request.post(`${process.env.E2E_IDP_URL}/_test/saml-apps`, {
    data: { tenantId: CONTOSO, identifier, replyUrls: [replyUrl], displayName: 'Gatehouse' },
  });
  expect(registered.status()).toBe(201);
  return registered.json();
}

/** Verify, test sign-in as B.Simon, a policy, activate. */
async function verifyTestAndActivate(page) {
  await page.getByRole('button', { name: 'Verify connection' }).click();
  await expect(page.locator('#verify-summary')).toContainText('All checks passed.');
  const checks = page.getByRole('list', { name: 'Verification results' }).getByRole('listitem');
  await expect(checks.filter({ hasText: 'Signing certificate' })).toContainText('Passed');
  await expect(checks.filter({ hasText: 'Login URL' })).toContainText('Passed');
  await expect(page.locator('#test-identifier')).toHaveText(await copied(page, 'Identifier (Entity ID)'));
  await page.getByRole('button', { name: 'Test sign-in' }).click();
  await atDirectory(page, SIMON.upn);
  await expect(page.locator('#test-summary')).toContainText('The test sign-in worked');
  await expect(page.locator('#test-oid')).toHaveText(SIMON.oid);
  await expect(page.locator('#test-name-id')).toHaveText(SIMON.upn);
  await expect(page.getByRole('definition').filter({ hasText: CONTOSO }).first()).toBeVisible();
  await hydrated(page);
  await page.getByLabel('Create members on their first sign-in').check();
  await page.getByRole('button', { name: 'Save policy' }).click();
  await expect(page.getByText('Policy saved. Next: review and activate.')).toBeVisible();
  await expect(page.locator('#review-summary')).toContainText('SAML');
  await page.getByRole('button', { name: 'Activate' }).click();
  await expect(page.locator('#connection-status')).toHaveText('Active');
}

async function signedInAs(page) {
  const session = await api(page, 'GET', '/session');
  expect(session.status()).toBe(200);
  return session.json();
}

test('an admin uploads the Federation Metadata XML, and B.Simon signs in SP-initiated', async ({ browser }, testInfo) => {
  const page = ops;
  const orgId = await startSaml(page, 'Wingtip', 'wingtip');
  await screenshots(page, 'saml-register');
  const app = await addEnterpriseApp(page, orgId, 'wingtip');

  // Step 2: the metadata file, downloaded from the SAML Certificates section; a wrong file first.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'saml-e2e-'));
  const wrong = path.join(dir, 'not-metadata.xml');
  fs.writeFileSync(wrong, '<html><body>Sign in</body></html>');
  await page.getByLabel('Federation Metadata XML', { exact: true }).setInputFiles(wrong);
  await page.getByRole('button', { name: 'Save and continue' }).click();
  await expect(page.locator('#saml_metadata_file-error')).toContainText('not SAML federation metadata');
  const file = path.join(dir, 'Gatehouse.xml');
  fs.writeFileSync(file, await (await page.request.get(app.metadataUrl)).text());
  await page.getByLabel('Federation Metadata XML', { exact: true }).setInputFiles(file);
  await page.getByRole('button', { name: 'Save and continue' }).click();
  await expect(page.getByText('Saved. Next: verify the connection.')).toBeVisible();
  await expect(page.locator('#saml-stored')).toContainText(`https://sts.windows.net/${CONTOSO}/`);
  await expect(page.locator('#connection-status')).toHaveText('Draft: not active yet');
  await screenshots(page, 'saml-settings');

  // No email domain here: contoso.com belongs to the Contoso organization of the other stories.
  await verifyTestAndActivate(page);
  await screenshots(page, 'saml-active');

  // B.Simon opens the organization's sign-on address in their own browser.
  const context = await browser.newContext({ baseURL: testInfo.project.use.baseURL });
  const person = await context.newPage();
  await person.goto('/o/wingtip/sso');
  await atDirectory(person, SIMON.upn);
  await expect(person).toHaveURL(/\/account/);
  const me = await signedInAs(person);
  expect(me.name).toBe('B.Simon');
  expect(me.organization.slug).toBe('wingtip');
  await context.close();
});

test('an admin pastes the Login URL, Identifier and certificate, and B.Simon signs in from Entra', async ({ browser }, testInfo) => {
  const page = ops;
  const orgId = await startSaml(page, 'Woodgrove', 'woodgrove');
  const app = await addEnterpriseApp(page, orgId, 'woodgrove');

  await page.getByLabel('Paste the Login URL, Identifier and certificate').check();
  await page.getByLabel('Login URL', { exact: true }).fill(app.loginUrl);
  await page.getByLabel('Microsoft Entra Identifier').fill(app.issuer.replace(CONTOSO, '2a7d9e4b-8c3f-4b1a-a6e5-7f0c2d9b8e31'));
  await page.getByLabel('Certificate (Base64)').fill(`-----BEGIN CERTIFICATE-----\n${app.certificate}\n-----END CERTIFICATE-----\n`);
  await page.getByRole('button', { name: 'Save and continue' }).click();
  await expect(page.locator('#login_url-error')).toContainText('same Entra application');
  await page.getByLabel('Microsoft Entra Identifier').fill(app.issuer);
  await page.getByLabel(/Accept sign-ins started at Entra/).check();
  await page.getByRole('button', { name: 'Save and continue' }).click();
  await expect(page.getByText('Saved. Next: verify the connection.')).toBeVisible();

  await verifyTestAndActivate(page);
  await expect(page.locator('#review-summary')).toContainText('accepted');

  // "Test this application" at Entra: the sign-in starts there, without a request from Gatehouse.
  const context = await browser.newContext({ baseURL: testInfo.project.use.baseURL });
  const person = await context.newPage();
  await person.goto(`${process.env.E2E_IDP_URL}/${CONTOSO}/saml2/idp-initiated?appid=${app.appId}`);
  await atDirectory(person, SIMON.upn);
  await expect(person).toHaveURL(/\/account/);
  expect((await signedInAs(person)).organization.slug).toBe('woodgrove');
  await context.close();
});
