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
  if ((await api(page, 'POST', '/session', credentials)).status() === 200) return;
  const token = process.env.E2E_FIRST_RUN_URL.split('/').pop();
  const created = await api(page, 'POST', '/first-run', { ...credentials, token, name: 'Olivia Operator' });
  expect(created.status()).toBe(200);
}

