/** Schema helpers shared by controller routes (shared control-plane messages live in @corridor/protocol/control). */
import { Type, type TSchema } from 'typebox';
import { ErrorBodySchema } from '@corridor/protocol/control';

/** Per-status error responses: `errors(400, 401, 404)`. */
export function errors(...statuses: number[]): Record<number, typeof ErrorBodySchema> {
  const out: Record<number, typeof ErrorBodySchema> = {};
  for (const s of statuses) out[s] = ErrorBodySchema;
  return out;
}

export const NoContent = Type.Null({ description: 'No content.' });

export const PageLimit = Type.Integer({
  minimum: 1,
  maximum: 200,
  default: 50,
  description: 'Page size (1..200).',
});
export const PageCursor = Type.String({
  pattern: '^[A-Za-z0-9_-]+$',
  minLength: 1,
  maxLength: 256,
  description: 'Opaque cursor from `nextCursor`.',
});
export const SortOrder = Type.Enum(['asc', 'desc'], {
  default: 'desc',
  description: 'Sort by creation time.',
});

export function Paginated<T extends TSchema>(item: T, description: string) {
  return Type.Object(
    {
      items: Type.Array(item, { maxItems: 200 }),
      nextCursor: Type.Union([Type.String({ maxLength: 256 }), Type.Null()], {
        description: 'Pass as `cursor` for the next page; null on the last page.',
      }),
    },
    { description },
  );
}

export const BearerSecurity = [{ bearer: [] }];
/** Routes anyone may call (login, enrollment with a one-time token, health). */
export const PublicSecurity: { [name: string]: string[] }[] = [];
export const NodeSecurity = [{ node: [] }];
