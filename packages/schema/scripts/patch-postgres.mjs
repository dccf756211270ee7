// Applies Herald's fixes to postgres.js (the PostgreSQL client) after install.
// Upstream has open reports and pull requests for each, none released in 3.4.9,
// the newest 3.4.x; drop an edit here once a release carries its fix:
//  - a statement written after the socket closed throws from a timer (null.write)
//    and kills the process, then the dead connection's bytes are prepended to the
//    next connection's start-up message, so that connection never starts
//    (porsager/postgres#1154, #1208; pull request #1168);
//  - a query that lost its connection, or failed, after some rows leaves a row
//    counter behind, and the next query on that connection resolves with that many
//    holes before its rows (porsager/postgres#1119, #1181; pull requests #1120, #1190);
//  - a statement of a transaction whose connection closed is sent on the next
//    connection, outside the transaction;
//  - a connection lost while it fetches array types is an unhandled rejection.
// Idempotent; fails the install if postgres.js changed under it.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const EXPECTED_VERSION = "3.4.9";
const MARK = "herald-patch";

const connectionEdits = [
  [
    "  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)\n",
    `  function nextWrite(fn) {\n    if (!socket) return (chunk = nextWriteTimer = null, false) // ${MARK}: the socket closed before this write\n    const x = socket.write(chunk, fn)\n`,
  ],
  [
    "  function execute(q) {\n    if (terminated)\n      return queryError(q, Errors.connection('CONNECTION_DESTROYED', options))\n",
    "  function execute(q) {\n    if (terminated)\n      return queryError(q, Errors.connection('CONNECTION_DESTROYED', options))\n\n" +
      `    if (!socket) // ${MARK}: a statement for a closed connection (a transaction's) fails instead of waiting forever\n` +
      "      return queryError(q, Errors.connection('CONNECTION_CLOSED', options))\n",
  ],
  [
    "    socket.removeAllListeners()\n    socket = null\n\n    if (initial)\n      return reconnect()\n\n    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))\n",
    "    socket.removeAllListeners()\n    socket = null\n" +
      `    chunk = nextWriteTimer = null // ${MARK}: nothing of this connection is written to the next one\n` +
      `    rows = 0 // ${MARK}: the next connection's first result starts at row 0\n` +
      `    results = errorResponse = null // ${MARK}: nor does it inherit this one's error\n` +
      "    result = new Result()\n\n" +
      "    if (initial)\n      return reconnect()\n\n" +
      `    ;(query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket)) // ${MARK}: also those written after an error\n` +
      `    query = null // ${MARK}\n`,
  ],
  [
    "    query = results = errorResponse = null\n    result = new Result()\n",
    `    query = results = errorResponse = null\n    result = new Result()\n    rows = 0 // ${MARK}: a query that failed after some rows leaves no holes in the next one\n`,
  ],
  [
    "        initial.reserve && (initial = null)\n        return fetchArrayTypes()\n",
    `        initial.reserve && (initial = null)\n        return fetchArrayTypes().catch(errored) // ${MARK}: a connection lost meanwhile fails its query, not the process\n`,
  ],
];

const indexEdits = [
  [
    "    let savepoints = 0\n      , connection\n      , prepare = null\n",
    `    let savepoints = 0\n      , connection\n      , prepare = null\n      , closedError = null // ${MARK}\n`,
  ],
  [
    "        new Promise((_, reject) => connection.onclose = reject)\n",
    `        new Promise((_, reject) => connection.onclose = e => reject(closedError = e)) // ${MARK}\n`,
  ],
  [
    "      function handler(q) {\n        q.catch(e => uncaughtError || (uncaughtError = e))\n",
    "      function handler(q) {\n        q.catch(e => uncaughtError || (uncaughtError = e))\n" +
      `        if (closedError) // ${MARK}: never send a statement of this transaction on another connection\n` +
      "          return q.reject(closedError)\n",
  ],
];

const require = createRequire(import.meta.url);
// "postgres" resolves to <root>/cjs/src/index.js for require.
const root = join(dirname(require.resolve("postgres")), "..", "..");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

function patch(file, edits) {
  const path = join(root, file);
  let text = readFileSync(path, "utf8");
  if (text.includes(MARK)) return false;
  if (version !== EXPECTED_VERSION) {
    throw new Error(
      `postgres ${version} is installed, these edits were written for ${EXPECTED_VERSION}: ` +
        `check which of its fixes the new version carries, then update ${import.meta.url}`,
    );
  }
  for (const [from, to] of edits) {
    const at = text.indexOf(from);
    if (at === -1 || text.indexOf(from, at + 1) !== -1)
      throw new Error(`${path}: expected exactly one ${JSON.stringify(from.split("\n")[0])}`);
    text = text.replace(from, to);
  }
  writeFileSync(path, text);
  return true;
}

const changed = ["src", "cjs/src"].flatMap((dir) => [patch(`${dir}/connection.js`, connectionEdits), patch(`${dir}/index.js`, indexEdits)]);
if (changed.some(Boolean)) console.log(`patched postgres ${version} (see packages/schema/scripts/patch-postgres.mjs)`);
