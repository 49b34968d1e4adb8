// An admin maps members to directory users without copying Object IDs around: by pasting one
// when they have it, by picking the user from the directory, by importing a CSV file (checked
// first, applied all or nothing), by confirming suggestions, and exports the result.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { test, expect } from '@playwright/test';
import { api, CONTOSO_TENANT, ensureOperator, hydrated, registerApp, screenshots } from './helpers.js';

test.describe.configure({ mode: 'serial' });

const SECRET = 'Mapping~E2E.Secret_Value-4410';
const SIMON = { upn: 'B.Simon@contoso.com', oid: '3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f' };
const ADELE_OID = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const ALEX_OID = '4c5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e7f';
const MEGAN_OID = '5d6e7f8a-9b0c-4d1e-8f2a-3b4c5d6e7f8a';
const LEE_OID = '6e7f8a9b-0c1d-4e2f-9a3b-4c5d6e7f8a9b';
let orgId;
/** The operator's browser, signed in once (password sign-in is rate-limited per account). */
let ops;

test.beforeAll(async ({ browser }, testInfo) => {
  const context = await browser.newContext({ baseURL: testInfo.project.use.baseURL, acceptDownloads: true });
  ops = await context.newPage();
  await ops.goto('/signin');
  await ensureOperator(ops);
  const created = await api(ops, 'POST', '/organizations', { name: 'Tailspin Toys', slug: 'tailspin' });
  expect(created.status()).toBe(201);
  orgId = (await created.json()).id;
  const { redirect_uri: redirectUri } = await (await api(ops, 'GET', `/organizations/${orgId}/connection`)).json();
  const clientId = crypto.randomUUID();
  await registerApp(ops.request, clientId, [{ id: crypto.randomUUID(), value: SECRET, expires: '2099-01-01T00:00:00Z' }], redirectUri, ['User.Read.All']);
  // The app's credentials are enough to read the directory; SSO need not be on yet.
  const saved = await api(ops, 'PUT', `/organizations/${orgId}/connection/draft/credentials`, {
    version: 0, cloud: 'custom', authority_host: process.env.E2E_IDP_URL, tenant: CONTOSO_TENANT,
    client_id: clientId, client_secret: SECRET, secret_expires_on: '2027-11-25',
  });
  expect(saved.status()).toBe(200);
  for (const [email, name] of [[SIMON.upn, 'B.Simon'], ['AdeleV@contoso.com', 'Adele'],
    ['alexw@contoso.com', 'Alex W.'], ['meganb@contoso.com', 'Megan B.']]) {
    expect((await api(ops, 'POST', `/organizations/${orgId}/members`, { email, display_name: name, role: 'member' })).status()).toBe(201);
  }
});

test.afterAll(async () => {
  await ops?.context().close();
});

async function openOrganization(page) {
  await page.goto(`/console/orgs/${orgId}`);
  await hydrated(page);
}

async function memberTotal(page) {
  return (await (await api(page, 'GET', `/organizations/${orgId}/members`)).json()).total;
}

const row = (page, text) => page.getByRole('row').filter({ hasText: text });

test('B.Simon is mapped by pasting her Object ID', async () => {
  const page = ops;
  await openOrganization(page);
  await page.getByRole('button', { name: 'Edit B.Simon' }).click();
  await page.getByLabel('Object ID in the directory').fill(SIMON.oid);
  await page.getByRole('button', { name: 'Save member' }).click();
  await expect(row(page, SIMON.upn)).toContainText(SIMON.oid);
  // With an Object ID at hand, its first characters find the member, in any case; characters
  // from inside an Object ID find no one.
  await page.getByLabel('Search members').fill(SIMON.oid.slice(0, 8).toUpperCase());
  await expect(page.getByRole('heading', { name: 'Members (1)', exact: true })).toBeVisible();
  await expect(row(page, SIMON.upn)).toBeVisible();
  await page.getByLabel('Search members').fill(SIMON.oid.slice(9, 18));
  await expect(page.getByRole('heading', { name: 'Members (0)', exact: true })).toBeVisible();
  await expect(row(page, SIMON.upn)).toHaveCount(0);
});

