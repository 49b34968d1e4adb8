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

export async function signIn(page, email, password = PASSWORD) {
  await page.goto('/signin');
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
