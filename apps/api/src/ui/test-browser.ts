import type { TestApp } from "../test-app.ts";

/** A tiny cookie jar around app.request, the way a browser would carry the session. */
export function browserFor(t: Pick<TestApp, "app">, headers: Record<string, string> = {}) {
  const jar = new Map<string, string>();
  async function request(method: string, path: string, form?: Record<string, string>) {
    const response = await t.app.request(path, {
      method,
      headers: {
        ...headers,
        cookie: [...jar].map(([name, value]) => `${name}=${value}`).join("; "),
        ...(form ? { "content-type": "application/x-www-form-urlencoded" } : {}),
      },
      body: form ? new URLSearchParams(form).toString() : undefined,
      redirect: "manual",
    });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(";");
      const [name, value] = (pair ?? "").split("=");
      if (name) jar.set(name, value ?? "");
    }
    return { status: response.status, location: response.headers.get("location"), headers: response.headers, text: await response.text() };
  }
  const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
  async function signIn(token: string) {
    const page = await request("GET", "/ui/sign-in");
    return request("POST", "/ui/sign-in", { _csrf: csrfOf(page.text), token, next: "/ui" });
  }
  /** A copy of this browser's cookies in a second jar: what a stolen cookie gives an attacker. */
  function clone() {
    const other = browserFor(t, headers);
    for (const [name, value] of jar) other.jar.set(name, value);
    return other;
  }
  return { jar, request, signIn, csrfOf, clone };
}
