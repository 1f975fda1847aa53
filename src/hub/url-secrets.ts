/** Passwords in URLs (a database's, a broker's), masked wherever a URL can reach a log, an error or an answer. */

const URL_IN_TEXT = /([a-z][a-z0-9+.-]*:\/\/)([^\s"'<>]+)/gi;

/**
 * A URL, or a text with URLs in it (an error message), with every password in them shown as ***:
 * `user:password@` and a `password=` query parameter. Works on text that does not parse as a URL
 * too (a bad port, a broken %-escape): that is exactly what error messages echo.
 */
export function redactUrl(text: string): string {
  return text.replace(URL_IN_TEXT, (_m, scheme: string, rest: string) => {
    // The user info ends at the last @ (an unescaped @ in a password is taken as part of it).
    const at = rest.lastIndexOf('@');
    const colon = rest.indexOf(':');
    const masked = at > 0 && colon >= 0 && colon < at ? `${rest.slice(0, colon)}:***${rest.slice(at)}` : rest;
    return scheme + masked.replace(/([?&]password=)[^&#]*/gi, '$1***');
  });
}
