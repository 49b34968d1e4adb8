// Playwright drives Debian's Chromium against a real Gatehouse and the local Entra-shaped
// provider, both started by global-setup.js on fresh data.
import { defineConfig } from '@playwright/test';

export const GATEHOUSE_PORT = Number(process.env.E2E_GATEHOUSE_PORT ?? 3100);
/** E2E_PROXY=nginx: two Gatehouse instances behind nginx with TLS (global-setup.js). */
export const VIA_NGINX = process.env.E2E_PROXY === 'nginx';
export const NGINX_PORT = Number(process.env.E2E_NGINX_PORT ?? 3443);
/** Where people reach Gatehouse: the instance itself, or nginx in front of two. */
export const PUBLIC_URL = VIA_NGINX ? `https://127.0.0.1:${NGINX_PORT}` : `http://127.0.0.1:${GATEHOUSE_PORT}`;

export default defineConfig({
  testDir: './tests',
  globalSetup: './global-setup.js',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  outputDir: './test-results',
  reporter: [
    ['list'],
    ['html', { outputFolder: 'playwright-report', open: 'never' }],
    ['json', { outputFile: 'test-results/results.json' }],
  ],
  projects: [
    { name: 'javascript', testIgnore: /no-javascript\.spec\.js/ },
    // The reading pages as they come from the server, with JavaScript turned off.
    { name: 'no-javascript', testMatch: /no-javascript\.spec\.js/, use: { javaScriptEnabled: false } },
  ],
  use: {
    baseURL: PUBLIC_URL,
    // The certificate nginx serves in the tests is made by global-setup.js.
    ignoreHTTPSErrors: VIA_NGINX,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        ...(VIA_NGINX ? ['--ignore-certificate-errors'] : [])],
    },
  },
});
