import { defineConfig } from "prisma/config";

// Prisma 7 reads the connection from here, not from schema.prisma. `env()` would throw
// when DATABASE_URL is unset (the embedded-Postgres default), so read it leniently:
// only `prisma migrate`/`studio` need it, and Spool applies migrations itself.
export default defineConfig({
  schema: "schema.prisma",
  migrations: { path: "migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "" },
});
