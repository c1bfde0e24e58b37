// Keeps the state of every job the bot has seen, bounded in number, keyed by request_id.

import type { DecodedEvent } from "./decode.ts";
import { foldEvent, type FoldResult, type JobState } from "./state.ts";
import { MAX_TRACKED_JOBS } from "./config.ts";

export class JobBook {
  // A Map keeps insertion order: re-inserting on update makes the first key the least recent.
  private readonly jobs = new Map<string, JobState>();

  constructor(private readonly maxJobs: number = MAX_TRACKED_JOBS) {}

  apply(decoded: DecodedEvent): FoldResult {
    const requestId = decoded.event.request_id;
    const previous = this.jobs.get(requestId);
    const result = foldEvent(previous, decoded);
    if (result.kind === "updated") {
      this.jobs.delete(requestId);
      this.jobs.set(requestId, result.state);
      if (this.jobs.size > this.maxJobs) {
        const oldest = this.jobs.keys().next();
        if (oldest.done !== true) this.jobs.delete(oldest.value);
      }
    }
    return result;
  }

  get(requestId: string): JobState | undefined {
    return this.jobs.get(requestId);
  }

  get size(): number {
    return this.jobs.size;
  }
}
