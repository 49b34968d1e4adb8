// The vendor's own application ("Acme Backup", end2end/acme) signs Contoso's people in through
// Gatehouse as its OpenID Provider: the operator registers it in the console, the person signs
// in from Acme through Gatehouse's email page and their directory, signs out from Acme, and an
// admin disabling them in Gatehouse ends their Acme session through back-channel logout.
import { test, expect } from '@playwright/test';
import { api, atDirectory, connectedContoso, ensureOperator, hydrated, screenshots } from './helpers.js';
import { startAcme } from '../acme/app.js';

test.describe.configure({ mode: 'serial' });

const SIMON = { upn: 'B.Simon@contoso.com', name: 'B.Simon', oid: '3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f' };
const ACME_PORT = Number(process.env.E2E_ACME_PORT ?? 4300);
// Another site than Gatehouse (127.0.0.1), as a vendor's application usually is.
const ACME = `http://localhost:${ACME_PORT}`;

let ops;
let contoso;
let acme;

test.beforeAll(async ({ browser }, testInfo) => {
  const context = await browser.newContext({ baseURL: testInfo.project.use.baseURL });
  ops = await context.newPage();
  await ops.goto('/signin');
  await ensureOperator(ops);
  contoso = await connectedContoso(ops, SIMON);
});

test.afterAll(async () => {
  await acme?.close();
  if (contoso) {
    await api(ops, 'PATCH', `/organizations/${contoso.orgId}/members/${contoso.memberId}`, { status: 'active' });
  }
  await ops?.context().close();
});

test('the operator registers Acme Backup and creates its client secret in the console', async () => {
  const page = ops;
  await page.goto('/console');
  await hydrated(page);
  await page.getByRole('link', { name: 'Applications' }).click();
  await expect(page.getByRole('heading', { name: 'Applications' })).toBeVisible();
  await page.getByLabel('Name', { exact: true }).fill('Acme Backup');
  await page.getByLabel('Kind').selectOption('confidential');
  // A plain-http address on another host is refused, with the reason next to the field.
  await page.getByLabel('Redirect URIs', { exact: true }).fill('http://acme.example/auth/callback');
  await page.getByRole('button', { name: 'Register application' }).click();
  await expect(page.locator('#redirect_uris-error')).toContainText('https');
  await page.getByLabel('Redirect URIs', { exact: true }).fill(`${ACME}/auth/callback`);
  await page.getByLabel('Post-logout redirect URIs').fill(`${ACME}/`);
  await page.getByLabel('Back-channel logout URI').fill(`${ACME}/backchannel-logout`);
  await page.getByRole('button', { name: 'Register application' }).click();
  await expect(page.getByRole('heading', { name: 'Acme Backup' })).toBeVisible();
  await hydrated(page);

  const value = (label) => page.locator('.copy-value', { hasText: label }).locator('code');
  await expect(value('Discovery URL')).toHaveText(`${new URL(page.url()).origin}/.well-known/openid-configuration`);
  const clientId = await value('Client ID').textContent();
  await page.getByRole('button', { name: 'Create a client secret' }).click();
  await expect(page.getByText('it is shown only once')).toBeVisible();
  const clientSecret = await value('Client secret').textContent();
  // The list shows only the secret's last characters.
  await expect(page.getByRole('row').filter({ hasText: `…${clientSecret.slice(-4)}` })).toContainText('valid');
  await screenshots(page, 'application');

  // Only Contoso's people may use it: chosen in its settings by name.
  await page.getByLabel("Every organization's people may use it").uncheck();
  await page.getByLabel('Add an organization').fill('contoso');
  await page.getByRole('button', { name: 'Add Contoso', exact: true }).click();
  await expect(page.locator('#chosen-organizations')).toContainText('Contoso');
  // Refresh tokens for two days: a lifetime out of bounds is refused next to the field.
  const refresh = page.getByLabel('Refresh tokens work for (hours)');
  await expect(refresh).toHaveValue('720');
  await refresh.fill('0');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.locator('#refresh_token_lifetime_hours-error')).toContainText('1 to 8784 hours');
  await refresh.fill('48');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByText('Settings saved.')).toBeVisible();
  const saved = await (await api(page, 'GET', `/applications/${clientId}`)).json();
  expect(saved.organization_ids).toEqual([contoso.orgId]);
  expect(saved.refresh_token_lifetime_hours).toBe(48);

  acme = await startAcme({ port: ACME_PORT, issuer: new URL(page.url()).origin, clientId, clientSecret });
});

test('B.Simon signs in to Acme with her company account, through Gatehouse and her directory', async ({ page }) => {
  await page.goto(ACME);
  await page.getByRole('link', { name: 'Sign in with your company' }).click();
  // Gatehouse's email page finds her organization, then her directory asks who she is.
  await hydrated(page);
  await page.getByLabel('Email').fill(SIMON.upn);
  await page.getByRole('button', { name: 'Continue' }).click();
  await atDirectory(page, SIMON.upn);
  await expect(page).toHaveURL(`${ACME}/`);
  await expect(page.getByRole('heading', { name: `Welcome, ${SIMON.name}` })).toBeVisible();
  await expect(page.locator('#organization')).toHaveText('Contoso');
  await expect(page.locator('#role')).toHaveText('member');
  await expect(page.locator('#email')).toHaveText(SIMON.upn);

  // Contoso's page in the console names the applications its people use.
  await ops.goto(`/console/orgs/${contoso.orgId}`);
  await expect(ops.locator('#applications-used').getByRole('row').filter({ hasText: 'Acme Backup' })).toContainText('1');

  // Signing out of Acme signs her out of Gatehouse too, and brings her back to Acme.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(`${ACME}/`);
  await expect(page.getByRole('link', { name: 'Sign in with your company' })).toBeVisible();
  expect((await page.request.get('/api/v1/session')).status()).toBe(401);
});

test('an admin disables B.Simon in Gatehouse, and her Acme session ends', async ({ page }) => {
  await page.goto(ACME);
  await page.getByRole('link', { name: 'Sign in with your company' }).click();
  await hydrated(page);
  await page.getByLabel('Email').fill(SIMON.upn);
  await page.getByRole('button', { name: 'Continue' }).click();
  // Her directory may still know her (it was not signed out): then it does not ask again.
  await page.waitForURL((url) => url.origin === ACME || url.pathname.includes('/interaction/'));
  if (page.url().includes('/interaction/')) await atDirectory(page, SIMON.upn);
  await expect(page.getByRole('heading', { name: `Welcome, ${SIMON.name}` })).toBeVisible();

  const disabled = await api(ops, 'PATCH', `/organizations/${contoso.orgId}/members/${contoso.memberId}`, { status: 'disabled' });
  expect(disabled.status()).toBe(200);
  // Gatehouse's logout token reaches Acme within seconds.
  await expect.poll(async () => {
    await page.reload();
    return page.getByRole('link', { name: 'Sign in with your company' }).isVisible();
  }, { timeout: 15_000 }).toBe(true);
});
