/**
 * A refusal the user should read: every interface reports its message, and HTTP maps its kind to a
 * status (invalid 400, unauthorized 401, forbidden 403, not_found 404, conflict 409, too_large 413,
 * unavailable 503). Anything else is a bug (500).
 */
export type HubErrorKind = 'invalid' | 'unauthorized' | 'forbidden' | 'not_found' | 'conflict' | 'too_large' | 'unavailable';

export class HubError extends Error {
  constructor(
    readonly kind: HubErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export const invalid = (message: string): HubError => new HubError('invalid', message);
export const notFound = (message: string): HubError => new HubError('not_found', message);
export const conflict = (message: string): HubError => new HubError('conflict', message);

export const HTTP_STATUS: Record<HubErrorKind, number> = { invalid: 400, unauthorized: 401, forbidden: 403, not_found: 404, conflict: 409, too_large: 413, unavailable: 503 };
