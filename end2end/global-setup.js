// Starts the identity provider and Gatehouse on fresh data, and hands the first-run link
// Gatehouse prints to the tests (through the environment, as Playwright allows).
//
// With E2E_PROXY=nginx (and E2E_DATABASE_URL naming a PostgreSQL database) it starts two
// Gatehouse instances with one master key, each as its systemd unit would (the unit's
// ExecStart with the environment its EnvironmentFile gives), behind nginx with TLS from a
// certificate made here, configured from deploy/nginx/gatehouse.conf.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startIdp } from './idp/provider.js';
import { startDns } from './dns/server.js';
import { startSmtp } from './smtp/server.js';
import { startGatehouse, stopProcess } from './gatehouse-process.js';
import { GATEHOUSE_PORT, NGINX_PORT, PUBLIC_URL, VIA_NGINX } from './playwright.config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const artifacts = path.join(root, 'end2end', 'artifacts');

/** The unit's ExecStart, with its program mapped to the binary under test. */
function unitCommand(binary) {
  const unit = fs.readFileSync(path.join(root, 'deploy', 'systemd', 'gatehouse.service'), 'utf8');
  const [program, ...args] = /^ExecStart=(.+)$/m.exec(unit)[1].trim().split(/\s+/);
  if (program !== '/usr/local/bin/gatehouse') throw new Error(`unexpected ExecStart program ${program}`);
  return [binary, args];
}


function waitForPort(port) {
  return new Promise((resolve, reject) => {
    const until = Date.now() + 20_000;
    const attempt = () => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.end(); resolve(); });
      socket.on('error', () => (Date.now() > until ? reject(new Error(`nothing listens on ${port}`)) : setTimeout(attempt, 100)));
    };
    attempt();
  });
}

/** nginx on NGINX_PORT with a certificate made here, in front of `instances`. */
async function startNginx(instances) {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-nginx-'));
  fs.chmodSync(prefix, 0o755);
  const tmp = path.join(prefix, 'tmp');
  fs.mkdirSync(tmp, { mode: 0o777 });
  fs.chmodSync(tmp, 0o777);
  const certificate = path.join(prefix, 'cert.pem');
  const key = path.join(prefix, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', key, '-out', certificate], { stdio: 'ignore' });
  let site = fs.readFileSync(path.join(root, 'deploy', 'nginx', 'gatehouse.conf'), 'utf8')
    .replaceAll('@LISTEN@', `127.0.0.1:${NGINX_PORT}`)
    .replaceAll('@CERTIFICATE@', certificate)
    .replaceAll('@CERTIFICATE_KEY@', key);
  instances.forEach((address, i) => { site = site.replaceAll(`@INSTANCE_${i + 1}@`, address); });
  if (/@[A-Z_0-9]+@/.test(site)) throw new Error('deploy/nginx/gatehouse.conf has a value this setup does not fill');
  fs.writeFileSync(path.join(prefix, 'gatehouse.conf'), site);
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), `worker_processes 1;
error_log ${prefix}/error.log warn;
pid ${prefix}/nginx.pid;
events { worker_connections 512; }
http {
  access_log ${prefix}/access.log;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  include ${prefix}/gatehouse.conf;
}
`);
  const nginx = spawn('nginx', ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'inherit', 'inherit'] });
  await waitForPort(NGINX_PORT);
  return { nginx, prefix };
}

export default async function globalSetup() {
  fs.mkdirSync(artifacts, { recursive: true });
  // The provider is another site than Gatehouse (localhost against 127.0.0.1), as Entra is, so
  // that cookie rules and the front-channel logout iframe behave as in production.
  const idp = await startIdp({ port: Number(process.env.E2E_IDP_PORT ?? 4111), publicHost: 'localhost' });
  process.env.E2E_IDP_URL = idp.url;
  // Email domains are proven with TXT records the tests set at this DNS server.
  const dns = await startDns();
  process.env.E2E_DNS_CONTROL_URL = dns.controlUrl;
  // Email to admins goes to this SMTP server; the tests read it as the admins would.
  const smtp = await startSmtp();
  process.env.E2E_SMTP_CONTROL_URL = smtp.controlUrl;

  const binary = process.env.GATEHOUSE_BIN ?? path.join(root, 'target', 'debug', 'gatehouse');
  const common = {
    GATEHOUSE_PUBLIC_URL: PUBLIC_URL,
    // The local provider is the only authority besides Entra's clouds admins may use.
    GATEHOUSE_ALLOWED_AUTHORITIES: idp.url,
    GATEHOUSE_DNS_SERVER: `127.0.0.1:${dns.port}`,
    GATEHOUSE_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
    GATEHOUSE_MAIL_FROM: 'Gatehouse <gatehouse@vendor.example>',
    // The local provider's multi-tenant setup client, for "Set up automatically".
    GATEHOUSE_SETUP_CLIENT_ID: '7b4c2e1a-9d3f-4a8b-b6c5-0e1f2a3b4c5d',
    ...(process.env.E2E_DATABASE_URL ? { DATABASE_URL: process.env.E2E_DATABASE_URL } : {}),
  };
  const dataDirs = [];
  const servers = [];
  let nginx = null;
  if (!VIA_NGINX) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-e2e-'));
    dataDirs.push(dataDir);
    const started = startGatehouse(binary, [], { ...common, GATEHOUSE_LISTEN: `127.0.0.1:${GATEHOUSE_PORT}`, GATEHOUSE_DATA_DIR: dataDir }, 'server.log');
    servers.push(started.server);
    process.env.E2E_FIRST_RUN_URL = await started.ready;
  } else {
    if (!process.env.E2E_DATABASE_URL?.startsWith('postgres')) throw new Error('E2E_PROXY=nginx needs E2E_DATABASE_URL to name a PostgreSQL database');
    const [program, args] = unitCommand(binary);
    const masterKey = crypto.randomBytes(32).toString('base64');
    const instances = [GATEHOUSE_PORT + 1, GATEHOUSE_PORT + 2].map((port) => `127.0.0.1:${port}`);
    let firstRun = null;
    for (const [i, address] of instances.entries()) {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `gatehouse-e2e-${i + 1}-`));
      dataDirs.push(dataDir);
      const started = startGatehouse(program, args, {
        ...common,
        GATEHOUSE_LISTEN: address,
        GATEHOUSE_DATA_DIR: dataDir,
        GATEHOUSE_MASTER_KEY: masterKey,
        GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1',
      }, `server-${i + 1}.log`);
      servers.push(started.server);
      // Each start issues a new first-run link: the last one counts.
      firstRun = (await started.ready) ?? firstRun;
    }
    process.env.E2E_FIRST_RUN_URL = firstRun;
    process.env.E2E_INSTANCES = instances.join(',');
    nginx = await startNginx(instances);
  }

  return async () => {
    if (nginx) await stopProcess(nginx.nginx);
    for (const server of servers) await stopProcess(server);
    await idp.close();
    await dns.close();
    await smtp.close();
    for (const dir of [...dataDirs, ...(nginx ? [nginx.prefix] : [])]) fs.rmSync(dir, { recursive: true, force: true });
  };
}
