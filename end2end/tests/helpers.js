import fs from 'node:fs';
import path from 'node:path';
import { expect } from '@playwright/test';

export const PASSWORD = 'correct horse battery staple';

/** Screenshots of a page at phone and desktop widths, kept with the test artifacts. */
export async function screenshots(page, name) {
  const dir = path.join('artifacts', 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  const original = page.viewportSize();
  for (const width of [360, 1440]) {
    await page.setViewportSize({ width, height: 900 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, `${name} scrolls sideways at ${width}px`).toBeLessThanOrEqual(0);
    await page.screenshot({ path: path.join(dir, `${name}-${width}.png`), fullPage: true });
  }
  if (original) await page.setViewportSize(original);
}

/** Waits until the page is interactive (hydrated), so submitting goes through the app. */
export async function hydrated(page) {
  await page.waitForFunction(() => window.__gatehouseHydrated === true, null, { timeout: 30_000 });
}

/** The message shown next to a field (its aria-describedby error). */
export function fieldError(page, id) {
  return page.locator(`#${id}-error`);
}

/** Password sign-in on the email-first page: email, Continue, then the password. */
export async function signIn(page, email, password = PASSWORD) {
  await page.goto('/signin');
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** The Contoso directory of the local provider (end2end/idp/directory.json). */
export const CONTOSO_TENANT = '6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11';

export async function api(page, method, path, data) {
  const response = await page.request.fetch(`/api/v1${path}`, {
    method, data, headers: { Origin: new URL(page.url() === 'about:blank' ? 'http://127.0.0.1' : page.url()).origin },
  });
  return response;
}

/** Registers an app in Contoso's directory; `graphPermissions` are granted with admin consent. */
export async function registerApp(request, id, secrets, redirectUri, graphPermissions = []) {
  const r = await request.post(`${process.env.E2E_IDP_URL}/_test/apps`, {
    data: {
      tenantId: CONTOSO_TENANT, clientId: id, displayName: 'Gatehouse', secrets, redirectUris: [redirectUri], graphPermissions,
      frontchannelLogoutUri: redirectUri.replace('/auth/callback', '/auth/logout'),
    },
  });
  expect(r.status()).toBe(201);
}

/** Signs the operator in, creating them through the first-run link when this file runs alone. */
export async function ensureOperator(page) {
  const credentials = { email: 'ops@vendor.example', password: PASSWORD };
  // Every story signs the operator in once; together they pass the per-account limit of five
  // a minute, which lets one more through every 12 seconds.
  let signedIn = await api(page, 'POST', '/session', credentials);
  for (let tries = 0; signedIn.status() === 429 && tries < 6; tries += 1) {
    await page.waitForTimeout(12_500);
    signedIn = await api(page, 'POST', '/session', credentials);
  }
  if (signedIn.status() === 200) return;
  const token = process.env.E2E_FIRST_RUN_URL.split('/').pop();
  const created = await api(page, 'POST', '/first-run', { ...credentials, token, name: 'Olivia Operator' });
  expect(created.status()).toBe(200);
}


/** The directory's password for the local provider's Contoso people. */
export const CONTOSO_PASSWORD = 'Contoso-Demo-2026!';

/** Signs in at the directory's own page (the local provider's form). */
export async function atDirectory(page, upn) {
  await expect(page.getByLabel('Email, phone, or Skype')).toBeVisible();
  await page.getByLabel('Email, phone, or Skype').fill(upn);
  await page.getByLabel('Password').fill(CONTOSO_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * Contoso's id, with its directory connected (everyone may sign in), contoso.com proven and
 * `member` mapped. The sign-in story leaves Contoso so; a file that runs alone connects it
 * here through the API, with the wizard's test sign-in at the directory in `page`.
 */
export async function connectedContoso(page, member) {
  const found = await (await api(page, 'GET', '/organizations?q=contoso')).json();
  let org = found.items.find((o) => o.slug === 'contoso');
  if (!org) {
    const created = await api(page, 'POST', '/organizations', { name: 'Contoso', slug: 'contoso' });
    expect(created.status()).toBe(201);
    org = await created.json();
  }
  const base = `/organizations/${org.id}/connection`;
  const connection = await (await api(page, 'GET', base)).json();
  if (connection.status !== 'active') {
    const secret = `Vendor~E2E.Secret_${crypto.randomUUID()}`;
    const clientId = crypto.randomUUID();
    await registerApp(page.request, clientId, [{ id: crypto.randomUUID(), value: secret, expires: '2099-01-01T00:00:00Z' }], connection.redirect_uri);
    const saved = await api(page, 'PUT', `${base}/draft/credentials`, {
      version: connection.draft_version ?? 0, cloud: 'custom', authority_host: process.env.E2E_IDP_URL,
      tenant: CONTOSO_TENANT, client_id: clientId, client_secret: secret, secret_expires_on: '2027-11-25',
    });
    expect(saved.status()).toBe(200);
    let { draft_version: version } = await saved.json();
    expect((await api(page, 'POST', `${base}/draft/verify`, { version })).status()).toBe(200);
    ({ draft_version: version } = await (await api(page, 'GET', base)).json());
    const policy = await api(page, 'PUT', `${base}/draft/policy`, {
      version, mode: 'everyone', allow_admins: true, create_members: false, new_member_role: 'member',
      email_domains: ['contoso.com'],
    });
    expect(policy.status()).toBe(200);
    const { authorize_url: authorizeUrl } = await (await api(page, 'POST', `${base}/test-sign-in`, {})).json();
    await page.goto(authorizeUrl);
    await atDirectory(page, member.upn);
    await expect(page.locator('#test-summary')).toContainText('The test sign-in worked');
    ({ draft_version: version } = await (await api(page, 'GET', base)).json());
    expect((await api(page, 'POST', `${base}/activate`, { version })).status()).toBe(200);
  }
  const approved = await api(page, 'POST', `/organizations/${org.id}/email-domains/contoso.com/approve`);
  expect([200, 409]).toContain(approved.status());
  const listed = await (await api(page, 'GET', `/organizations/${org.id}/members?q=${encodeURIComponent(member.upn)}`)).json();
  let memberId = listed.items[0]?.id;
  if (!memberId) {
    const created = await api(page, 'POST', `/organizations/${org.id}/members`, { email: member.upn, display_name: member.name, role: 'member' });
    expect(created.status()).toBe(201);
    memberId = (await created.json()).id;
  }
  const mapped = await api(page, 'PATCH', `/organizations/${org.id}/members/${memberId}`, {
    directory_object_id: member.oid, sso_enabled: true, status: 'active',
  });
  expect(mapped.status()).toBe(200);
  return { orgId: org.id, memberId };
}

/** The messages `address` received at the tests' SMTP server, oldest first. */
export async function mailbox(request, address) {
  const all = await (await request.get(`${process.env.E2E_SMTP_CONTROL_URL}/messages`)).json();
  return all.filter((m) => m.to.includes(address));
}

/** `YYYY-MM-DD`, `days` from today (UTC, as Gatehouse counts). */
export function daysFromToday(days) {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

/** B.Simon becomes a member of `org` (its SSO slug `slug`), mapped to his Contoso user, and signs in with the directory. */
export async function simonSignsIn(page, org, slug) {
  const created = await api(page, 'POST', `/organizations/${org.id}/members`, { email: 'B.Simon@contoso.com', display_name: 'B. Simon', role: 'member' });
  expect(created.status()).toBe(201);
  const mapped = await api(page, 'PATCH', `/organizations/${org.id}/members/${(await created.json()).id}`, {
    directory_object_id: '3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f', sso_enabled: true,
  });
  expect(mapped.status()).toBe(200);
  await page.context().clearCookies();
  await page.goto(`/o/${slug}/sso`);
  await atDirectory(page, 'B.Simon@contoso.com');
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.locator('#account-organization')).toHaveText(org.name);
}

/** Counts what an admin does: clicks, and values pasted. */
export class Tally {
  constructor() { this.clicks = 0; this.pastes = 0; }
  async click(locator) { this.clicks += 1; await locator.click(); }
  async paste(locator, value) { this.pastes += 1; await locator.fill(value); }
}

/** The wizard's last steps on a verified draft: a test sign-in as B.Simon, the default policy, activate. */
export async function testSignInAndActivate(page) {
  await page.getByRole('button', { name: 'Test sign-in' }).click();
  await atDirectory(page, 'B.Simon@contoso.com');
  await expect(page.locator('#test-summary')).toContainText('The test sign-in worked');
  await hydrated(page);
  await page.getByRole('button', { name: 'Save policy' }).click();
  await expect(page.getByText('Policy saved. Next: review and activate.')).toBeVisible();
  await page.getByRole('button', { name: 'Activate' }).click();
  await expect(page.locator('#connection-status')).toHaveText('Active');
}
