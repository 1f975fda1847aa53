/**
 * Cleanup at the end of the test file, whatever registered it. node:test's after() called inside a
 * before() hook runs right after that hook, so helpers register here instead.
 */
import { after } from 'node:test';

const tasks: Array<() => unknown> = [];

// Imported at a file's top level, so this hook belongs to the file, not to a test or hook.
// Every task runs even when one fails; then the file fails with what went wrong (a hub that logged
// an unexpected error, or left a process behind, is a failure, not a note on stderr).
after(async () => {
  const failures: string[] = [];
  for (const task of tasks.splice(0).reverse()) {
    try {
      await task();
    } catch (e) {
      failures.push(e instanceof Error ? e.message : String(e));
    }
  }
  if (failures.length > 0) throw new Error(`cleanup found ${failures.length} problem(s):\n${failures.join('\n')}`);
});

export function onCleanup(task: () => unknown): void {
  tasks.push(task);
}
