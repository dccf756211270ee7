/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Hono } from "hono";
import { principalFor } from "../auth.ts";
import { clientAddress } from "../client-address.ts";
import type { AppDeps } from "../deps.ts";
import { readPortalLink } from "../services/portal-links.ts";
import { recordSignInFailure, signInBlockedFor, tokenPrefix } from "../services/sign-in-limits.ts";
import { type FormBody, field, type UiEnv } from "./env.ts";
import { Document, Flash } from "./layout.tsx";
import { ErrorPage, render } from "./render.tsx";
import { signInCsrf, signInCsrfValid, startSession } from "./session.ts";

/** Only same-site paths under /ui, so `next` cannot send anyone elsewhere. */
function safeNext(next: string | undefined): string {
  return next && /^\/ui(\/[\w\-./~%]*)?$/.test(next) && !next.includes("//") ? next : "/ui";
}

function SignInPage({ csrf, next, error }: { csrf: string; next: string; error?: string | undefined }) {
  return (
    <Document title="Sign in">
      <main id="main" class="signin">
        <h1>Sign in to Herald</h1>
        <div class="panel">
          {error && <Flash kind="bad">{error}</Flash>}
          <form method="post" action="/ui/sign-in">
            <input type="hidden" name="_csrf" value={csrf} />
            <input type="hidden" name="next" value={next} />
            <div class="field">
              <label for="token">Admin token or tenant API key</label>
              <input
                type="password"
                id="token"
                name="token"
                required
                autocomplete="current-password"
                aria-describedby="token-hint"
                aria-invalid={error ? "true" : undefined}
              />
              <div class="hint" id="token-hint">
                The value of HERALD_ADMIN_TOKEN, or a tenant key starting with hk_. It is checked once and never stored in your browser.
              </div>
            </div>
            <button type="submit">Sign in</button>
          </form>
        </div>
      </main>
    </Document>
  );
}

export function signInRoutes(ui: Hono<UiEnv>, deps: AppDeps) {
  ui.get("/sign-in", (c) => render(c, <SignInPage csrf={signInCsrf(c, deps)} next={safeNext(c.req.query("next"))} />));

  ui.post("/sign-in", async (c) => {
    const form = (await c.req.parseBody()) as FormBody;
    const next = safeNext(field(form, "next"));
    if (!signInCsrfValid(c, deps, field(form, "_csrf"))) {
      return render(c, <SignInPage csrf={signInCsrf(c, deps)} next={next} error="The form expired; please sign in again." />, 403);
    }
    const token = field(form, "token").trim();
    const address = clientAddress(c, deps.config.HERALD_TRUST_PROXY);
    const prefix = tokenPrefix(token);
    const waitSeconds = await signInBlockedFor(deps, address, prefix);
    if (waitSeconds > 0) {
      // Refused before the token is checked, so a blocked guesser cannot learn that a guess was right.
      deps.logger.warn({ address, tokenPrefix: prefix }, "console sign-in refused: too many failures");
      c.header("retry-after", String(waitSeconds));
      const minutes = Math.ceil(waitSeconds / 60);
      return render(
        c,
        <SignInPage csrf={signInCsrf(c, deps)} next={next} error={`Too many failed sign-ins; try again in ${minutes} minutes.`} />,
        429,
      );
    }
    const principal = token ? await principalFor(deps, token) : undefined;
    if (!principal) {
      await recordSignInFailure(deps, address, prefix);
      return render(
        c,
        <SignInPage csrf={signInCsrf(c, deps)} next={next} error="That token is not valid: check the admin token or the tenant key." />,
        401,
      );
    }
    await startSession(c, deps, principal);
    return c.redirect(next, 303);
  });

  // A portal link is a signed, short-lived invitation for one tenant: opening it starts a portal session.
  ui.get("/portal/:token", async (c) => {
    const claims = await readPortalLink(deps, c.req.param("token"));
    if (!claims) {
      return render(
        c,
        <ErrorPage status={401} title="This link has expired" detail="Portal links work for a short time only. Ask for a new link." />,
        401,
      );
    }
    await startSession(c, deps, { kind: "tenant", tenantId: claims.tenantId, keyId: "portal" }, { mintedBy: claims.keyId });
    return c.redirect(`/ui/t/${encodeURIComponent(claims.tenantId)}/webhooks`, 303);
  });
}
