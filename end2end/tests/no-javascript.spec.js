// With JavaScript off (the "no-javascript" project), the console's reading pages — the
// organization list, an organization's overview with its members, and the audit log — come
// from the server with their data, and a banner says that forms need JavaScript.
import { test, expect } from '@playwright/test';
import { api, ensureOperator } from './helpers.js';

test('the console\'s reading pages show their data without JavaScript', async ({ page }) => {
  // Signed out, the console sends the browser to the sign-in page, from the server.
  await page.goto('/console');
  await expect(page).toHaveURL(/\/signin\?return_to=%2Fconsole$/);
  await expect(page.locator('#needs-javascript')).toContainText('need JavaScript');

  await ensureOperator(page);
  const found = await (await api(page, 'GET', '/organizations?q=litware')).json();
  let org = found.items.find((o) => o.slug === 'litware');
  if (!org) {
    const created = await api(page, 'POST', '/organizations', { name: 'Litware', slug: 'litware' });
    expect(created.status()).toBe(201);
    org = await created.json();
    const member = await api(page, 'POST', `/organizations/${org.id}/members`, {
      email: 'lidia@litware.example', display_name: 'Lidia Holloway', role: 'member',
    });
    expect(member.status()).toBe(201);
  }

  await page.goto('/console');
  await expect(page.getByRole('link', { name: 'Litware' })).toBeVisible();
  await expect(page.locator('.console-nav')).toContainText('ops@vendor.example');

  await page.getByRole('link', { name: 'Litware' }).click();
  await expect(page.getByRole('heading', { name: 'Litware', level: 1 })).toBeVisible();
  await expect(page.locator('#org-sso-status')).toHaveText('Not set up');
  await expect(page.locator('#mapping-health')).toBeVisible();
  const row = page.getByRole('row').filter({ hasText: 'lidia@litware.example' });
  await expect(row).toContainText('Lidia Holloway');
  await expect(row).toContainText('not mapped');

  await page.getByRole('link', { name: 'Audit log' }).click();
  await expect(page.getByRole('heading', { name: 'Audit log' })).toBeVisible();
  await expect(page.getByRole('row').filter({ hasText: 'member.create' })).toContainText('lidia@litware.example');
  await expect(page.locator('#needs-javascript')).toBeVisible();
});
