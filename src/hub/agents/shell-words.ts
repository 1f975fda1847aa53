/** Arguments as a shell would split them, without running one (PM2's `args: "--a 'b c'"`). */
/**
 * Splits a command line into words like a POSIX shell, without running one: whitespace separates
 * words; '…' keeps everything literally; "…" keeps everything but \" \\ \$ \` (and \newline, removed);
 * outside quotes a backslash keeps the next character. No expansion of any kind ($VAR, ~, globs).
 * Throws on an unterminated quote.
 */
export function splitArgs(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error('unterminated single quote');
      word += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      inWord = true;
      i++;
      for (;;) {
        if (i >= line.length) throw new Error('unterminated double quote');
        const d = line[i]!;
        if (d === '"') {
          i++;
          break;
        }
        if (d === '\\' && i + 1 < line.length && '"\\$`\n'.includes(line[i + 1]!)) {
          if (line[i + 1] !== '\n') word += line[i + 1];
          i += 2;
        } else {
          word += d;
          i++;
        }
      }
    } else if (c === '\\') {
      if (i + 1 >= line.length) {
        word += '\\';
        inWord = true;
        i++;
      } else if (line[i + 1] === '\n') {
        i += 2; // a line continuation
      } else {
        word += line[i + 1];
        inWord = true;
        i += 2;
      }
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}
