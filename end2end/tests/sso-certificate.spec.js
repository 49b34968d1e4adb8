// The manual path with a certificate instead of a secret: Gatehouse generates it, the admin
// downloads the .cer and uploads it to the app in Entra (here the provider's upload hook), and
// Gatehouse signs its token requests with it; B.Simon then signs in.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { test, expect } from '@playwright/test';
import { api, CONTOSO_TENANT, ensureOperator, hydrated, registerApp, screenshots, simonSignsIn, testSignInAndActivate } from './helpers.js';

test('a certificate Gatehouse generates in the manual path signs B.Simon in', async ({ page }) => {
  await page.goto('/signin');
  await ensureOperator(page);
  const org = await (await api(page, 'POST', '/organizations', { name: 'Fourth Coffee', slug: 'fourthcoffee' })).json();
  await page.goto(`/console/orgs/${org.id}/sso`);
  await hydrated(page);
  const redirectUri = await page.locator('.copy-value', { hasText: 'Redirect URI' }).locator('code').textContent();
  // The app registration, with no secret at all.
  const clientId = crypto.randomUUID();
  await registerApp(page.request, clientId, [], redirectUri);

  await page.getByLabel('Cloud').selectOption('custom');
  await page.getByLabel('Authority host').fill(process.env.E2E_IDP_URL);
  await page.getByLabel('Directory (tenant) ID').fill(CONTOSO_TENANT);
  await page.getByLabel('Application (client) ID').fill(clientId);
  await page.getByLabel(/A certificate Gatehouse generates/).check();
  await expect(page.getByLabel('Client secret Value')).toHaveCount(0);
  await page.getByRole('button', { name: 'Generate certificate' }).click();
  const thumbprint = page.locator('#certificate-thumbprint');
  await expect(thumbprint).toHaveText(/^[0-9A-F]{40}$/);
  await screenshots(page, 'wizard-certificate');

  // The admin downloads the .cer and uploads it under Certificates & secrets.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download certificate (.cer)' }).click(),
  ]);
  expect(download.suggestedFilename()).toBe('gatehouse-fourthcoffee.cer');
  const der = fs.readFileSync(await download.path());
  const uploaded = await page.request.post(`${process.env.E2E_IDP_URL}/_test/apps/certificates`, {
    data: { clientId, certificate: der.toString('base64') },
  });
  expect(uploaded.status()).toBe(201);
  expect((await uploaded.json()).thumbprint).toBe(await thumbprint.textContent());

  await page.getByRole('button', { name: 'Save and continue' }).click();
  await expect(page.getByText('Saved. Next: verify the connection.')).toBeVisible();
  await page.getByRole('button', { name: 'Verify connection' }).click();
  await expect(page.locator('#verify-summary')).toContainText('All checks passed.');
  const checks = page.getByRole('list', { name: 'Verification results' }).getByRole('listitem');
  await expect(checks.filter({ hasText: 'The app exists in it and the certificate works' })).toContainText('Passed');
  await expect(checks.filter({ hasText: 'The certificate is not about to expire' })).toContainText('Passed');
  await testSignInAndActivate(page);

  // B.Simon, a member of Fourth Coffee, signs in with the directory.
  await simonSignsIn(page, org, 'fourthcoffee');
});
