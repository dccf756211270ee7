import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import type { FieldError } from "../errors.ts";

// ajv-formats is CommonJS with `exports.default`; NodeNext sees the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/**
 * One ajv instance for the process: JSON Schema 2020-12 with formats, every
 * error reported, unknown keywords and formats tolerated quietly (catalog
 * schemas often carry `examples` or vendor keywords), and no remote `$ref` loading.
 */
const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: true, logger: false });
addFormats(ajv);

const compiled = new Map<string, { version: number; validate: ValidateFunction }>();
const CACHE_LIMIT = 1000;

/** Compiles a schema, or answers why it is not a valid JSON Schema. */
export function compileSchema(schema: Record<string, unknown>): { validate: ValidateFunction } | { problem: string } {
  try {
    if (!ajv.validateSchema(schema)) return { problem: ajv.errorsText(ajv.errors, { dataVar: "schema" }) };
    return { validate: ajv.compile(schema) };
  } catch (error) {
    return { problem: error instanceof Error ? error.message : "the schema cannot be compiled" };
  }
}

/**
 * The compiled validator of a catalog entry, compiled once per version of
 * the type (its `updatedAt`) and cached, so publishing does not recompile.
 */
export function validatorFor(name: string, version: number, schema: Record<string, unknown>): ValidateFunction | undefined {
  const hit = compiled.get(name);
  if (hit && hit.version === version) return hit.validate;
  const result = compileSchema(schema);
  if (!("validate" in result)) return undefined;
  if (compiled.size >= CACHE_LIMIT) compiled.delete(compiled.keys().next().value as string);
  compiled.set(name, { version, validate: result.validate });
  return result.validate;
}

/** ajv errors as `{path, message}` pairs rooted at `payload`, capped so a huge payload cannot produce a huge answer. */
export function schemaErrors(errors: ErrorObject[] | null | undefined, root: string): FieldError[] {
  return (errors ?? []).slice(0, 50).map((error) => {
    const pointer = error.instancePath
      .split("/")
      .slice(1)
      .map((part) => part.replaceAll("~1", "/").replaceAll("~0", "~"));
    const missing = error.keyword === "required" ? [(error.params as { missingProperty: string }).missingProperty] : [];
    const extra = error.keyword === "additionalProperties" ? [(error.params as { additionalProperty: string }).additionalProperty] : [];
    return { path: [root, ...pointer, ...missing, ...extra].join("."), message: error.message ?? "is not valid" };
  });
}
