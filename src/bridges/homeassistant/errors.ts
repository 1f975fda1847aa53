/** Home Assistant's error, `{ code, message }`, or one of the library's numeric codes, in words. */
export function haError(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'message' in e) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    return typeof code === 'string' ? `${String(message)} (${code})` : String(message);
  }
  return e === 3 ? 'the connection to Home Assistant was lost' : `Home Assistant error ${String(e)}`;
}
