// A small DNS server for tests: answers TXT questions on 127.0.0.1 (UDP and TCP) from records
// that tests set over HTTP, as a domain's owner sets them at their DNS host.
//
//   PUT    /records/<name>   {"txt": ["value", ...]}   the name's TXT records
//   PUT    /records/<name>   {"fail": true}            the name answers SERVFAIL (an outage)
//   DELETE /records/<name>                             the name no longer exists (NXDOMAIN)
//
// Prints "dns on <port> control on <url>" once both listen. DNS_PORT=0 picks a free port.
import dns2 from 'dns2';
import http from 'node:http';

const { Packet } = dns2;
const records = new Map();
const SERVFAIL = 2;
const NXDOMAIN = 3;

export async function startDns({ port = 0, controlPort = 0 } = {}) {
  const server = dns2.createServer({
    udp: true,
    tcp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const [question] = request.questions;
      const name = question.name.toLowerCase().replace(/\.$/, '');
      const record = records.get(name);
      if (!record) {
        response.header.rcode = NXDOMAIN;
      } else if (record.fail) {
        response.header.rcode = SERVFAIL;
      } else if (question.type === Packet.TYPE.TXT) {
        for (const value of record.txt ?? []) {
          response.answers.push({ name: question.name, type: Packet.TYPE.TXT, class: Packet.CLASS.IN, ttl: 60, data: value });
        }
      }
      send(response);
    },
  });
  const dnsPort = await new Promise((resolve) => {
    server.on('listening', () => resolve(server.addresses().udp.port));
    // TCP on the same port as UDP, for answers too large for a datagram.
    server.listen({ udp: { port, address: '127.0.0.1' }, tcp: { port, address: '127.0.0.1' } });
  });
  const control = http.createServer((req, res) => {
    const match = /^\/records\/([^/]+)$/.exec(req.url);
    if (!match) { res.writeHead(404).end(); return; }
    const name = decodeURIComponent(match[1]).toLowerCase().replace(/\.$/, '');
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      if (req.method === 'DELETE') records.delete(name);
      else if (req.method === 'PUT') records.set(name, JSON.parse(body || '{}'));
      else { res.writeHead(405).end(); return; }
      res.writeHead(204).end();
    });
  });
  await new Promise((resolve) => control.listen(controlPort, '127.0.0.1', resolve));
  return {
    port: dnsPort,
    controlUrl: `http://127.0.0.1:${control.address().port}`,
    close: async () => { await server.close(); await new Promise((r) => control.close(r)); },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dns = await startDns({ port: Number(process.env.DNS_PORT ?? 0) });
  console.log(`dns on ${dns.port} control on ${dns.controlUrl}`);
}
