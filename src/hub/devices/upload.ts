/**
 * An upload as a job of kind `upload`: the device's session sends the file, the job carries its
 * progress, outcome and cancel, and the device's state shows the file going out.
 */
import { rm } from 'node:fs/promises';
import type { JobManager } from '../jobs/manager.js';
import type { JobView } from '../jobs/types.js';
import type { DeviceRuntime } from './runtime.js';

/** A file on its way to a device: already on the hub's disk. */
export interface UploadFile {
  path: string;
  size: number;
  name: string;
}

/**
 * Launches the job and resolves once it runs. `changed(true)` publishes the device's state now,
 * `changed(false)` soon (progress comes often). The file is removed when the job ends.
 */
export async function launchUpload(jobs: JobManager, rt: DeviceRuntime, file: UploadFile, changed: (now: boolean) => void): Promise<JobView> {
  const unit = rt.device.protocol === 'gcode' ? 'lines' : 'chunks';
  const { job } = await jobs.launch(
    'upload',
    { device_id: rt.id, trigger: 'api' },
    async (h) => {
      h.step(`sending ${file.name} (${file.size} bytes) to ${rt.id}`);
      try {
        const r = await rt.sendFile(
          { path: file.path, size: file.size },
          {
            signal: h.signal,
            progress: (p) => {
              h.progress(p);
              if (rt.upload) rt.upload.progress = p;
              changed(false);
            },
          },
        );
        h.step(`sent ${r.sent} ${unit}, ${r.bytes} bytes${r.resent ? `; ${r.resent} lines sent again on the device's request` : ''}`);
        return { ok: true };
      } catch (err) {
        return { ok: false, error: (err as Error).message };
      } finally {
        rt.upload = null;
        changed(true);
        await rm(file.path, { force: true });
      }
    },
    {
      onStarted: (j) => {
        rt.upload = { job_id: j.id, file: file.name, progress: 0 };
        changed(true);
      },
    },
  );
  return job;
}
