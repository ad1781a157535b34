// Picks the backend for the configured StorageOptions. Apart from storage.ts so that the
// interface does not import its implementations (which import the interface).
import { SpoolError } from "../../errors.ts";
import { LocalStorage } from "./local.ts";
import { S3Storage } from "./s3.ts";
import type { Storage, StorageOptions } from "./storage.ts";

export function createStorage(options: StorageOptions): Storage {
  switch (options.kind) {
    case "local":
      return new LocalStorage(options.root);
    case "s3":
      return new S3Storage(options);
    default:
      throw new SpoolError("INVALID_INPUT", `Unknown storage kind ${String((options as { kind?: unknown }).kind)}.`);
  }
}
