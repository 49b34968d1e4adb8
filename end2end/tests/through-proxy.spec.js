// Behind nginx (E2E_PROXY=nginx, see global-setup.js): one browser's requests go to both
// Gatehouse instances in turn, and the address Gatehouse records is the one nginx saw, never
// one the browser writes into X-Forwarded-For. The wizard and sign-in stories run through the
// same nginx in the same run.
import { test, expect } from '@playwright/test';
import { VIA_NGINX } from '../playwright.config.js';
import { api, atDirectory, connectedContoso, ensureOperator } from './helpers.js';

test.skip(!VIA_NGINX, 'only behind nginx (E2E_PROXY=nginx)');

const SIMON = { upn: 'B.Simon@contoso.com', name: 'B.Simon', oid: '3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f' };

/** How many /healthz requests an instance has answered (read from it directly). */
async function healthChecksServed(request, address) {
  const text = await (await request.get(`http://${address}/metrics`)).text();
  return text.split('\n')
    .filter((line) => line.startsWith('http_requests_total{') && line.includes('route="/healthz"'))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

test('one browser\'s requests go to both instances in turn', async ({ page, request }) => {
  const instances = process.env.E2E_INSTANCES.split(',');
  const before = await Promise.all(instances.map((a) => healthChecksServed(request, a)));
  for (let i = 0; i < 6; i += 1) {
    expect((await page.request.get('/healthz')).status()).toBe(200);
  }
  const after = await Promise.all(instances.map((a) => healthChecksServed(request, a)));
  expect(after[0] - before[0]).toBe(3);
  expect(after[1] - before[1]).toBe(3);
});

test('a sign-in through nginx records the address nginx saw, not one the browser claims', async ({ page, browser }) => {
  await page.goto('/signin');
  await ensureOperator(page);
  const { orgId } = await connectedContoso(page, SIMON);

  const context = await browser.newContext({ baseURL: test.info().project.use.baseURL });
  const simon = await context.newPage();
  await simon.setExtraHTTPHeaders({ 'X-Forwarded-For': '203.0.113.7' });
  await simon.goto('/o/contoso/sso');
  await atDirectory(simon, SIMON.upn);
  await expect(simon).toHaveURL(/\/account$/);
  await context.close();

  const audit = await (await api(page, 'GET', `/organizations/${orgId}/audit`)).json();
  const signIn = audit.items.find((e) => e.action === 'sso.sign_in' && e.outcome === 'success');
  expect(signIn.client_addr).toBe('127.0.0.1');
});
