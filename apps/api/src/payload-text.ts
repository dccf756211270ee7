import { type Node, type ParseError, parseTree } from "jsonc-parser";
import { ApiError, type FieldError } from "./errors.ts";

/**
 * The JSON text of each event's payload exactly as the publisher sent it, cut
 * out of the raw request body by the offsets of a syntax tree. Receivers get
 * these bytes as `data`, so key order, number spelling (`1.0`, `1e3`, integers
 * beyond 2^53) and string escapes are the publisher's, not a re-serialisation.
 *
 * Duplicate object keys anywhere in the body are refused: JSON parsers
 * disagree on which one wins (first, last, or error), so a payload with them
 * would mean one thing to the catalog's schema check and another to some
 * receivers.
 *
 * The body has already passed JSON.parse (the route's validator), so a syntax
 * error here is not expected; it is still answered as malformed JSON.
 */
export function payloadTexts(body: string, locate: (root: Node) => (Node | undefined)[]): string[] {
  const errors: ParseError[] = [];
  const root = parseTree(body, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  if (!root || errors.length > 0) throw new ApiError("malformed_json", "the body is not valid JSON");
  const duplicates = duplicateKeys(root, "");
  if (duplicates.length > 0) {
    throw new ApiError("duplicate_key", duplicates.map((e) => `${e.path}: ${e.message}`).join("; "), duplicates);
  }
  return locate(root).map((node) => {
    if (!node) throw new ApiError("validation_failed", "payload is required", [{ path: "payload", message: "is required" }]);
    return body.slice(node.offset, node.offset + node.length);
  });
}

/** The `payload` member of a single publish. */
export const singlePayload = (root: Node) => [member(root, "payload")];

/** The `payload` member of every item of a batch publish, in order. */
export const batchPayloads = (root: Node) => (member(root, "events")?.children ?? []).map((item) => member(item, "payload"));

function member(node: Node | undefined, name: string): Node | undefined {
  if (node?.type !== "object") return undefined;
  const property = node.children?.find((child) => child.children?.[0]?.value === name);
  return property?.children?.[1];
}

function duplicateKeys(node: Node, path: string): FieldError[] {
  const found: FieldError[] = [];
  const seen = new Set<string>();
  const at = (key: string | number) => (path ? `${path}.${key}` : String(key));
  for (const [index, child] of (node.children ?? []).entries()) {
    if (node.type === "object") {
      const key = String(child.children?.[0]?.value);
      if (seen.has(key)) found.push({ path: at(key), message: "is a duplicate key; each key may appear once in an object" });
      seen.add(key);
      const value = child.children?.[1];
      if (value) found.push(...duplicateKeys(value, at(key)));
    } else if (node.type === "array") {
      found.push(...duplicateKeys(child, at(index)));
    }
  }
  return found;
}
