#!/usr/bin/env node
// Entry for `spool` and `npm start`: loads the TypeScript sources through tsx.
import { register } from "tsx/esm/api";

register();
await import("./main.ts");
