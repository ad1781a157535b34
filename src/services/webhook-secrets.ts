// Webhook signing secrets. A signing secret cannot be stored hashed — Spool must sign with
// it — so it is stored encrypted (AES-256-GCM). The key is SPOOL_WEBHOOK_SECRETS_KEY when
// set (keep it outside the database in production: then a dump of the database alone does not
// reveal a secret), else one generated once and kept in the settings table so every Spool
// process shares it. Secrets are shown to the user once, at creation or rotation.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import type pg from "pg";

/** Standard Webhooks secret: "whsec_" + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

/** The 32-byte key: sha256 of the configured value (any length ≥ 32), or the stored one. */
export async function webhookSecretsKey(pool: pg.Pool, fromEnv: string | undefined): Promise<Buffer> {
  if (fromEnv) return createHash("sha256").update(fromEnv).digest();
  await pool.query(`insert into settings (name, value) values ('webhook_secrets_key', $1) on conflict (name) do nothing`, [randomBytes(32).toString("base64")]);
  const { rows } = await pool.query<{ value: string }>(`select value from settings where name = 'webhook_secrets_key'`);
  return Buffer.from(rows[0]!.value, "base64");
}

/** "v1:" + base64(iv ‖ tag ‖ ciphertext). */
export function encryptSecret(key: Buffer, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const body = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
  return `v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64")}`;
}

export function decryptSecret(key: Buffer, stored: string): string {
  if (!stored.startsWith("v1:")) throw new Error("unknown webhook secret format");
  const raw = Buffer.from(stored.slice(3), "base64");
  const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8");
}
