// The setup wizard, following seed 002's story with the local Entra-shaped provider, then each
// way it can fail — every failure shows its guidance and leaves the active configuration alone.
import crypto from 'node:crypto';
import { test, expect } from '@playwright/test';
import { PASSWORD, Tally, api, ensureOperator, fieldError, hydrated, registerApp, screenshots, signIn } from './helpers.js';
import { PUBLIC_URL } from '../playwright.config.js';

test.describe.configure({ mode: 'serial' });

const CONTOSO = '6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11';
const SECRET = 'Wizard~E2E.Secret_Value-0042';
const SECRET_ID = '8d7c6b5a-4f3e-4d2c-9b1a-0f9e8d7c6b5a';
const clientId = crypto.randomUUID();
let orgId;
let activeClientId;

/** Counts what the admin does, for the clicks-and-pastes figure. */
test('an admin walks the wizard from "Single sign-on" to "Active"', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  // The operator prepares the organization and its admin.
  await page.goto('/signin');
  await ensureOperator(page);
  const org = await (await api(page, 'POST', '/organizations', { name: 'Northwind', slug: 'northwind' })).json();
  orgId = org.id;
  // The operator hands out a setup link from the organization's page.
  await page.goto(`/console/orgs/${orgId}`);
  await hydrated(page);
  await expect(page.locator('#org-sso-status')).toHaveText('Not set up');
  await page.getByRole('button', { name: 'Create setup link' }).click();
  const setupLink = await page.locator('.copy-value', { hasText: 'Setup link' }).locator('code').textContent();
  expect(setupLink).toMatch(/\/connect\/[A-Za-z0-9_-]{43}$/);
  await expect(page.getByRole('row').filter({ hasText: 'open' })).toHaveCount(1);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/signin$/);

  // The customer's IT admin opens it, creates an account and lands in the wizard.
  await page.goto(setupLink);
  await hydrated(page);
  await expect(page.getByText('This link sets up single sign-on for Northwind.', { exact: false })).toBeVisible();
  await screenshots(page, 'setup-link');
  await page.getByLabel('Your work email').fill('it@northwind.example');
  await page.getByLabel('Your name').fill('Ivy IT');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account and continue' }).click();
  await expect(page.getByRole('heading', { name: 'Step 1 of 6: Register Gatehouse in Entra' })).toBeVisible();
  await expect(page.locator('#connection-status')).toHaveText('Not set up');
  await hydrated(page);
  // The link worked once.
  const reuse = await page.request.get(`/api/v1/setup-links/${setupLink.split('/').pop()}`);
  expect(reuse.status()).toBe(410);
  const tally = new Tally();

  // Step 1: the exact values, with copy buttons that work.
  const redirectUri = await page.locator('.copy-value', { hasText: 'Redirect URI' }).locator('code').textContent();
  expect(redirectUri).toBe(`${PUBLIC_URL}/auth/callback`);
  await expect(page.locator('.copy-value', { hasText: 'Home page URL' }).locator('code')).toHaveText(`${PUBLIC_URL}/o/northwind/sso`);
  await tally.click(page.getByRole('button', { name: 'Copy Redirect URI' }));
  await expect(page.getByRole('button', { name: 'Copy Redirect URI' })).toHaveText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(redirectUri);
  await screenshots(page, 'wizard-register');

  // The admin registers the app in the directory (the provider's configuration).
  await registerApp(page.request, clientId, [{ id: SECRET_ID, value: SECRET, expires: '2099-01-01T00:00:00Z' }], redirectUri);

  // Step 2: paste what Entra shows; a mistyped client ID is flagged as it is typed.
  await page.getByLabel('Cloud').selectOption('custom'); tally.clicks += 1;
  await tally.paste(page.getByLabel('Authority host'), process.env.E2E_IDP_URL);
  await tally.paste(page.getByLabel('Directory (tenant) ID'), CONTOSO);
  await page.getByLabel('Application (client) ID').fill('1234');
  await expect(fieldError(page, 'client_id')).toContainText('8-4-4-4-12');
  await tally.paste(page.getByLabel('Application (client) ID'), clientId);
  await expect(fieldError(page, 'client_id')).toBeEmpty();
  await tally.paste(page.getByLabel('Client secret Value'), SECRET);
  await tally.paste(page.getByLabel('Secret expires on'), '2027-11-25');
  await tally.click(page.getByRole('button', { name: 'Save and continue' }));
  await expect(page.getByText('Saved. Next: verify the connection.')).toBeVisible();
  await expect(page.getByText('A secret is set, ends in …0042, expires 2027-11-25.')).toBeVisible();
  await expect(page.locator('#connection-status')).toHaveText('Draft: not active yet');

  // Step 3: verify live.
  await tally.click(page.getByRole('button', { name: 'Verify connection' }));
  await expect(page.locator('#verify-summary')).toContainText('All checks passed.');
  const checks = page.getByRole('list', { name: 'Verification results' }).getByRole('listitem');
  await expect(checks).toHaveCount(3);
  for (const title of ['The directory exists', 'The app exists in it and the client secret works', 'The client secret is not about to expire']) {
    await expect(checks.filter({ hasText: title })).toContainText('Passed');
  }
  await screenshots(page, 'wizard-verified');

  // Step 4: test sign-in as B.Simon at the directory, and back.
  await tally.click(page.getByRole('button', { name: 'Test sign-in' }));
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await page.getByLabel('Email, phone, or Skype').fill('B.Simon@contoso.com');
  await page.getByLabel('Password').fill('Contoso-Demo-2026!');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('#test-summary')).toContainText('The test sign-in worked');
  await expect(page.locator('#test-oid')).toHaveText('3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f');
  await expect(page.getByRole('definition').filter({ hasText: 'B.Simon@contoso.com (verified by the domain owner)' })).toBeVisible();
  await expect(page.locator('#test-decision')).toContainText('Would be refused');
  // A custom authority's verified domains prove nothing; the page says how to prove them.
  await expect(page.locator('#test-directory-domains')).toContainText("not one of Microsoft Entra's clouds");
  await hydrated(page);
  await screenshots(page, 'wizard-test-sign-in');

  // Step 4: policy.
  await tally.click(page.getByLabel('Selected members only'));
  await tally.click(page.getByRole('button', { name: 'Save policy' }));
  await expect(page.getByText('Policy saved. Next: review and activate.')).toBeVisible();

  // Step 5: review and activate.
  const summary = page.locator('#review-summary');
  await expect(summary).toContainText('set, ends in …0042, expires 2027-11-25');
  await expect(summary).not.toContainText(SECRET);
  await expect(summary).toContainText('selected members only');
  await tally.click(page.getByRole('button', { name: 'Activate' }));
  await expect(page.locator('#connection-status')).toHaveText('Active');
  await screenshots(page, 'wizard-active');
  console.log(`Manual path from the wizard's first step to "Active": ${tally.clicks} clicks and ${tally.pastes} pastes.`);

  await page.getByRole('link', { name: 'Back to the organization' }).click();
  await expect(page.locator('#org-sso-status')).toHaveText('Active');
  await expect(page.getByText(/Client secret …0042 expires on 2027-11-25/)).toBeVisible();
  activeClientId = clientId;
  expect(await page.content()).not.toContain(SECRET);
});

