import type { Schemas } from "@herald/client";
import type { Command } from "commander";
import { CliError, call, contextOf, parseJsonOption, tenantOf } from "../context.ts";
import { printList, printRecord } from "../output.ts";

type Page = { limit?: string; cursor?: string };

function pageQuery(options: Page) {
  const limit = options.limit === undefined ? undefined : Number(options.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new CliError("--limit must be a whole number from 1");
  return { ...(limit ? { limit } : {}), ...(options.cursor ? { cursor: options.cursor } : {}) };
}

/** `key=value` pairs of a repeatable option, for metadata and headers. */
function pairs(name: string, values: string[] | undefined): Record<string, string> | undefined {
  if (!values?.length) return undefined;
  const record: Record<string, string> = {};
  for (const value of values) {
    const at = value.indexOf("=");
    if (at < 1) throw new CliError(`${name} takes key=value, not ${JSON.stringify(value)}`);
    record[value.slice(0, at)] = value.slice(at + 1);
  }
  return record;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];
const listOptions = (command: Command) =>
  command.option("--limit <n>", "page size, 1 to 250").option("--cursor <cursor>", "the next page, as printed after a list");

export function tenantCommands(program: Command): void {
  const tenants = program.command("tenants").description("your customers, who own endpoints");
  listOptions(tenants.command("list").description("list tenants")).action(async (options: Page, command: Command) => {
    const context = contextOf(command);
    const page = await call(context, context.client.GET("/v1/tenants", { params: { query: pageQuery(options) } }));
    printList(context.output, page, [
      ["ID", (tenant) => tenant.id],
      ["UID", (tenant) => tenant.uid],
      ["NAME", (tenant) => tenant.name],
      ["CREATED", (tenant) => tenant.createdAt],
    ]);
  });
  tenants
    .command("create")
    .description("create a tenant")
    .requiredOption("--name <name>", "display name")
    .option("--uid <uid>", "your own id for this customer; usable wherever a tenant id is")
    .option("--metadata <key=value>", "metadata, repeatable", collect)
    .action(async (options: { name: string; uid?: string; metadata?: string[] }, command: Command) => {
      const context = contextOf(command);
      const body: Schemas["TenantCreate"] = { name: options.name, ...(options.uid ? { uid: options.uid } : {}) };
      const metadata = pairs("--metadata", options.metadata);
      if (metadata) body.metadata = metadata;
      printRecord(context.output, await call(context, context.client.POST("/v1/tenants", { body })));
    });
  tenants
    .command("show")
    .description("show a tenant")
    .argument("<tenant>", "id or uid")
    .action(async (tenantId: string, _options: unknown, command: Command) => {
      const context = contextOf(command);
      printRecord(context.output, await call(context, context.client.GET("/v1/tenants/{tenantId}", { params: { path: { tenantId } } })));
    });
}

export function eventTypeCommands(program: Command): void {
  const types = program.command("event-types").description("the event catalog");
  listOptions(types.command("list").description("list event types")).action(async (options: Page, command: Command) => {
    const context = contextOf(command);
    const page = await call(context, context.client.GET("/v1/event-types", { params: { query: pageQuery(options) } }));
    printList(context.output, page, [
      ["NAME", (type) => type.name],
      ["ARCHIVED", (type) => (type.archived ? "yes" : "")],
      ["DESCRIPTION", (type) => type.description],
    ]);
  });
  types
    .command("create")
    .description("add an event type to the catalog")
    .requiredOption("--name <name>", "resource.action, e.g. invoice.paid")
    .requiredOption("--description <text>", "what happened, for the people who subscribe")
    .option("--example <json>", "an example payload")
    .option("--schema <json>", "a JSON Schema (2020-12) payloads must match")
    .action(async (options: { name: string; description: string; example?: string; schema?: string }, command: Command) => {
      const context = contextOf(command);
      const body: Schemas["EventTypeCreate"] = { name: options.name, description: options.description };
      if (options.example !== undefined) body.example = parseJsonOption("--example", options.example);
      if (options.schema !== undefined) body.schema = parseJsonOption("--schema", options.schema) as Schemas["EventTypeCreate"]["schema"];
      printRecord(context.output, await call(context, context.client.POST("/v1/event-types", { body })));
    });
  types
    .command("show")
    .description("show an event type")
    .argument("<name>")
    .action(async (name: string, _options: unknown, command: Command) => {
      const context = contextOf(command);
      printRecord(context.output, await call(context, context.client.GET("/v1/event-types/{name}", { params: { path: { name } } })));
    });
}

export function endpointCommands(program: Command): void {
  const endpoints = program.command("endpoints").description("a tenant's webhooks");
  listOptions(endpoints.command("list").description("list a tenant's endpoints"))
    .option("--tenant <tenant>", "id or uid (or HERALD_TENANT)")
    .action(async (options: Page & { tenant?: string }, command: Command) => {
      const context = contextOf(command);
      const tenantId = tenantOf(options);
      const page = await call(
        context,
        context.client.GET("/v1/tenants/{tenantId}/endpoints", { params: { path: { tenantId }, query: pageQuery(options) } }),
      );
      printList(context.output, page, [
        ["ID", (endpoint) => endpoint.id],
        ["NAME", (endpoint) => endpoint.name],
        ["URL", (endpoint) => endpoint.url],
        ["EVENTS", (endpoint) => (endpoint.eventTypes.length ? endpoint.eventTypes.join(",") : "*")],
        [
          "STATE",
          (endpoint) => (endpoint.disabled ? `disabled${endpoint.disabledReason ? `: ${endpoint.disabledReason}` : ""}` : "enabled"),
        ],
      ]);
    });
  endpoints
    .command("create")
    .description("add a webhook to a tenant")
    .option("--tenant <tenant>", "id or uid (or HERALD_TENANT)")
    .requiredOption("--name <name>", "display name")
    .requiredOption("--url <url>", "where Herald POSTs")
    .option("--events <types>", "comma-separated event types it subscribes to, wildcards like payment.* allowed (default: all)")
    .option("--header <name=value>", "a custom header sent with every delivery, repeatable", collect)
    .option("--rate-limit <n>", "deliveries per second at most")
    .option("--secret <whsec>", "the signing secret (default: a new one)")
    .action(
      async (
        options: { tenant?: string; name: string; url: string; events?: string; header?: string[]; rateLimit?: string; secret?: string },
        command: Command,
      ) => {
        const context = contextOf(command);
        const tenantId = tenantOf(options);
        const body: Schemas["EndpointCreate"] = { name: options.name, url: options.url };
        if (options.events) body.eventTypes = options.events.split(",").map((type) => type.trim());
        const headers = pairs("--header", options.header);
        if (headers) body.headers = headers;
        if (options.rateLimit !== undefined) body.rateLimit = Number(options.rateLimit);
        if (options.secret) body.secret = options.secret;
        const endpoint = await call(
          context,
          context.client.POST("/v1/tenants/{tenantId}/endpoints", { params: { path: { tenantId } }, body }),
        );
        printRecord(context.output, endpoint);
      },
    );
  endpoints
    .command("show")
    .description("show an endpoint")
    .argument("<endpoint>", "ep_…")
    .option("--tenant <tenant>", "id or uid (or HERALD_TENANT)")
    .option("--secret", "also show its signing secret")
    .action(async (endpointId: string, options: { tenant?: string; secret?: boolean }, command: Command) => {
      const context = contextOf(command);
      const path = { tenantId: tenantOf(options), endpointId };
      const endpoint: Record<string, unknown> = await call(
        context,
        context.client.GET("/v1/tenants/{tenantId}/endpoints/{endpointId}", { params: { path } }),
      );
      if (options.secret) {
        const { secret } = await call(
          context,
          context.client.GET("/v1/tenants/{tenantId}/endpoints/{endpointId}/secret", { params: { path } }),
        );
        endpoint.secret = secret;
      }
      printRecord(context.output, endpoint);
    });
}
