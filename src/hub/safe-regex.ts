/**
 * Regular expressions that users write (a device's telemetry fields, a line command's `until`
 * pattern) run on RE2: time linear in the text, whatever the pattern. V8's backtracking engine
 * took seconds on one line for `^(a+)+$`, and the hub's event loop with it. What RE2 cannot run in
 * linear time (backreferences, lookaround) is refused when the pattern is given.
 */
import RE2 from 're2';

export type Pattern = { ok: true; re: RegExp } | { ok: false; error: string };

/** The pattern compiled, or why not in words for the field's error (`<field>: <error>`). */
export function compilePattern(source: string): Pattern {
  try {
    return { ok: true, re: new RE2(source) };
  } catch (e) {
    const why = (e as Error).message;
    try {
      new RegExp(source);
    } catch (syntax) {
      return { ok: false, error: `not a valid regular expression (${(syntax as Error).message})` };
    }
    // Valid for JavaScript, not for RE2: a feature that needs backtracking.
    return { ok: false, error: `not supported: patterns run in linear time (RE2), without backreferences or lookaround (${why})` };
  }
}

