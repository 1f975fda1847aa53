/**
 * Bytes into lines: LF, CRLF and a lone CR each end a line (a CR at the very end of a chunk waits
 * for the next one, which may bring its LF). A line that grows past MAX_LINE without an ending is
 * cut there, so a device that never sends one cannot fill the hub's memory.
 */
const MAX_LINE = 64 * 1024;

export class LineSplitter {
  private buffer = '';

  /** The complete lines in this chunk (without endings); the rest waits in `partial`. */
  push(chunk: string): string[] {
    this.buffer += chunk;
    const lines: string[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      if (c === 13 && i === this.buffer.length - 1) break;
      lines.push(this.buffer.slice(start, i));
      if (c === 13 && this.buffer.charCodeAt(i + 1) === 10) i++;
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
    while (this.buffer.length > MAX_LINE) {
      lines.push(this.buffer.slice(0, MAX_LINE));
      this.buffer = this.buffer.slice(MAX_LINE);
    }
    return lines;
  }

  /** Text after the last line ending (a prompt like "> "), without a trailing CR. */
  get partial(): string {
    return this.buffer.endsWith('\r') ? this.buffer.slice(0, -1) : this.buffer;
  }

  /** The session used the partial text up (a prompt was seen). */
  consume(): void {
    this.buffer = '';
  }

  reset(): void {
    this.buffer = '';
  }
}