test('Adele is mapped by picking her in the directory, no Object ID copied', async () => {
  const page = ops;
  await openOrganization(page);
  await page.getByRole('button', { name: 'Edit Adele' }).click();
  await page.getByLabel('Find the directory user by name, UPN or mail').fill('adele');
  await page.getByRole('button', { name: 'Search the directory' }).first().click();
  await page.getByRole('button', { name: 'Map to Adele Vance' }).click();
  await expect(page.getByRole('status').first()).toContainText('Adele mapped to AdeleV@contoso.com');
  await expect(row(page, 'AdeleV@contoso.com')).toContainText(ADELE_OID);
});

test('Lee Gu is added from the directory', async () => {
  const page = ops;
  await openOrganization(page);
  await page.getByLabel('Find directory users to add').fill('Lee');
  await page.getByRole('button', { name: 'Search the directory' }).first().click();
  await page.getByRole('button', { name: 'Add Lee Gu' }).click();
  await expect(page.locator('#directory-status')).toContainText('Lee Gu added and mapped.');
  await page.getByLabel('Search members').fill('lee');
  await expect(row(page, 'LeeG@contoso.com')).toContainText(LEE_OID);
});

test('without the directory permission, the picker says what to grant and the Object ID field still works', async () => {
  const page = ops;
  const created = await api(page, 'POST', '/organizations', { name: 'Wide World Importers', slug: 'wideworld' });
  expect(created.status()).toBe(201);
  const wideWorld = (await created.json()).id;
  const { redirect_uri: redirectUri } = await (await api(page, 'GET', `/organizations/${wideWorld}/connection`)).json();
  const clientId = crypto.randomUUID();
  // Registered without any Microsoft Graph application permission.
  await registerApp(page.request, clientId, [{ id: crypto.randomUUID(), value: SECRET, expires: '2099-01-01T00:00:00Z' }], redirectUri);
  const saved = await api(page, 'PUT', `/organizations/${wideWorld}/connection/draft/credentials`, {
    version: 0, cloud: 'custom', authority_host: process.env.E2E_IDP_URL, tenant: CONTOSO_TENANT,
    client_id: clientId, client_secret: SECRET, secret_expires_on: '2027-11-25',
  });
  expect(saved.status()).toBe(200);
  expect((await api(page, 'POST', `/organizations/${wideWorld}/members`, { email: 'pattif@contoso.com', display_name: 'Patti F.', role: 'member' })).status()).toBe(201);
  await page.goto(`/console/orgs/${wideWorld}`);
  await hydrated(page);
  await page.getByRole('button', { name: 'Edit Patti F.' }).click();
  await page.getByLabel('Find the directory user by name, UPN or mail').fill('patti');
  await page.getByRole('button', { name: 'Search the directory' }).first().click();
  const guidance = page.getByRole('alert').filter({ hasText: 'User.Read.All' });
  await expect(guidance).toContainText('Application permissions');
  await expect(guidance).toContainText('Grant admin consent');
  await expect(page.getByRole('button', { name: /^Map to / })).toHaveCount(0);
  // The manual field still maps her.
  const pattiOid = crypto.randomUUID();
  await page.getByLabel('Object ID in the directory').fill(pattiOid);
  await page.getByRole('button', { name: 'Save member' }).click();
  await expect(row(page, 'pattif@contoso.com')).toContainText(pattiOid);
});

test('a CSV file with two bad lines shows both, with line numbers, and imports nothing; fixed, it applies', async () => {
  const page = ops;
  await openOrganization(page);
  const before = await memberTotal(page);
  const bad = [
    'email,display name,role,object id,sso enabled',
    `rae@tailspin.example,Rae Import,member,${crypto.randomUUID()},yes`,
    'sam-at-tailspin.example,Sam Import,member,,no',
    'kim@tailspin.example,Kim Import,owner,,no',
  ].join('\n');
  await page.getByLabel('Members CSV file').setInputFiles({ name: 'members.csv', mimeType: 'text/csv', buffer: Buffer.from(bad) });
  await page.getByRole('button', { name: 'Check the file' }).click();
  await expect(page.locator('#import-message')).toContainText('Nothing was imported');
  const problems = page.locator('#import-problems tbody tr');
  await expect(problems).toHaveCount(2);
  await expect(problems.nth(0)).toContainText('3');
  await expect(problems.nth(0)).toContainText('email');
  await expect(problems.nth(1)).toContainText('4');
  await expect(problems.nth(1)).toContainText('role');
  await expect(page.getByRole('button', { name: 'Apply the import' })).toHaveCount(0);
  expect(await memberTotal(page)).toBe(before);
  await screenshots(page, 'mapping-import-problems');

  const fixed = bad.replace('sam-at-tailspin.example', 'sam@tailspin.example').replace(',owner,', ',member,');
  await page.getByLabel('Members CSV file').setInputFiles({ name: 'members.csv', mimeType: 'text/csv', buffer: Buffer.from(fixed) });
  await page.getByRole('button', { name: 'Check the file' }).click();
  await expect(page.locator('#import-counts')).toContainText('Preview: 3 to create, 0 to update, 0 unchanged.');
  expect(await memberTotal(page)).toBe(before);
  await page.getByRole('button', { name: 'Apply the import' }).click();
  await expect(page.locator('#import-counts')).toContainText('Imported: 3 created');
  expect(await memberTotal(page)).toBe(before + 3);
});

