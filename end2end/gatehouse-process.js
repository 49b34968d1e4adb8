// Starting and stopping a Gatehouse process, for the global setup and for the stories that
// need an instance of their own (a restart, a clock moved forward).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const artifacts = path.join(root, 'end2end', 'artifacts');

/** The Gatehouse binary under test. */
export const GATEHOUSE_BINARY = process.env.GATEHOUSE_BIN ?? path.join(root, 'target', 'debug', 'gatehouse');

/** Starts one Gatehouse; resolves once it listens, with its first-run link if it printed one. */
export function startGatehouse(binary, args, env, logName) {
  const server = spawn(binary, args, { cwd: root, env: { ...process.env, ...env, RUST_LOG: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  fs.mkdirSync(artifacts, { recursive: true });
  const logFile = fs.createWriteStream(path.join(artifacts, logName), { flags: 'a' });
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Gatehouse (${logName}) was not listening within 60 s`)), 60_000);
    let buffered = '';
    let firstRun = null;
    const onData = (chunk) => {
      buffered += chunk.toString();
      firstRun ??= /First-run setup: (\S+)/.exec(buffered)?.[1] ?? null;
      if (/Gatehouse is listening/.test(buffered) && (firstRun || !/First-run/.test(buffered))) {
        // The first-run line follows the listening line when there is one: wait a moment for it.
        setTimeout(() => { clearTimeout(timer); resolve(firstRun ?? /First-run setup: (\S+)/.exec(buffered)?.[1] ?? null); }, 200);
      }
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
    server.on('exit', (code) => reject(new Error(`Gatehouse (${logName}) exited with ${code} before it was ready`)));
  });
  server.stdout.on('data', (c) => logFile.write(c));
  server.stderr.on('data', (c) => logFile.write(c));
  return { server, ready };
}

export async function stopProcess(child) {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}
