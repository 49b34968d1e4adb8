// People of an organization sign in with their directory: through the email-first page and
// through the organization's own start address (what the Entra My Apps tile opens), the
// policy's refusals end on a page that says why, and signing out ends the session.
import crypto from 'node:crypto';
import { test, expect } from '@playwright/test';
import { api, ensureOperator, hydrated, registerApp, screenshots } from './helpers.js';
import { PUBLIC_URL } from '../playwright.config.js';

test.describe.configure({ mode: 'serial' });

const CONTOSO = '6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11';
const SECRET = 'SignIn~E2E.Secret_Value-7731';
const PASSWORD = 'Contoso-Demo-2026!';
const SIMON = { upn: 'B.Simon@contoso.com', oid: '3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f' };
const ADELE = { upn: 'AdeleV@contoso.com', oid: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d' };
let orgId;
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

async function connection(page) {
  return (await api(page, 'GET', `/organizations/${orgId}/connection`)).json();
}

async function setPolicy(page, policy) {
  const { draft_version: version } = await connection(page);
  const saved = await api(page, 'PUT', `/organizations/${orgId}/connection/draft/policy`, {
    version, mode: 'everyone', allow_admins: true, create_members: false, new_member_role: 'member',
    email_domains: ['contoso.com'], ...policy,
  });
  expect(saved.status()).toBe(200);
  const { draft_version: current } = await connection(page);
  expect((await api(page, 'POST', `/organizations/${orgId}/connection/activate`, { version: current })).status()).toBe(200);
}

/** The member with this email, created when missing. */
async function memberId(page, email, name) {
  const found = await (await api(page, 'GET', `/organizations/${orgId}/members?q=${encodeURIComponent(email)}`)).json();
  if (found.items.length) return found.items[0].id;
  const created = await api(page, 'POST', `/organizations/${orgId}/members`, { email, display_name: name, role: 'member' });
  expect(created.status()).toBe(201);
  return (await created.json()).id;
}

/** Maps a member by pasting the Object ID in the console, as the admin would. */
async function mapInConsole(page, email, name, oid) {
  await memberId(page, email, name);
  await page.goto(`/console/orgs/${orgId}`);
  await hydrated(page);
  await page.getByRole('button', { name: `Edit ${name}` }).click();
  await page.getByLabel('Object ID in the directory').fill('not-a-guid');
  await page.getByRole('button', { name: 'Save member' }).click();
  await expect(page.locator('#edit-object-id-error')).toContainText('GUID');
  await page.getByLabel('Object ID in the directory').fill(oid);
  await page.getByLabel('Status').selectOption('active');
  await page.getByLabel(/^SSO enabled/).check();
  await page.getByRole('button', { name: 'Save member' }).click();
  await expect(page.getByRole('row').filter({ hasText: email })).toContainText(oid);
}

test('the operator connects Contoso to its directory', async () => {
  const page = ops;
  // Contoso exists when the foundation story ran first; this file also runs alone.
  const found = await (await api(page, 'GET', '/organizations?q=contoso')).json();
  const existing = found.items.find((o) => o.slug === 'contoso');
  if (existing) {
    orgId = existing.id;
  } else {
    const created = await api(page, 'POST', '/organizations', { name: 'Contoso', slug: 'contoso' });
    expect(created.status()).toBe(201);
    orgId = (await created.json()).id;
  }
  const { redirect_uri: redirectUri } = await connection(page);
  const clientId = crypto.randomUUID();
  await registerApp(page.request, clientId, [{ id: crypto.randomUUID(), value: SECRET, expires: '2099-01-01T00:00:00Z' }], redirectUri);
  const base = `/organizations/${orgId}/connection`;
  const saved = await api(page, 'PUT', `${base}/draft/credentials`, {
    version: 0, cloud: 'custom', authority_host: process.env.E2E_IDP_URL, tenant: CONTOSO,
    client_id: clientId, client_secret: SECRET, secret_expires_on: '2027-11-25',
  });
  expect(saved.status()).toBe(200);
  expect((await api(page, 'POST', `${base}/draft/verify`, { version: 1 })).status()).toBe(200);
  await setPolicyDraft(page, base);
  const { authorize_url: authorizeUrl } = await (await api(page, 'POST', `${base}/test-sign-in`, {})).json();
  await page.goto(authorizeUrl);
  await atDirectory(page, SIMON.upn);
  await expect(page.locator('#test-summary')).toContainText('The test sign-in worked');
  const { draft_version: version } = await connection(page);
  expect((await api(page, 'POST', `${base}/activate`, { version })).status()).toBe(200);
  await proveContosoByDns(page);
  await mapInConsole(page, SIMON.upn, 'B.Simon', SIMON.oid);
  const adele = await memberId(page, ADELE.upn, 'Adele Vance');
  expect((await api(page, 'PATCH', `/organizations/${orgId}/members/${adele}`, { directory_object_id: ADELE.oid, sso_enabled: false })).status()).toBe(200);
});

/** contoso.com is proven the way its admin would: the TXT record the wizard shows, then a check. */
async function proveContosoByDns(page) {
  await page.goto(`/console/orgs/${orgId}/sso`);
  await hydrated(page);
  const domain = page.locator('#domain-contoso-com');
  await expect(domain.locator('.domain-state')).toContainText('Waiting for proof');
  const name = await domain.locator('.copy-value', { hasText: 'Record name' }).locator('code').textContent();
  const value = await domain.locator('.copy-value', { hasText: 'Record value' }).locator('code').textContent();
  expect(name).toBe('_gatehouse-challenge.contoso.com');
  // Checked before the record exists: the page says which record it looked for.
  await domain.getByRole('button', { name: 'Check the DNS record of contoso.com' }).click();
  await expect(page.locator('#domain-error')).toContainText('_gatehouse-challenge.contoso.com');
  const set = await page.request.put(`${process.env.E2E_DNS_CONTROL_URL}/records/${name}`, { data: { txt: [value] } });
  expect(set.status()).toBe(204);
  await domain.getByRole('button', { name: 'Check the DNS record of contoso.com' }).click();
  await expect(domain.locator('.domain-state')).toContainText('Proven by its DNS record');
  await expect(page.locator('#domain-error')).toBeEmpty();
}

async function setPolicyDraft(page, base) {
  const saved = await api(page, 'PUT', `${base}/draft/policy`, {
    version: 2, mode: 'everyone', allow_admins: true, create_members: false, new_member_role: 'member',
    email_domains: ['contoso.com'],
  });
  expect(saved.status()).toBe(200);
}

test('B.Simon signs in with her email on the sign-in page, and signs out', async ({ page }) => {
  await page.goto('/signin');
  await hydrated(page);
  await page.getByLabel('Email').fill(SIMON.upn);
  await page.getByRole('button', { name: 'Continue' }).click();
  // Straight to her directory, with her email already filled in.
  await expect(page.getByLabel('Email, phone, or Skype')).toHaveValue(SIMON.upn);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/account$/);
  await hydrated(page);
  await expect(page.locator('#account-name')).toHaveText('B.Simon');
  await expect(page.locator('#account-organization')).toHaveText('Contoso');
  await screenshots(page, 'account');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.locator('#signed-out')).toHaveText('You are signed out of Gatehouse.');
  await expect(page.locator('#directory-sign-out')).toHaveAttribute('href', `${process.env.E2E_IDP_URL}/${CONTOSO}/oauth2/v2.0/logout`);
  expect((await page.request.get('/api/v1/session')).status()).toBe(401);
});