async function saveAndVerify(page, { tenant = CONTOSO, client = clientId, secret }) {
  await page.getByLabel('Directory (tenant) ID').fill(tenant);
  await page.getByLabel('Application (client) ID').fill(client);
  await page.getByLabel('Client secret Value').fill(secret);
  await page.getByLabel('Secret expires on').fill('2027-11-25');
  await page.getByRole('button', { name: 'Save and continue' }).click();
  await expect(page.getByText('Saved. Next: verify the connection.')).toBeVisible();
  await page.getByRole('button', { name: 'Verify connection' }).click();
  await expect(page.locator('#verify-summary')).toContainText('Some checks failed');
}

test('each failure shows its guidance and leaves the active configuration untouched', async ({ page }) => {
  await signIn(page, 'it@northwind.example');
  await expect(page.getByRole('heading', { name: 'Northwind', level: 1 })).toBeVisible();
  await page.getByRole('link', { name: 'Open single sign-on settings' }).click();
  await hydrated(page);
  const check = (title) => page.getByRole('list', { name: 'Verification results' }).getByRole('listitem').filter({ hasText: title });

  // An unknown directory.
  await saveAndVerify(page, { tenant: crypto.randomUUID(), secret: SECRET });
  await expect(check('The directory exists')).toContainText('Failed');
  await expect(check('The directory exists')).toContainText('This directory was not found');
  await check('The directory exists').getByText('Details from Entra').click();
  await expect(check('The directory exists').locator('pre')).toContainText('AADSTS90002');

  // An unknown client ID.
  await saveAndVerify(page, { client: crypto.randomUUID(), secret: SECRET });
  await expect(check('client secret works')).toContainText('No app with this Application (client) ID exists in this directory');

  // A wrong secret.
  await saveAndVerify(page, { secret: 'Not~The.Secret_Value' });
  await expect(check('client secret works')).toContainText('The client secret is not right');

  // The Secret ID pasted instead of the Value: warned as typed, on save, and by Entra.
  await page.getByLabel('Client secret Value').fill(SECRET_ID);
  await expect(fieldError(page, 'client_secret')).toContainText('looks like the Secret ID');
  await saveAndVerify(page, { secret: SECRET_ID });
  await expect(page.getByRole('alert').filter({ hasText: 'copy the Value column' })).toBeVisible();
  await expect(check('client secret works')).toContainText('not its Secret ID');

  // A user who is not assigned to the app, in a test sign-in.
  const assignedApp = crypto.randomUUID();
  const callback = await page.locator('.copy-value', { hasText: 'Redirect URI' }).locator('code').textContent();
  const assigned = await page.request.post(`${process.env.E2E_IDP_URL}/_test/apps`, {
    data: { tenantId: CONTOSO, clientId: assignedApp, displayName: 'Gatehouse', redirectUris: [callback],
      secrets: [{ id: SECRET_ID, value: SECRET, expires: '2099-01-01T00:00:00Z' }],
      assignmentRequired: true, assignedUsers: ['3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f'] },
  });
  expect(assigned.status()).toBe(201);
  await page.getByLabel('Application (client) ID').fill(assignedApp);
  await page.getByLabel('Client secret Value').fill(SECRET);
  await page.getByRole('button', { name: 'Save and continue' }).click();
  await expect(page.getByText('Saved. Next: verify the connection.')).toBeVisible();
  await page.getByRole('button', { name: 'Test sign-in' }).click();
  await page.getByLabel('Email, phone, or Skype').fill('nobody@contoso.com');
  await page.getByLabel('Password').fill('Contoso-Demo-2026!');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('#test-summary')).toContainText('The person is not assigned to the app');
  await page.locator('#test-summary').getByText('Details from Entra').click();
  await expect(page.locator('#test-summary pre')).toContainText('AADSTS50105');
  await hydrated(page);

  // A redirect URI that is not registered: Entra stops on its own page with AADSTS50011, so
  // the wizard shows beforehand the exact URI it sends, and that page names the same URI.
  const unregisteredApp = crypto.randomUUID();
  await registerApp(page.request, unregisteredApp, [{ id: SECRET_ID, value: SECRET, expires: '2099-01-01T00:00:00Z' }], 'https://elsewhere.example/signin-oidc');
  await page.getByLabel('Application (client) ID').fill(unregisteredApp);
  await page.getByLabel('Client secret Value').fill(SECRET);
  await page.getByRole('button', { name: 'Save and continue' }).click();
  await expect(page.getByText('Saved. Next: verify the connection.')).toBeVisible();
  await expect(page.locator('#test-redirect-uri')).toHaveText(callback);
  await expect(page.locator('#test-redirect-hint')).toContainText('AADSTS50011');
  await expect(page.locator('#test-redirect-hint')).toContainText("add exactly this URI under the Web platform");
  await page.getByRole('button', { name: 'Test sign-in' }).click();
  await expect(page.locator('#error-description')).toContainText(`AADSTS50011: The redirect URI '${callback}'`);
  await page.goBack();
  await hydrated(page);
  await expect(page.locator('#test-redirect-uri')).toHaveText(callback);

  // An expired secret.
  const expiredApp = crypto.randomUUID();
  const redirectUri = await page.locator('.copy-value', { hasText: 'Redirect URI' }).locator('code').textContent();
  await registerApp(page.request, expiredApp, [{ id: SECRET_ID, value: 'Expired~Secret', expires: '2021-01-01T00:00:00Z' }], redirectUri);
  await saveAndVerify(page, { client: expiredApp, secret: 'Expired~Secret' });
  await expect(check('client secret works')).toContainText('This client secret has expired');
  await screenshots(page, 'wizard-failed');

  // Activation is refused for an unverified draft, and the active configuration kept serving.
  await page.getByRole('button', { name: 'Activate' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'Verify the connection' })).toBeVisible();
  await expect(page.locator('#connection-status')).toHaveText('Active');
  const view = await (await page.request.get(`/api/v1/organizations/${orgId}/connection`)).json();
  expect(view.active.client_id).toBe(activeClientId);
  expect(view.active.verification.passed).toBe(true);
});

test('disabling SSO asks for confirmation and takes effect at once', async ({ page }) => {
  await signIn(page, 'it@northwind.example');
  await expect(page.getByRole('heading', { name: 'Northwind', level: 1 })).toBeVisible();
  await page.goto(`/console/orgs/${orgId}/sso`);
  await hydrated(page);
  await page.getByRole('button', { name: 'Disable SSO…' }).click();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.locator('#connection-status')).toHaveText('Active');
  await page.getByRole('button', { name: 'Disable SSO…' }).click();
  await page.getByRole('button', { name: 'Yes, disable SSO' }).click();
  await expect(page.locator('#connection-status')).toHaveText('Disabled');
});
