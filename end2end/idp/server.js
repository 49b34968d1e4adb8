// Starts the local Entra-shaped provider: `node idp/server.js` (IDP_PORT, IDP_DATA to override).
import { startIdp, DEFAULT_DATA_FILE } from './provider.js';

const idp = await startIdp({
  port: Number(process.env.IDP_PORT ?? 4011),
  dataFile: process.env.IDP_DATA ?? DEFAULT_DATA_FILE,
  quiet: process.env.IDP_QUIET === '1',
});
console.log(`Entra-shaped test provider listening on ${idp.url}`);
for (const d of idp.state.data.directories) console.log(`  ${d.displayName}: ${idp.tenantUrl(d.tenantId)}`);
const stop = () => idp.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
