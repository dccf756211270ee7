import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { RE2JS } from "re2js";
import type { FieldError } from "../errors.ts";

// ajv-formats is CommonJS with `exports.default`; NodeNext sees the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/**
 * `pattern` and `patternProperties` run on RE2 (re2js), which matches in time
 * linear in the input: a catalog schema such as `^(a+)+$` cannot stall the
 * API as a backtracking engine would. RE2 has no lookaround or backreferences;
 * such a pattern fails to compile, so the schema is refused when it is saved.
 */
class UnsupportedPattern extends Error {
  constructor(
    readonly pattern: string,
    reason: string,
  ) {
    super(`pattern ${JSON.stringify(pattern)} cannot be used (patterns run on RE2: no lookaround, no backreferences): ${reason}`);
  }
}

function linearRegExp(pattern: string, flags: string): { test(text: string): boolean; toString(): string } {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(pattern);
  } catch (error) {
    // Compiled only, never run: tells a pattern RE2 lacks a feature for from one that is no regular expression at all.
    new RegExp(pattern, flags);
    throw new UnsupportedPattern(pattern, error instanceof Error ? error.message : String(error));
  }
  return { test: (text: string) => compiled.matcher(text).find(), toString: () => `re2js:${pattern}` };
}
linearRegExp.code = "re2js";

/**
 * One ajv instance for the process: JSON Schema 2020-12 with formats, every
 * error reported, unknown keywords and formats tolerated quietly (catalog
 * schemas often carry `examples` or vendor keywords), no remote `$ref` loading,
 * and a linear-time engine for patterns.
 */
const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: true, logger: false, code: { regExp: linearRegExp } });
addFormats(ajv);

const compiled = new Map<string, { version: number; validate: ValidateFunction }>();
const CACHE_LIMIT = 1000;

/** Compiles a schema, or answers why it is not a valid JSON Schema. */
export function compileSchema(
  schema: Record<string, unknown>,
): { validate: ValidateFunction } | { problem: string; unsupportedPattern?: boolean } {
  try {
    if (!ajv.validateSchema(schema)) return { problem: ajv.errorsText(ajv.errors, { dataVar: "schema" }) };
    return { validate: ajv.compile(schema) };
  } catch (error) {
    if (error instanceof UnsupportedPattern) return { problem: error.message, unsupportedPattern: true };
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
