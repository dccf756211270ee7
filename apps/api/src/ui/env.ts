import type { AppEnv } from "../deps.ts";
import type { Session } from "./session.ts";

export type FormBody = Record<string, string | File | (string | File)[]>;

/** The API's request variables plus the signed-in session, its CSRF token and the tenant in view. */
export type UiEnv = {
  Variables: AppEnv["Variables"] & {
    session: Session;
    csrf: string;
    form: FormBody;
    tenant: { id: string; name: string } | undefined;
    tenants: { id: string; name: string }[] | undefined;
  };
};

/** One text field of a posted form ('' when absent or a file). */
export function field(form: FormBody, name: string): string {
  const value = form[name];
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === "string" ? first : "";
}

/** Every value of a repeated field (a multi-select). */
export function fields(form: FormBody, name: string): string[] {
  const value = form[name];
  const all = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return all.filter((item): item is string => typeof item === "string");
}
