// With JavaScript off, a page says plainly that Gatehouse needs it (the console does not work
// without it yet), instead of showing forms that do nothing.
import { test, expect } from '@playwright/test';

test.use({ javaScriptEnabled: false });

test('without JavaScript the page says it is needed', async ({ page }) => {
  await page.goto('/signin');
  const banner = page.locator('#needs-javascript');
  await expect(banner).toBeVisible();
  await expect(banner).toContainText('need JavaScript');
});
