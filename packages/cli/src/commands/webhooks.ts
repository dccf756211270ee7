import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { isValidSecret, type Verification, verify } from "@herald/delivery/signing";
import type { Command } from "commander";
import { CliError, outputOf } from "../context.ts";
import { formatSavedRequest, parseSavedRequest } from "../saved-request.ts";

function secretOf(options: { secret?: string }): string | undefined {
  const secret = options.secret ?? process.env.HERALD_WEBHOOK_SECRET;
  if (secret !== undefined && !isValidSecret(secret)) {
    throw new CliError(
      "--secret is not a Standard Webhooks secret (whsec_ followed by base64); `herald endpoints show ep_… --secret` prints it",
    );
  }
  return secret;
}

function check(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  toleranceSeconds: number | null,
): Verification {
  const one = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(" ") : value;
  };
  return verify(
    secret,
    { id: one("webhook-id"), timestamp: one("webhook-timestamp"), signature: one("webhook-signature"), body },
    { toleranceSeconds },
  );
}

export function webhookCommands(program: Command): void {
  program
    .command("listen")
    .description("a local webhook receiver: prints each request, verified with --secret, and answers 200 (or --status)")
    .argument("[port]", "port to listen on (0: any free one)", "4000")
    .option("--secret <whsec>", "the endpoint's signing secret (or HERALD_WEBHOOK_SECRET)")
    .option("--status <code>", "the HTTP status to answer", "200")
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .option("--save <dir>", "also save each request as <dir>/<webhook-id>.http, for `herald verify`")
    .action(async (port: string, options: { secret?: string; status: string; host: string; save?: string }, command: Command) => {
      const output = outputOf(command);
      const { colors } = output;
      const secret = secretOf(options);
      const status = Number(options.status);
      if (!Number.isInteger(status) || status < 200 || status > 599) throw new CliError("--status must be an HTTP status from 200 to 599");
      const server = createServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on("data", (chunk: Buffer) => chunks.push(chunk));
        request.on("end", () => {
          const body = Buffer.concat(chunks).toString();
          const verification = secret ? check(secret, request.headers, body, 300) : undefined;
          response.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? "ok" : "refused by herald listen --status");
          const id = request.headers["webhook-id"];
          if (options.save && typeof id === "string" && /^[\w.-]+$/.test(id)) {
            writeFileSync(
              join(options.save, `${id}.http`),
              formatSavedRequest(request.method ?? "POST", request.url ?? "/", request.headers, body),
            );
          }
          let type: unknown;
          try {
            type = (JSON.parse(body) as { type?: unknown }).type;
          } catch {
            type = undefined;
          }
          if (output.json) {
            output.out(
              JSON.stringify({
                receivedAt: new Date().toISOString(),
                method: request.method,
                path: request.url,
                id: id ?? null,
                type: typeof type === "string" ? type : null,
                verified: verification ? verification.ok : null,
                reason: verification && !verification.ok ? verification.reason : null,
                answered: status,
                headers: request.headers,
                body,
              }),
            );
            return;
          }
          const verdict = !verification
            ? colors.dim("not checked (no --secret)")
            : verification.ok
              ? colors.green("verified")
              : colors.red(`NOT VERIFIED: ${verification.reason}`);
          const head = [
            new Date().toISOString().slice(11, 19),
            `${request.method} ${request.url}`,
            id ?? "(no webhook-id)",
            typeof type === "string" ? type : "",
          ];
          output.out(`${head.filter(Boolean).join("  ")}  ${verdict}  -> ${status}`);
          output.out(`  ${body}`);
        });
      });
      server.listen(Number(port), options.host);
      await Promise.race([
        once(server, "listening"),
        once(server, "error").then(([error]) => {
          throw new CliError(`cannot listen on ${options.host}:${port}: ${(error as Error).message}`);
        }),
      ]);
      const address = server.address() as { port: number };
      output.err(
        `listening on http://${options.host}:${address.port}, answering ${status}${secret ? ", verifying signatures" : ", not verifying (no --secret)"} (Ctrl-C stops)`,
      );
      await new Promise<void>((resolve) => {
        const stop = () => server.close(() => resolve());
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });

  program
    .command("verify")
    .description("verify a saved webhook request (from stdin or a file) and say why it fails")
    .argument("[file]", "the saved request (default: stdin)")
    .option("--secret <whsec>", "the endpoint's signing secret (or HERALD_WEBHOOK_SECRET)")
    .option("--max-age <seconds>", "how old the signature may be, as a receiver would accept it", "300")
    .option("--ignore-age", "check the signature only, for a request saved a while ago")
    .action(async (file: string | undefined, options: { secret?: string; maxAge: string; ignoreAge?: boolean }, command: Command) => {
      const output = outputOf(command);
      const secret = secretOf(options);
      if (!secret) throw new CliError("give the endpoint's signing secret: --secret whsec_… (or HERALD_WEBHOOK_SECRET)");
      const maxAge = Number(options.maxAge);
      if (!Number.isInteger(maxAge) || maxAge < 0) throw new CliError("--max-age takes whole seconds");
      let text: string;
      try {
        text = readFileSync(file ?? 0, "utf8");
      } catch (error) {
        throw new CliError(`cannot read ${file ?? "stdin"}: ${(error as Error).message}`);
      }
      let saved: ReturnType<typeof parseSavedRequest>;
      try {
        saved = parseSavedRequest(text);
      } catch (error) {
        throw new CliError(`${file ?? "stdin"} is not a saved HTTP request: ${(error as Error).message}`);
      }
      const result = check(secret, saved.headers, saved.body, options.ignoreAge ? null : maxAge);
      if (output.json) {
        output.out(
          JSON.stringify(
            result.ok
              ? { verified: true, id: result.id, signedAt: new Date(result.timestampSeconds * 1000).toISOString() }
              : { verified: false, reason: result.reason },
          ),
        );
      } else if (result.ok) {
        output.out(`verified: ${result.id}, signed at ${new Date(result.timestampSeconds * 1000).toISOString()}`);
      } else {
        output.err(`not verified: ${result.reason}`);
      }
      if (!result.ok) process.exitCode = 1;
    });
}
