// Closing the API waits for every open connection. A keep-alive connection whose request was in
// flight when the close began would stay open until the server's keepAliveTimeout (Fastify: 72 s)
// and hold a SIGTERM drain past SHUTDOWN_TIMEOUT_MS; so answers sent while closing end their
// connection (`connection: close`), and the client opens a new one elsewhere.
import type { FastifyInstance } from 'fastify';

export function endConnectionsWhileClosing(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
}
