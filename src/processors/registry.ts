// Binds job types to processors. The engine claims only the types registered here, so a
// process never takes a job it cannot run (a worker on an older build leaves new types
// to the workers that know them).
import type { Processor } from "../engine/types.ts";
import { BATCH_JOB_TYPE } from "../engine/types.ts";

const TYPE_NAME = /^[a-z][a-z0-9]*(\.[a-z][a-zA-Z0-9]*)+$/;

export class ProcessorRegistry {
  private readonly byType = new Map<string, Processor<any, any>>();

  register<I, R>(processor: Processor<I, R>): this {
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
