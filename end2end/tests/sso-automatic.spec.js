// "Set up automatically": Contoso's Global Administrator signs in once at Microsoft's device code
// page (the local provider's), confirms the directory, and Gatehouse creates the app
// registration itself; B.Simon then signs in. Counts what the admin does, and checks the app
// registration made in the directory.
import { test, expect } from '@playwright/test';
import { api, atDirectory, CONTOSO_PASSWORD, CONTOSO_TENANT, ensureOperator, hydrated, screenshots, simonSignsIn, Tally } from './helpers.js';

const IDP = () => process.env.E2E_IDP_URL;
const SIMON = 'B.Simon@contoso.com';
const SETUP_CLIENT = '7b4c2e1a-9d3f-4a8b-b6c5-0e1f2a3b4c5d';

test('an admin connects Contoso automatically and B.Simon signs in', async ({ page, context }) => {
  test.setTimeout(180_000);
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  // Entra asks to poll every 5 seconds; the local directory every second, to keep the test short.
  await page.request.post(`${IDP()}/_test/device-interval`, { data: { seconds: 1 } });
  await page.goto('/signin');
  await ensureOperator(page);
  const org = await (await api(page, 'POST', '/organizations', { name: 'Contoso Pharma', slug: 'contoso-pharma' })).json();
  await page.goto(`/console/orgs/${org.id}/sso`);
  await hydrated(page);
  const tally = new Tally();

  await tally.click(page.getByLabel('Set up automatically (recommended)'));
  // The test's own step: the local provider stands in for Entra as an allowed authority (with
  // Entra's global cloud, the admin keeps the default and does nothing here).
  await page.getByLabel('Cloud').selectOption('custom');
  await page.getByLabel('Authority host').fill(IDP());
  await tally.click(page.getByRole('button', { name: 'Sign in with Microsoft' }));

  // The code, its page, copy buttons and the countdown.
  const codeBox = page.locator('.copy-value', { hasText: 'Code' }).locator('code');
  await expect(codeBox).toHaveText(/\S+/);
  const code = await codeBox.textContent();
  await expect(page.locator('#automatic-countdown')).toContainText(/The code works for 1[45]:\d\d more minutes/);
  await tally.click(page.getByRole('button', { name: 'Copy Code' }));
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(code);
  await screenshots(page, 'wizard-automatic-code');

  // Microsoft's page, in a new tab: the code, "Continue", then the admin's sign-in.
  const [microsoft] = await Promise.all([
    context.waitForEvent('page'),
    tally.click(page.getByRole('link', { name: 'Open the sign-in page' })),
  ]);
  let codeEntries = 0;
  await microsoft.getByLabel('Code').fill(code); codeEntries += 1;
  await tally.click(microsoft.getByRole('button', { name: 'Next' }));
  await expect(microsoft.getByRole('heading', { name: 'Are you trying to sign in to Gatehouse setup?' })).toBeVisible();
  await tally.click(microsoft.getByRole('button', { name: 'Continue' }));
  await microsoft.getByLabel('Email, phone, or Skype').fill('MeganB@contoso.com');
  await microsoft.getByLabel('Password').fill(CONTOSO_PASSWORD);
  await tally.click(microsoft.getByRole('button', { name: 'Sign in' }));
  await expect(microsoft.locator('#device-done')).toContainText('You have signed in to Gatehouse setup');
  await microsoft.close();

  // Back in Gatehouse: the directory to confirm.
  await expect(page.locator('#automatic-directory')).toHaveText('Contoso');
  await expect(page.locator('#automatic-domains')).toContainText('contoso.com');
  await expect(page.getByLabel(/remove Gatehouse setup's own access/)).toBeChecked();
  await screenshots(page, 'wizard-automatic-confirm');
  await tally.click(page.getByRole('button', { name: 'Create the app in Contoso' }));
  await expect(page.locator('#automatic-message')).toContainText('The app registration is ready', { timeout: 60_000 });
  const steps = page.getByRole('list', { name: 'What Gatehouse did' }).getByRole('listitem');
  await expect(steps.first()).toContainText('Done: Create the app registration “Gatehouse SSO for Contoso Pharma”');
  await expect(steps.filter({ hasText: 'Working:' })).toHaveCount(0);
  await expect(page.locator('#verify-summary')).toContainText('All checks passed.');
  await screenshots(page, 'wizard-automatic-done');

  // The same last steps as the manual path.
  await tally.click(page.getByRole('button', { name: 'Test sign-in' }));
  await atDirectory(page, SIMON);
  await expect(page.locator('#test-summary')).toContainText('The test sign-in worked');
  await hydrated(page);
  await tally.click(page.getByRole('button', { name: 'Save policy' }));
  await expect(page.getByText('Policy saved. Next: review and activate.')).toBeVisible();
  await tally.click(page.getByRole('button', { name: 'Activate' }));
  await expect(page.locator('#connection-status')).toHaveText('Active');
  console.log(`Automatic path from the wizard's first step to "Active": ${tally.clicks} clicks and ${tally.pastes} pastes in Gatehouse; ${codeEntries} code entered at Microsoft's page, and two sign-ins at the directory (the admin's, and B.Simon's test sign-in).`);
  expect(tally.pastes).toBe(0);

  // What the directory holds: the app, consented, with a certificate; the setup client's grant gone.
  const held = await (await page.request.get(`${IDP()}/_test/registrations?tenantId=${CONTOSO_TENANT}`)).json();
  const app = held.apps.find((a) => (a.tags ?? []).includes(`gatehouse-organization:${org.id}`));
  expect(app.signInAudience).toBe('AzureADMyOrg');
  expect(app.consentRequired).toBe(false);
  expect(app.secrets).toBe(0);
  expect(app.certificates).toHaveLength(1);
  const setupPrincipal = held.servicePrincipals.find((sp) => sp.appId === SETUP_CLIENT);
  expect(held.permissionGrants.filter((g) => g.clientId === setupPrincipal.id)).toHaveLength(0);

  // B.Simon, a member, signs in with the directory.
  await simonSignsIn(page, org, 'contoso-pharma');
});
