// A client secret 10 days from its expiry: the wizard warns while it is set up, and once it is
// active the organization's overview and the operator's console show a banner and the
// organization's admin gets one email about it.
import crypto from 'node:crypto';
import { test, expect } from '@playwright/test';
import { api, CONTOSO_TENANT, daysFromToday, ensureOperator, hydrated, mailbox, registerApp, screenshots, testSignInAndActivate } from './helpers.js';

const SECRET = `Expiry~E2E.Secret_${crypto.randomUUID().slice(0, 8)}-7Qz9`;

test('a secret 10 days from expiry shows the banners and sends the email', async ({ page }) => {
  await page.goto('/signin');
  await ensureOperator(page);
  const org = await (await api(page, 'POST', '/organizations', { name: 'Adatum', slug: 'adatum' })).json();
  const admin = 'it@adatum.example';
  const added = await api(page, 'POST', `/organizations/${org.id}/members`, { email: admin, display_name: 'Iris IT', role: 'admin' });
  expect(added.status()).toBe(201);
  const expiresOn = daysFromToday(10);

  // The wizard, with a secret whose expiry is 10 days away.
  await page.goto(`/console/orgs/${org.id}/sso`);
  await hydrated(page);
  const redirectUri = await page.locator('.copy-value', { hasText: 'Redirect URI' }).locator('code').textContent();
  const clientId = crypto.randomUUID();
  await registerApp(page.request, clientId, [{ id: crypto.randomUUID(), value: SECRET, expires: `${expiresOn}T23:59:59Z` }], redirectUri);
  await page.getByLabel('Cloud').selectOption('custom');
  await page.getByLabel('Authority host').fill(process.env.E2E_IDP_URL);
  await page.getByLabel('Directory (tenant) ID').fill(CONTOSO_TENANT);
  await page.getByLabel('Application (client) ID').fill(clientId);
  await page.getByLabel('Client secret Value').fill(SECRET);
  await page.getByLabel('Secret expires on').fill(expiresOn);
  await page.getByRole('button', { name: 'Save and continue' }).click();
  await expect(page.getByText('Saved. Next: verify the connection.')).toBeVisible();
  await page.getByRole('button', { name: 'Verify connection' }).click();
  const expiryCheck = page.getByRole('list', { name: 'Verification results' }).getByRole('listitem')
    .filter({ hasText: 'The client secret is not about to expire' });
  await expect(expiryCheck).toContainText(`The secret expires in 10 days, on ${expiresOn}`);
  await testSignInAndActivate(page);

  // The organization's overview: a banner that names the secret, its date and the days left.
  await page.getByRole('link', { name: 'Back to the organization' }).click();
  const banner = page.locator('#org-sso-expiring');
  await expect(banner).toHaveAttribute('role', 'alert');
  await expect(banner).toContainText(`The client secret …7Qz9 expires on ${expiresOn}, in 10 days.`);
  await screenshots(page, 'organization-credential-expiring');

  // The operator's console: Adatum among the credentials expiring soon.
  await page.getByRole('link', { name: 'Console' }).click();
  const row = page.locator('#expiring-credentials').getByRole('row').filter({ hasText: 'Adatum' });
  await expect(row).toContainText('The client secret …7Qz9');
  await expect(row).toContainText(expiresOn);
  await expect(row.getByRole('cell').last()).toHaveText('10');
  await screenshots(page, 'console-credentials-expiring');

  // The admin's mailbox: one message (the mail job sends every 30 seconds).
  await expect.poll(async () => (await mailbox(page.request, admin)).length, { timeout: 45_000 }).toBe(1);
  const [message] = await mailbox(page.request, admin);
  expect(message.subject).toBe('Gatehouse: single sign-on for Adatum stops in 10 days');
  expect(message.text).toContain(`The client secret …7Qz9 that Gatehouse signs Adatum's people in with expires on ${expiresOn} (in 10 days).`);
  expect(message.text).toContain(`/console/orgs/${org.id}/sso`);
  expect(message.text).not.toContain(SECRET);
});
