import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from "openapi-typescript";

/** Where the committed types live, relative to this package. */
export const GENERATED_PATH = new URL("../src/generated/openapi.ts", import.meta.url);

/**
 * The TypeScript types of an OpenAPI document, as committed: the same input
 * gives the same text, so a test can compare it with the file byte for byte.
 */
export async function generateTypes(document: unknown): Promise<string> {
  const ast = await openapiTS(document as OpenAPI3, { alphabetize: true });
  return `${COMMENT_HEADER.trimEnd()}\n// Regenerate with \`npm run generate -w @herald/client\`; a test fails when this file and the API differ.\n\n${astToString(ast)}`;
}
