import { type IdKind, idFloor } from "@herald/schema";
import { ApiError } from "../errors.ts";

/**
 * The id floor for a time filter (`after`, `before`, `since`). Ids encode
 * milliseconds since 1970, so an earlier time has no id: it is refused (422)
 * rather than quietly matching nothing or everything.
 */
export function timeFloor(kind: IdKind, field: string, iso: string): string {
  const time = new Date(iso);
  if (Number.isNaN(time.getTime()) || time.getTime() < 0) {
    const message = "must be 1970-01-01T00:00:00Z or later";
    throw new ApiError("time_out_of_range", `${field} ${message}`, [{ path: field, message }]);
  }
  return idFloor(kind, time);
}
