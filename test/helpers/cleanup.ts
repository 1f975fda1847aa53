/**
 * Cleanup at the end of the test file, whatever registered it. node:test's after() called inside a
 * before() hook runs right after that hook, so helpers register here instead.
 */
import { after } from 'node:test';

const tasks: Array<() => unknown> = [];

// Imported at a file's top level, so this hook belongs to the file, not to a test or hook.
after(async () => {
  for (const task of tasks.splice(0).reverse()) {
    try {
      await task();
    } catch (e) {
      process.stderr.write(`cleanup failed: ${String(e)}\n`);
    }
  }
});

export function onCleanup(task: () => unknown): void {
  tasks.push(task);
}
