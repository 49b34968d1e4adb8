// What a browser downloads to show each page and make it work: the HTML, the script, the
// WebAssembly the page needs (its own module, split off the main one, and those it shares) and
// the stylesheet, compressed as the server sends them. The wizard is what an organization's
// admin opens first, often on a slow link: its first load should fit in 250 KB (the target;
// not met yet), and may never grow past its ceiling, today's figure with a little room.
import fs from 'node:fs';
import { test, expect } from '@playwright/test';
import { api, ensureOperator, hydrated } from './helpers.js';

const WIZARD_TARGET_BYTES = 250_000;
// 358 KB until the applications' two console pages came (375.5 KB with them: the code the lazy
// modules share is split over more, smaller chunks, and each compresses on its own). How the
// split groups shared code moves between builds of nearly the same code: 366.7 and 378.8 KB
// were measured for two builds a one-word change apart, hence the room. With the protocol
// choice and the SAML steps: 398.0 KB, and 391.3 KB once SAML's steps moved to a module of
// their own that only an admin who chooses SAML downloads. With the credential work (the
// certificate choice, expiry banners): 414.3 and 415.6 KB in two builds; the main module has a
// cliff here (one i64 field added to ConnectionView alone took it from 174.5 to 203.3 KB), see
// the README. With the automatic setup (its choice and offer in the first load, its steps in a
// module of their own): 431.0 KB when the wizard asked for the offer separately, 435.8 KB with
// the offer in the connection view it already loads (the build measured last; the two are
// within the builds' own spread).
const WIZARD_CEILING_BYTES = 445_000;

/** Loads `path` in a fresh page and sums what came over the wire (and its size unpacked). */
async function firstLoad(context, path) {
  const page = await context.newPage();
  await page.goto(path);
  await hydrated(page);
  // Let lazily loaded modules that the page asked for finish.
  await page.waitForLoadState('networkidle');
  const loads = await page.evaluate(() => [
    ...performance.getEntriesByType('navigation'),
    ...performance.getEntriesByType('resource'),
  ].map((e) => ({ name: e.name, compressed: e.encodedBodySize, raw: e.decodedBodySize })));
  await page.close();
  const sum = (key) => loads.reduce((total, l) => total + l[key], 0);
  return { path, compressed: sum('compressed'), raw: sum('raw'), files: loads };
}

test('the wizard\'s first load stays within its budget, and every page\'s is reported', async ({ browser }) => {
  const context = await browser.newContext();
  const setup = await context.newPage();
  await setup.goto('/signin');
  await ensureOperator(setup);
  const found = await (await api(setup, 'GET', '/organizations?q=fabrikam-budget')).json();
  let org = found.items.find((o) => o.slug === 'fabrikam-budget');
  if (!org) {
    const created = await api(setup, 'POST', '/organizations', { name: 'Fabrikam Budget', slug: 'fabrikam-budget' });
    expect(created.status()).toBe(201);
    org = await created.json();
  }
  await setup.close();

  const pages = {
    'sign-in': '/signin',
    'console': '/console',
    'organization': `/console/orgs/${org.id}`,
    'wizard': `/console/orgs/${org.id}/sso`,
    'audit log': `/console/orgs/${org.id}/audit`,
  };
  const report = {};
  for (const [name, path] of Object.entries(pages)) {
    // A new context each time: nothing comes from the cache of an earlier page.
    const fresh = await browser.newContext({ storageState: await context.storageState() });
    report[name] = await firstLoad(fresh, path);
    await fresh.close();
  }
  await context.close();

  fs.mkdirSync('test-results', { recursive: true });
  fs.writeFileSync('test-results/page-weight.json', JSON.stringify(report, null, 2));
  for (const [name, r] of Object.entries(report)) {
    console.log(`first load of ${name.padEnd(12)} ${String(r.compressed).padStart(8)} B compressed, ${String(r.raw).padStart(8)} B raw`);
  }
  // The wizard loads its own module and those it shares, never the operators' pages.
  const modules = report.wizard.files.map((f) => f.name).filter((n) => n.endsWith('.wasm'));
  expect(modules.some((n) => n.includes('sso_wizard_route_view'))).toBe(true);
  for (const other of ['organization_route_view', 'console_home_route_view', 'audit_route_view']) {
    expect(modules.filter((n) => n.includes(other))).toEqual([]);
  }
  expect(report.wizard.compressed).toBeLessThan(report.wizard.raw / 2);
  console.log(`the wizard's first load is ${report.wizard.compressed - WIZARD_TARGET_BYTES} B above its target`);
  expect(report.wizard.compressed).toBeLessThanOrEqual(WIZARD_CEILING_BYTES);
});
