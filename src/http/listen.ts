// Whether the HTTP listener can bind PORT on HOST, asked before anything else starts: a busy
// port found only at the end of start-up would come after the embedded Postgres was
// initialised and the admin key generated and printed, for a server that never ran.
import net from "node:net";
import { SpoolError } from "../errors.ts";

/** A listen() failure said in terms of the settings that fix it; other errors unchanged. */
export function explainListenError(err: unknown, port: number, host: string): unknown {
  const code = (err as { code?: string }).code;
  if (code === "EADDRINUSE") return new SpoolError("PORT_IN_USE", `Port ${port} on ${host} is in use; set PORT to a free port (or stop what listens there).`);
  if (code === "EACCES") return new SpoolError("PORT_FORBIDDEN", `Port ${port} on ${host} needs privileges this user lacks; set PORT to 1024 or above.`);
  if (code === "EADDRNOTAVAIL") {
    return new SpoolError("HOST_UNAVAILABLE", `Cannot listen on ${host}: no network interface of this machine has that address; set HOST (127.0.0.1 for this machine only, 0.0.0.0 for every interface).`);
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return new SpoolError("HOST_UNAVAILABLE", `Cannot listen on ${host}: the name does not resolve; set HOST to an address of this machine.`);
  return err;
}

/** Binds and releases the port at once; throws explainListenError's error when it cannot. */
export async function checkListen(port: number, host: string): Promise<void> {
  // Port 0 ("any free port") is probed too: HOST may still be no address of this machine.
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", (err) => reject(explainListenError(err, port, host)));
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}
