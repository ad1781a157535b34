// The job types this process runs, each definition bound to its deps. The composition root
// (app.ts) builds it; the engine claims only the types registered here, so a process never
// takes a job it cannot run (a worker on an older build, or one without ffmpeg, leaves
// those types to the workers that can).
import { BATCH_JOB_TYPE, type JobTypeDefinition, type Processor } from "./types.ts";

const TYPE_NAME = /^[a-z][a-z0-9]*(\.[a-z][a-zA-Z0-9]*)+$/;

export class ProcessorRegistry {
  private readonly byType = new Map<string, Processor<any, any>>();

  /**
   * Binds a definition to what it needs (nothing, for a type that needs nothing); an input
   * schema that depends on them is built once, here.
   */
  register<D, I, R>(definition: JobTypeDefinition<D, I, R>, ...[deps]: undefined extends D ? [deps?: D] : [deps: D]): this {
    const { input, timeoutMs, run, ...rest } = definition;
    const bound = deps as D;
    return this.add({
      ...rest,
      input: typeof input === "function" ? input(bound) : input,
      timeoutMs: typeof timeoutMs === "function" ? timeoutMs(bound) : timeoutMs,
      run: (job, ctx) => run(job, ctx, bound),
    });
  }

  private add(processor: Processor<any, any>): this {
    if (!TYPE_NAME.test(processor.type) || processor.type === BATCH_JOB_TYPE) {
      throw new Error(`Job type "${processor.type}" must be a dotted domain.verb name`);
    }
    if (this.byType.has(processor.type)) throw new Error(`Job type "${processor.type}" is registered twice`);
    this.byType.set(processor.type, processor);
    return this;
  }

  get(type: string): Processor<unknown, unknown> | undefined {
    return this.byType.get(type);
  }

  types(): string[] {
    return [...this.byType.keys()].sort();
  }

  list(): Processor<unknown, unknown>[] {
    return this.types().map((t) => this.byType.get(t)!);
  }
}
