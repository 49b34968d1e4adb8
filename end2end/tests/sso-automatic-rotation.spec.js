// The automatic rotation, with the clock moved forward: a Gatehouse of this story's own (on its
// own SQLite data) sets Woodgrove Bank's connection up automatically (the admin at Microsoft's
// device code page), then restarts 700 days later, 30 days before its certificate expires, and
// its housekeeping rotates the certificate through Graph's addKey/removeKey with no admin; back
// at today's date, B.Simon signs in with the new certificate.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, expect } from '@playwright/test';
import { GATEHOUSE_BINARY, startGatehouse, stopProcess } from '../gatehouse-process.js';
import { GATEHOUSE_PORT } from '../playwright.config.js';
import { CONTOSO_PASSWORD, CONTOSO_TENANT, PASSWORD, atDirectory } from './helpers.js';

const IDP = () => process.env.E2E_IDP_URL;
const SIMON = { upn: 'B.Simon@contoso.com', oid: '3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f', name: 'B. Simon' };
const PORT = GATEHOUSE_PORT + 40;
const URL_BASE = `http://127.0.0.1:${PORT}`;

/** This story's Gatehouse on `dataDir`, its clock moved by `days`. */
function gatehouse(dataDir, days = 0) {
  return startGatehouse(GATEHOUSE_BINARY, [], {
    GATEHOUSE_PUBLIC_URL: URL_BASE,
    GATEHOUSE_LISTEN: `127.0.0.1:${PORT}`,
    GATEHOUSE_DATA_DIR: dataDir,
    GATEHOUSE_ALLOWED_AUTHORITIES: IDP(),
    GATEHOUSE_SETUP_CLIENT_ID: '7b4c2e1a-9d3f-4a8b-b6c5-0e1f2a3b4c5d',
    ...(days ? { GATEHOUSE_TEST_CLOCK_OFFSET_DAYS: String(days) } : {}),
  }, 'rotation-server.log');
}

test('the automatic rotation runs with the clock moved forward', async ({ page }) => {
  test.setTimeout(240_000);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-rotation-'));
  let running = gatehouse(dataDir);
  try {
    const firstRun = await running.ready;
    const call = async (method, rest, data) => page.request.fetch(`${URL_BASE}/api/v1${rest}`, { method, data, headers: { Origin: URL_BASE } });
    const created = await call('POST', '/first-run', { email: 'ops@vendor.example', password: PASSWORD, token: firstRun.split('/').pop(), name: 'Olivia Operator' });
    expect(created.status()).toBe(200);
    const org = await (await call('POST', '/organizations', { name: 'Woodgrove Bank', slug: 'woodgrove-bank' })).json();
    await page.request.post(`${IDP()}/_test/device-interval`, { data: { seconds: 1 } });

    // The automatic setup, as the wizard drives it; the admin at Microsoft's page.
    const base = `/organizations/${org.id}/connection`;
    const started = (await (await call('POST', `${base}/automatic`, { cloud: 'custom', authority_host: IDP(), tenant: 'contoso.com' })).json()).setup;
    await page.goto(started.verification_uri);
    await page.getByLabel('Code').fill(started.user_code);
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByLabel('Email, phone, or Skype').fill('MeganB@contoso.com');
    await page.getByLabel('Password').fill(CONTOSO_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.locator('#device-done')).toBeVisible();
    // The admin's directory session ends; the test sign-in below is B.Simon's.
    await page.context().clearCookies({ domain: new URL(IDP()).hostname });
    const stage = async () => (await (await call('GET', `${base}/automatic`)).json()).setup;
    await expect.poll(async () => (await stage()).stage).toBe('confirm');
    await call('POST', `${base}/automatic/confirm`, { id: started.id, proceed: true, remove_setup_access: true });
    await expect.poll(async () => (await stage()).stage, { timeout: 60_000 }).toBe('done');

    // The test sign-in, the policy and activation.
    const version = async () => (await (await call('GET', base)).json()).draft_version;
    const { authorize_url: authorize } = await (await call('POST', `${base}/test-sign-in`, {})).json();
    await page.goto(authorize);
    await atDirectory(page, SIMON.upn);
    await expect.poll(async () => (await (await call('GET', base)).json()).test_sign_in?.passed).toBe(true);
    expect((await call('PUT', `${base}/draft/policy`, { version: await version(), mode: 'everyone', allow_admins: true, create_members: false, new_member_role: 'member', email_domains: [] })).status()).toBe(200);
    expect((await call('POST', `${base}/activate`, { version: await version() })).status()).toBe(200);
    const before = (await (await call('GET', base)).json()).active.certificate;

    // 700 days later: the same Gatehouse restarts with its clock moved, and its first
    // housekeeping round rotates the certificate.
    await stopProcess(running.server);
    running = gatehouse(dataDir, 700);
    await running.ready;
    // 700 days on, the operator's session has long ended: they sign in again.
    expect((await call('POST', '/session', { email: 'ops@vendor.example', password: PASSWORD })).status()).toBe(200);
    const audit = async () => (await (await call('GET', `/organizations/${org.id}/audit`)).json()).items;
    await expect.poll(async () => (await audit()).find((e) => e.action === 'connection.certificate_rotated')?.outcome, { timeout: 60_000 }).toBe('success');
    const after = (await (await call('GET', base)).json()).active.certificate;
    expect(after.thumbprint).not.toBe(before.thumbprint);
    expect(after.expires_on > before.expires_on).toBe(true);
    const held = await (await page.request.get(`${IDP()}/_test/registrations?tenantId=${CONTOSO_TENANT}`)).json();
    const app = held.apps.find((a) => (a.tags ?? []).includes(`gatehouse-organization:${org.id}`));
    expect(app.certificates.map((c) => c.thumbprint)).toEqual([after.thumbprint]);

    // Back at today's date, B.Simon signs in with the new certificate.
    await stopProcess(running.server);
    running = gatehouse(dataDir);
    await running.ready;
    expect((await call('POST', '/session', { email: 'ops@vendor.example', password: PASSWORD })).status()).toBe(200);
    const member = await call('POST', `/organizations/${org.id}/members`, { email: SIMON.upn, display_name: SIMON.name, role: 'member' });
    expect(member.status()).toBe(201);
    const mapped = await call('PATCH', `/organizations/${org.id}/members/${(await member.json()).id}`, { directory_object_id: SIMON.oid, sso_enabled: true });
    expect(mapped.status()).toBe(200);
    await page.context().clearCookies();
    await page.goto(`${URL_BASE}/o/woodgrove-bank/sso`);
    await atDirectory(page, SIMON.upn);
    await expect(page).toHaveURL(/\/account$/);
    await expect(page.locator('#account-organization')).toHaveText('Woodgrove Bank');
  } finally {
    await stopProcess(running.server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
