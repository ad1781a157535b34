// A job's stages with weights (probe → encode[720p] → package → store), turned into one
// overall progress: each stage's own 0..1 is scaled into its share of the whole, so a
// subscriber sees one monotonic percentage and the name of what is happening now.
import type { JobContext, ProgressDetails, StageWeights } from "../../engine/types.ts";

export type StagePlan = ReadonlyArray<{ name: string; weight: number }>;

/**
 * One run's plan: these stages, in order, with the definition's weights (false: not this
 * run; `[name, n]`: a stage whose weight is per item, n items this run).
 */
export function planOf(weights: StageWeights, stages: ReadonlyArray<string | false | readonly [string, number]>): StagePlan {
  return stages.filter((s) => s !== false).map((s) => {
    const [name, times] = typeof s === "string" ? [s, 1] : s;
    const weight = weights[name] ?? weights[name.replace(/\[.*\]$/, "")];
    if (weight === undefined) throw new Error(`stage ${name} has no weight`);
    return { name, weight: weight * times };
  });
}

export class Stages {
  private readonly total: number;
  private readonly starts = new Map<string, number>();
  private current: { name: string; start: number; weight: number } | null = null;

  constructor(private readonly ctx: JobContext, private readonly plan: StagePlan) {
    let at = 0;
    for (const s of plan) {
      this.starts.set(s.name, at);
      at += s.weight;
    }
    this.total = at || 1;
  }

  /** Starts a stage of the plan: its name is written at once, progress jumps to its start. */
  async enter(name: string): Promise<void> {
    const step = this.plan.find((s) => s.name === name);
    if (!step) throw new Error(`stage ${name} is not in the plan`);
    this.current = { name, start: this.starts.get(name)!, weight: step.weight };
    await this.ctx.stage(name);
    this.ctx.progress(this.current.start / this.total);
  }

  /** Progress within the current stage (0..1), with the encoder's rate details. */
  update(fraction: number | null, details?: ProgressDetails): void {
    if (!this.current || fraction === null) return;
    const f = Math.min(1, Math.max(0, fraction));
    this.ctx.progress((this.current.start + f * this.current.weight) / this.total, details);
  }
}