test('an import that makes a member who signs in with the directory an admin asks first', async () => {
  const page = ops;
  await openOrganization(page);
  const file = 'email,role\nrae@tailspin.example,admin\n';
  await page.getByLabel('Members CSV file').setInputFiles({ name: 'members.csv', mimeType: 'text/csv', buffer: Buffer.from(file) });
  await page.getByRole('button', { name: 'Check the file' }).click();
  await expect(page.locator('#import-counts')).toContainText('Preview: 0 to create, 1 to update, 0 unchanged.');
  const apply = page.getByRole('button', { name: 'Apply the import' });
  await expect(apply).toBeDisabled();
  await page.getByLabel('Make 1 member who signs in with the directory an admin').check();
  await expect(apply).toBeEnabled();
  await apply.click();
  await expect(page.locator('#import-counts')).toContainText('1 updated');
  await expect(row(page, 'rae@tailspin.example')).toContainText('admin');
});

test('two suggestions are confirmed in one action', async () => {
  const page = ops;
  await openOrganization(page);
  await page.getByRole('button', { name: 'Find suggestions' }).click();
  await expect(page.getByRole('checkbox', { name: /^Map / })).toHaveCount(2);
  // Nothing is mapped by finding suggestions.
  await expect(row(page, 'alexw@contoso.com').first()).toContainText('not mapped');
  await page.getByRole('checkbox', { name: 'Map Alex W. to Alex Wilber' }).check();
  await page.getByRole('checkbox', { name: 'Map Megan B. to Megan Bowen' }).check();
  await screenshots(page, 'mapping-suggestions');
  await page.getByRole('button', { name: 'Confirm 2 selected' }).click();
  await expect(page.locator('#directory-status')).toContainText('2 members mapped.');
  await expect(page.locator('#suggestions-none')).toBeVisible();
  await expect(row(page, 'alexw@contoso.com')).toContainText(ALEX_OID);
  await expect(row(page, 'meganb@contoso.com')).toContainText(MEGAN_OID);
});

test('the export lists every member with their mapping', async () => {
  const page = ops;
  await openOrganization(page);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('#export-members').click(),
  ]);
  const csv = fs.readFileSync(await download.path(), 'utf8');
  const lines = csv.trim().split('\n');
  expect(lines[0]).toBe('email,display name,role,object id,sso enabled');
  const members = (await (await api(page, 'GET', `/organizations/${orgId}/members?sort=email`)).json()).items;
  expect(lines.length - 1).toBe(members.length);
  for (const m of members) {
    const line = lines.find((l) => l.startsWith(`${m.email},`));
    expect(line, m.email).toBeTruthy();
    expect(line).toContain(m.directory_object_id ?? `,${m.role},,`);
  }
  expect(csv).toContain(`${SIMON.upn},B.Simon,member,${SIMON.oid},no`);
});

test('the overview counts mapped, unmapped and stale mappings', async () => {
  const page = ops;
  await openOrganization(page);
  // Simon, Adele, Lee, Alex, Megan and the imported Rae.
  await expect(page.locator('#mapping-mapped')).toHaveText('6');
  // Rae's Object ID came from the CSV file and is not in the directory: a stale mapping.
  await expect(page.locator('#mapping-stale')).toHaveText('1');
  await expect(page.locator('#mapping-unmapped')).not.toHaveText('0');
  await screenshots(page, 'mapping-overview');
});
