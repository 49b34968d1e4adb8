// "Update configuration": the admin adds a new secret in Entra beside the one that serves,
// pastes it in the wizard, verifies and tests it while people keep signing in with the old one,
// then activates: the switch is atomic, and people who were at the directory's sign-in page
// during it land signed in.
import crypto from 'node:crypto';
import { test, expect } from '@playwright/test';
import { api, atDirectory, CONTOSO_TENANT, ensureOperator, hydrated, registerApp, testSignInAndActivate } from './helpers.js';

const SIMON = { upn: 'B.Simon@contoso.com', oid: '3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f', name: 'B. Simon' };
const OLD = `Rotation~Old.Secret_${crypto.randomUUID().slice(0, 8)}-0Ld1`;
const NEW = `Rotation~New.Secret_${crypto.randomUUID().slice(0, 8)}-nEw2`;
const secret = (value) => ({ id: crypto.randomUUID(), value, expires: '2099-01-01T00:00:00Z' });

test('a new secret replaces the serving one while people sign in, and none of them fails', async ({ page, browser }) => {
  await page.goto('/signin');
  await ensureOperator(page);
  const org = await (await api(page, 'POST', '/organizations', { name: 'Proseware', slug: 'proseware' })).json();
  const base = `/organizations/${org.id}/connection`;
  const { redirect_uri: redirectUri } = await (await api(page, 'GET', base)).json();
  const clientId = crypto.randomUUID();
  const old = secret(OLD);
  await registerApp(page.request, clientId, [old], redirectUri);

  // Connected with the old secret, B.Simon mapped.
  await page.goto(`/console/orgs/${org.id}/sso`);
  await hydrated(page);
  await page.getByLabel('Cloud').selectOption('custom');
  await page.getByLabel('Authority host').fill(process.env.E2E_IDP_URL);
  await page.getByLabel('Directory (tenant) ID').fill(CONTOSO_TENANT);
  await page.getByLabel('Application (client) ID').fill(clientId);
  await page.getByLabel('Client secret Value').fill(OLD);
  await page.getByLabel('Secret expires on').fill('2027-11-25');
  await page.getByRole('button', { name: 'Save and continue' }).click();
  await page.getByRole('button', { name: 'Verify connection' }).click();
  await expect(page.locator('#verify-summary')).toContainText('All checks passed.');
  await testSignInAndActivate(page);
  const created = await api(page, 'POST', `/organizations/${org.id}/members`, { email: SIMON.upn, display_name: SIMON.name, role: 'member' });
  const mapped = await api(page, 'PATCH', `/organizations/${org.id}/members/${(await created.json()).id}`, { directory_object_id: SIMON.oid, sso_enabled: true });
  expect(mapped.status()).toBe(200);

  // People on their way in: each at the directory's sign-in page, before and during the change.
  const people = [];
  const arrive = async () => {
    const context = await browser.newContext();
    const person = await context.newPage();
    await person.goto('/o/proseware/sso');
    await expect(person.getByLabel('Email, phone, or Skype')).toBeVisible();
    people.push(person);
  };
  await arrive();
  await arrive();

  // In Entra, a second secret beside the first; in Gatehouse, the draft takes it.
  await registerApp(page.request, clientId, [old, secret(NEW)], redirectUri);
  await page.reload();
  await hydrated(page);
  await page.getByLabel('Client secret Value').fill(NEW);
  await page.getByRole('button', { name: 'Save and continue' }).click();
  await expect(page.getByText('Saved. Next: verify the connection.')).toBeVisible();
  await arrive();
  await page.getByRole('button', { name: 'Verify connection' }).click();
  await expect(page.locator('#verify-summary')).toContainText('All checks passed.');
  // The old secret still serves: one person signs in now.
  await atDirectory(people[0], SIMON.upn);
  await expect(people[0]).toHaveURL(/\/account$/);
  // The admin's own session at the directory ended meanwhile: the test sign-in asks again.
  await page.context().clearCookies({ domain: 'localhost' });
  await testSignInAndActivate(page);
  await expect(page.locator('#activate-notice')).toContainText('The client secret …nEw2 now signs people in.');
  await expect(page.locator('#activate-notice')).toContainText('The client secret …0Ld1 still works in Entra');

  // The others finish after the switch: every one lands signed in.
  for (const person of people.slice(1)) {
    await atDirectory(person, SIMON.upn);
    await expect(person).toHaveURL(/\/account$/);
    await expect(person.locator('#account-organization')).toHaveText('Proseware');
  }
  // The admin removes the old secret in Entra: sign-ins go on with the new one.
  await registerApp(page.request, clientId, [secret(NEW)], redirectUri);
  await arrive();
  const last = people.at(-1);
  await atDirectory(last, SIMON.upn);
  await expect(last).toHaveURL(/\/account$/);
  for (const person of people) await person.context().close();
});
