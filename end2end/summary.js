// Prints "<passed> <failed>" from the last Playwright run's JSON report.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { stats } = JSON.parse(fs.readFileSync(path.join(here, 'test-results', 'results.json'), 'utf8'));
console.log(`${stats.expected} ${stats.unexpected + stats.flaky}`);
