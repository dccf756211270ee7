import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "@herald/testing";
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** Debian's chromium (installed by .ci/run); the machine has no outside network, so nothing is downloaded. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Headless chromium with a fresh profile directory, quiet about the network it cannot reach. */
export async function launchBrowser(): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), "herald-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 860 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Saves a screenshot for the README when HERALD_SCREENSHOTS names a folder
 * (`npm run screenshots -w @herald/test`), so ordinary test runs leave the tree clean.
 */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  const folder = process.env.HERALD_SCREENSHOTS;
  if (!folder) return;
  const target = join(REPO_ROOT, folder);
  await mkdir(target, { recursive: true });
  await page.screenshot({ path: join(target, `${name}.png`), fullPage: options.fullPage ?? true });
}
