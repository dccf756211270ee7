import { once } from "node:events";
import { createServer, connect as netConnect, type Server, type Socket } from "node:net";

/** For tests that break a dependency: never the shared servers, only servers and proxies the test owns. */

/** A TCP server that accepts connections and never says a word: a Redis or PostgreSQL that hangs. */
export async function startSilentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  return {
    port,
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, "close");
    },
  };
}

export interface TcpProxy {
  port: number;
  /** Destroys every proxied connection and refuses new ones (the port stops listening). */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** A TCP proxy to `target` on loopback that the test can cut and restore, like a network partition or a database restart. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let server: Server | undefined;
  let port = 0;

  async function listen(): Promise<void> {
    const listening = createServer((client) => {
      const upstream = netConnect(target.port, target.host);
      const pair: [Socket, Socket] = [client, upstream];
      pairs.add(pair);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        pairs.delete(pair);
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    listening.listen(port, "127.0.0.1");
    await once(listening, "listening");
    port = (listening.address() as { port: number }).port;
    server = listening;
  }

  async function stop(): Promise<void> {
    const current = server;
    server = undefined;
    if (current) {
      current.close();
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      await once(current, "close");
    }
  }

  await listen();
  return {
    get port() {
      return port;
    },
    cut: stop,
    restore: listen,
    close: stop,
  };
}