test('signing out at her directory signs B.Simon out of Gatehouse too (front-channel logout)', async ({ page }) => {
  await page.goto('/o/contoso/sso');
  await atDirectory(page, SIMON.upn);
  await expect(page).toHaveURL(/\/account$/);
  expect((await page.request.get('/api/v1/session')).status()).toBe(200);
  // The directory's sign-out page loads Gatehouse's logout URL in a hidden iframe, from its own
  // site: no Gatehouse cookie goes along, only the directory's session id.
  const frontChannel = page.waitForRequest((r) => r.url().includes('/auth/logout?sid='));
  await page.goto(`${process.env.E2E_IDP_URL}/${CONTOSO}/oauth2/v2.0/logout`);
  const request = await frontChannel;
  expect(request.url().startsWith(`${PUBLIC_URL}/auth/logout?sid=`)).toBe(true);
  expect(await request.headerValue('cookie')).toBeNull();
  await expect.poll(async () => (await page.request.get('/api/v1/session')).status()).toBe(401);
});

test('the organization\'s start address signs B.Simon in, as the My Apps tile would', async ({ page }) => {
  await page.goto('/o/contoso/sso');
  await atDirectory(page, SIMON.upn);
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.locator('#account-email')).toHaveText(SIMON.upn);
  // The organization's overview shows the sign-in.
  await ops.goto(`/console/orgs/${orgId}`);
  await hydrated(ops);
  await expect(ops.locator('#org-sso-status')).toHaveText('Active');
  await expect(ops.locator('#org-sso-last-sign-in')).not.toHaveText('none yet');
  // The members list narrows to who signed in with SSO lately.
  await ops.getByLabel('Show').selectOption({ label: 'Signed in with SSO in the last 30 days' });
  await expect(ops.getByRole('row').filter({ hasText: SIMON.upn })).toBeVisible();
  await expect(ops.getByRole('row').filter({ hasText: ADELE.upn })).toHaveCount(0);
  await ops.getByLabel('Show').selectOption({ label: 'Not mapped' });
  await expect(ops.getByRole('row').filter({ hasText: SIMON.upn })).toHaveCount(0);
});

