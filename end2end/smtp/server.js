// A local SMTP server for tests that keeps every message it receives, so tests can read what
// Gatehouse sent, as a person reads their mailbox.
//
//   GET    /messages   [{"from", "to": [...], "subject", "text"}, ...] in the order received
//   DELETE /messages   forgets them
//
// Prints "smtp on <port> control on <url>" once both listen. SMTP_PORT=0 picks a free port.
import http from 'node:http';
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';

export async function startSmtp({ port = 0, controlPort = 0 } = {}) {
  const messages = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream).then((mail) => {
        messages.push({
          from: session.envelope.mailFrom?.address ?? null,
          to: session.envelope.rcptTo.map((r) => r.address),
          subject: mail.subject ?? '',
          text: mail.text ?? '',
        });
        callback();
      }, callback);
    },
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const control = http.createServer((req, res) => {
    if (req.url !== '/messages') { res.writeHead(404).end(); return; }
    if (req.method === 'DELETE') { messages.length = 0; res.writeHead(204).end(); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(messages));
  });
  await new Promise((resolve) => control.listen(controlPort, '127.0.0.1', resolve));
  return {
    port: server.server.address().port,
    controlUrl: `http://127.0.0.1:${control.address().port}`,
    close: async () => { await new Promise((r) => server.close(r)); await new Promise((r) => control.close(r)); },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const smtp = await startSmtp({ port: Number(process.env.SMTP_PORT ?? 0), controlPort: Number(process.env.SMTP_CONTROL_PORT ?? 0) });
  console.log(`smtp on ${smtp.port} control on ${smtp.controlUrl}`);
}
