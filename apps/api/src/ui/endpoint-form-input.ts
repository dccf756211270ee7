import { endpointCreateSchema, endpointUpdateSchema } from "@herald/schema";
import type { FieldError } from "../errors.ts";
import { type FormBody, field, fields } from "./env.ts";

/** What the person typed, kept to fill the form again when it has errors. */
export interface EndpointFormValues {
  name: string;
  url: string;
  eventTypes: string[];
  headers: string;
  rateLimit: string;
}

export const ALL_EVENTS = "*";

export function formValues(form: FormBody): EndpointFormValues {
  return {
    name: field(form, "name"),
    url: field(form, "url"),
    eventTypes: fields(form, "eventTypes"),
    headers: field(form, "headers"),
    rateLimit: field(form, "rateLimit"),
  };
}

/** `Name: value` per line, the way headers are written everywhere else. */
function parseHeaders(text: string, errors: FieldError[]): Record<string, string> {
  const headers: Record<string, string> = {};
  text.split(/\r?\n/).forEach((line, index) => {
    if (!line.trim()) return;
    const colon = line.indexOf(":");
    if (colon <= 0) {
      errors.push({ path: "headers", message: `line ${index + 1}: write each header as Name: value` });
      return;
    }
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  });
  return headers;
}

export function headersText(headers: Record<string, string>): string {
  return Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}`)
    .join("\n");
}

/**
 * The form as an API body, validated by the very zod schema the API uses, so
 * the errors shown next to each field are the API's own words.
 */
export function endpointBody(values: EndpointFormValues, mode: "create" | "update") {
  const errors: FieldError[] = [];
  const body = {
    name: values.name,
    url: values.url,
    // "All events" is the API's empty list; choosing it alongside others still means all.
    eventTypes: values.eventTypes.includes(ALL_EVENTS) ? [] : values.eventTypes,
    headers: parseHeaders(values.headers, errors),
    rateLimit: values.rateLimit.trim() === "" ? null : /^\d+$/.test(values.rateLimit.trim()) ? Number(values.rateLimit) : values.rateLimit,
  };
  const parsed = (mode === "create" ? endpointCreateSchema : endpointUpdateSchema).safeParse(body);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) errors.push({ path: issue.path.map(String).join(".") || "(body)", message: issue.message });
  }
  return { body: parsed.success ? parsed.data : undefined, errors };
}

/** Field errors keyed by form field: `headers.Host` and `eventTypes.0` belong to `headers` and `eventTypes`. */
export function errorsByField(errors: FieldError[]): Record<string, string[]> {
  const byField: Record<string, string[]> = {};
  for (const error of errors) {
    const [first, ...rest] = error.path.split(".");
    const key = first ?? "(body)";
    const message = key === "headers" && rest.length > 0 ? `${rest.join(".")} ${error.message}` : error.message;
    byField[key] = [...(byField[key] ?? []), message];
  }
  return byField;
}
