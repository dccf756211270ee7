/** Newest first by time-sortable id; fetch one extra row to know if there is a next page. */
export function page<T extends { id: string }>(rows: T[], limit: number): { rows: T[]; nextCursor: string | null } {
  if (rows.length <= limit) return { rows, nextCursor: null };
  const kept = rows.slice(0, limit);
  return { rows: kept, nextCursor: kept[kept.length - 1]?.id ?? null };
}
