import { problemSchema } from "@herald/schema";
import type { z } from "zod";

const problem = { "application/problem+json": { schema: problemSchema } };

/** The error answers every authenticated route can give, for the OpenAPI document. */
export const errorResponses = {
  400: { description: "The request is not valid", content: problem },
  401: { description: "Missing or invalid bearer token", content: problem },
  404: { description: "Not found", content: problem },
  422: { description: "Understood but not acceptable", content: problem },
  503: {
    description: "PostgreSQL or Redis is unavailable (`service_unavailable`); try again after the `Retry-After` seconds",
    content: problem,
  },
} as const;

export function jsonBody<T extends z.ZodType>(schema: T, description?: string) {
  return { content: { "application/json": { schema } }, required: true, ...(description ? { description } : {}) };
}

export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

export const bearerSecurity = [{ bearer: [] }];