test('in "selected members" mode a member who is not selected is refused with the reason', async ({ page }) => {
  await setPolicy(ops, { mode: 'selected_members' });
  await page.goto('/o/contoso/sso');
  await atDirectory(page, ADELE.upn);
  await expect(page.getByRole('heading', { name: 'You cannot sign in here yet' })).toBeVisible();
  await expect(page.locator('#problem')).toContainText('on only for selected members');
  const reference = await page.locator('#reference').textContent();
  expect(reference).toMatch(/^[A-Z0-9]{4}-[A-Z0-9]{4}$/);
  await screenshots(page, 'sign-in-refused');
  expect((await page.request.get('/api/v1/session')).status()).toBe(401);
  // The operator finds the same reference in the audit log.
  await ops.goto(`/console/orgs/${orgId}/audit`);
  await expect(ops.getByRole('row').filter({ hasText: reference })).toContainText('not_selected');
});

test('a first sign-in creates a member only when the organization allows it', async ({ page, context }) => {
  const nobody = 'nobody@contoso.com';
  await setPolicy(ops, { mode: 'everyone', create_members: false });
  await page.goto('/o/contoso/sso');
  await atDirectory(page, nobody);
  await expect(page.locator('#problem')).toContainText('not linked to a member of this organization');
  // A new sign-in at the directory, not the session it remembers.
  await context.clearCookies();

  await setPolicy(ops, { mode: 'everyone', create_members: true });
  const before = await (await api(ops, 'GET', `/organizations/${orgId}/members?q=nobody`)).json();
  expect(before.total).toBe(0);
  await page.goto('/o/contoso/sso');
  await atDirectory(page, nobody);
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.locator('#account-name')).toHaveText('Nobody Assigned');
  const after = await (await api(ops, 'GET', `/organizations/${orgId}/members?q=nobody`)).json();
  expect(after.total).toBe(1);
  expect(after.items[0].directory_object_id).toBe('0d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a');
});

test('a member whose directory does not vouch for an email has none until the admin sets it', async ({ page }) => {
  await setPolicy(ops, { mode: 'everyone', create_members: true });
  const eve = { oid: crypto.randomUUID(), name: 'Eve Unvouched', upn: 'eve.unvouched@contoso.com' };
  // Her mail attribute names another company's domain, and the directory does not verify it.
  const added = await page.request.post(`${process.env.E2E_IDP_URL}/_test/users`, {
    data: { tenantId: CONTOSO, users: [{ ...eve, email: 'ceo@fabrikam.example', password: PASSWORD }] },
  });
  expect(added.status()).toBe(201);
  await page.goto('/o/contoso/sso');
  await atDirectory(page, eve.upn);
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.locator('#account-email')).toHaveText('none yet: your admin can set it');

  await ops.goto(`/console/orgs/${orgId}`);
  await hydrated(ops);
  const row = ops.getByRole('row').filter({ hasText: eve.name });
  await expect(row).toContainText('—');
  await expect(row).not.toContainText('fabrikam');
  await ops.getByRole('button', { name: `Edit ${eve.name}` }).click();
  await ops.locator('#edit-email').fill(ADELE.upn);
  await ops.getByRole('button', { name: 'Save member' }).click();
  await expect(ops.locator('#edit-email-error')).toContainText('already exists');
  await ops.locator('#edit-email').fill('Eve@contoso.com');
  await ops.getByRole('button', { name: 'Save member' }).click();
  await expect(row).toContainText('Eve@contoso.com');
});

test('inviting a member who signs in with the directory as an admin asks first', async () => {
  await ops.goto(`/console/orgs/${orgId}`);
  await hydrated(ops);
  await ops.getByLabel("Admin's email").fill(SIMON.upn);
  await ops.getByRole('button', { name: 'Create invite link' }).click();
  await expect(ops.locator('#invite-email-error')).toContainText('is a member who signs in with the directory');
  await ops.getByRole('button', { name: 'Invite them anyway: they become an admin' }).click();
  await expect(ops.getByRole('status').filter({ hasText: 'Send this link to' })).toContainText(SIMON.upn);
});

test('an operator approves a domain without a DNS record, and the overview shows each domain', async () => {
  await setPolicy(ops, { mode: 'everyone', create_members: true, email_domains: ['contoso.com', 'contoso.net'] });
  await ops.goto(`/console/orgs/${orgId}/sso`);
  await hydrated(ops);
  const net = ops.locator('#domain-contoso-net');
  await expect(net.locator('.domain-state')).toContainText('Waiting for proof');
  await net.getByRole('button', { name: 'Approve without a DNS record (operator)' }).click();
  await expect(net.locator('.domain-state')).toContainText("Proven by an operator's approval");
  await ops.goto(`/console/orgs/${orgId}`);
  await hydrated(ops);
  await expect(ops.locator('#org-domain-contoso-com')).toContainText('Proven by its DNS record');
  await expect(ops.locator('#org-domain-contoso-net')).toContainText("Proven by an operator's approval");
});
