import { Command, CommanderError } from "commander";
import { deliveryCommands, replayCommands } from "./commands/deliveries.ts";
import { publishCommand } from "./commands/publish.ts";
import { endpointCommands, eventTypeCommands, tenantCommands } from "./commands/resources.ts";
import { webhookCommands } from "./commands/webhooks.ts";
import { CliError, DEFAULT_TOKEN, DEFAULT_URL, explain } from "./context.ts";

export function buildProgram(): Command {
  const program = new Command("herald")
    .description("Talk to a running Herald: set up tenants and endpoints, publish, follow deliveries, replay, receive webhooks.")
    .version("0.1.0")
    .option("--api <url>", `Herald's API (or HERALD_URL; default ${DEFAULT_URL})`)
    .option("--token <token>", `the admin token or a tenant API key (or HERALD_TOKEN; default ${DEFAULT_TOKEN}, as npm start uses)`)
    .option("--json", "print JSON for scripts instead of tables")
    .showHelpAfterError()
    .exitOverride();
  tenantCommands(program);
  eventTypeCommands(program);
  endpointCommands(program);
  publishCommand(program);
  deliveryCommands(program);
  replayCommands(program);
  webhookCommands(program);
  // Subcommands report usage errors through the same exitOverride as the program.
  for (const command of program.commands) {
    command.exitOverride();
    for (const sub of command.commands) sub.exitOverride();
  }
  return program;
}

/** Runs the CLI; answers the exit code instead of exiting, so callers (and tests) decide. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (error) {
    // Commander has printed its own message (usage error, --help, --version).
    if (error instanceof CommanderError) return error.exitCode;
    const failure = error instanceof CliError ? error : explain(error, "");
    process.stderr.write(`herald: ${failure.message}\n`);
    return failure.exitCode;
  }
}
