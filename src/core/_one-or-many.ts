/**
 * A list that is nearly always empty or one item long (a task's watchers, a
 * future's waiters): `null`, the item itself, or an array once there are
 * two. No array is allocated for the common cases. The items must not be
 * arrays themselves.
 * @module
 */

/** `null`, one item, or an array of two or more (or fewer, after removals). */
export type OneOrMany<T extends object> = T | T[] | null;

/** `list` with `item` added at the end (the array, if there is one, is changed in place). */
export function withItem<T extends object>(list: OneOrMany<T>, item: T): OneOrMany<T> {
  if (list === null) return item;
  if (Array.isArray(list)) {
    list.push(item);
    return list;
  }
  return [list, item];
}

/** `list` without the last occurrence of `item` (the array, if there is one, is changed in place). */
export function withoutItem<T extends object>(list: OneOrMany<T>, item: T): OneOrMany<T> {
  if (list === item) return null;
  if (Array.isArray(list)) {
    const index = list.lastIndexOf(item);
    if (index >= 0) list.splice(index, 1);
  }
  return list;
}
