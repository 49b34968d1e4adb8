// Starts the identity provider and a Gatehouse server on a fresh data folder, and hands the
// first-run link Gatehouse prints to the tests (through the environment, as Playwright allows).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startIdp } from './idp/provider.js';
import { startDns } from './dns/server.js';
import { GATEHOUSE_PORT } from './playwright.config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export default async function globalSetup() {
  // The provider is another site than Gatehouse (localhost against 127.0.0.1), as Entra is, so
  // that cookie rules and the front-channel logout iframe behave as in production.
  const idp = await startIdp({ port: Number(process.env.E2E_IDP_PORT ?? 4111), publicHost: 'localhost' });
  process.env.E2E_IDP_URL = idp.url;
  // Email domains are proven with TXT records the tests set at this DNS server.
  const dns = await startDns();
  process.env.E2E_DNS_CONTROL_URL = dns.controlUrl;

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-e2e-'));
  const binary = process.env.GATEHOUSE_BIN ?? path.join(root, 'target', 'debug', 'gatehouse');
  const server = spawn(binary, [], {
    cwd: root,
    env: {
      ...process.env,
      GATEHOUSE_LISTEN: `127.0.0.1:${GATEHOUSE_PORT}`,
      GATEHOUSE_PUBLIC_URL: `http://127.0.0.1:${GATEHOUSE_PORT}`,
      GATEHOUSE_DATA_DIR: dataDir,
      // The local provider is the only authority besides Entra's clouds admins may use.
      GATEHOUSE_ALLOWED_AUTHORITIES: idp.url,
      GATEHOUSE_DNS_SERVER: `127.0.0.1:${dns.port}`,
      ...(process.env.E2E_DATABASE_URL ? { DATABASE_URL: process.env.E2E_DATABASE_URL } : {}),
      RUST_LOG: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  fs.mkdirSync(path.join(root, 'end2end', 'artifacts'), { recursive: true });
  const logFile = fs.createWriteStream(path.join(root, 'end2end', 'artifacts', 'server.log'));
  const firstRun = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Gatehouse did not print its first-run line within 60 s')), 60_000);
    let buffered = '';
    const onData = (chunk) => {
      logFile.write(chunk);
      buffered += chunk.toString();
      const match = /First-run setup: (\S+)/.exec(buffered);
      if (match) { clearTimeout(timer); resolve(match[1]); }
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
    server.on('exit', (code) => reject(new Error(`Gatehouse exited with ${code} before it was ready`)));
  });
  server.stdout.on('data', (c) => logFile.write(c));
  server.stderr.on('data', (c) => logFile.write(c));
  process.env.E2E_FIRST_RUN_URL = firstRun;

  return async () => {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    await idp.close();
    await dns.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
}
