/**
 * Tagged results for code on the packet path and for parsers of untrusted bytes: they return an
 * error value instead of throwing, so hostile input can never unwind past a package API.
 */
export type Ok<T> = { readonly ok: true; readonly value: T };
export type Err<E> = { readonly ok: false; readonly error: E };
export type Result<T, E> = Ok<T> | Err<E>;

export const ok = <T>(value: T): Ok<T> => ({ ok: true, value });
export const err = <E>(error: E): Err<E> => ({ ok: false, error });
