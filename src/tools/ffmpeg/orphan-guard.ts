// Keeps ffmpeg and ffprobe from outliving the Node process that started them.
//
// ffmpeg ignores SIGPIPE itself (SigIgn has bit 13 set in both the 2018 npm build and
// Debian's 5.1), so when Node is SIGKILLed its stderr writes just fail with EPIPE and it
// keeps encoding until done. Instead, each binary is started through this tiny sh script:
// it keeps our stdin pipe on fd 3 in a background subshell, then execs the binary (same
// pid, so kill() and exit codes are unchanged). Nobody ever writes to that pipe; it reaches
// EOF only when every writer is gone, i.e. when Node closed it after the exit or Node died,
// and then the subshell SIGKILLs the pid. The subshell's own output goes to /dev/null so
// that it never holds our stderr pipe open.
//
// Killing on abort and timeout is the runner's job (run.ts, probe.ts): SIGKILL to that pid.
import { isExecutableFile } from "./binaries.ts";

const WATCHDOG = 'exec 3<&0 </dev/null; ( read -r _ <&3; kill -KILL $$ ) >/dev/null 2>&1 & exec 3<&-; exec "$0" "$@"';
const SH = "/bin/sh";
/** After SIGKILL, how long run.ts and probe.ts wait for the exit event before rejecting anyway. */
export const KILL_SETTLE_MS = 300;

/** The shell the guard needs, or null where there is none (the binary then runs unguarded). Looked up once, by the factory. */
export function findGuardShell(): string | null {
  return isExecutableFile(SH) ? SH : null;
}

/** The command that runs `bin args` under the guard. Its stdin must be a pipe Node holds open. */
export function guarded(sh: string | null, bin: string, args: string[]): { command: string; args: string[] } {
  return sh ? { command: sh, args: ["-c", WATCHDOG, bin, ...args] } : { command: bin, args };
}
