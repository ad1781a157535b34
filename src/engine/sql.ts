// Every statement the engine runs, named, in one place. Lowercase SQL, parameterised.
//
// Fencing: every write a worker makes for a job carries `id = $1 and attempts = $2 and
// status = 'RUNNING'`. A worker whose lease was reclaimed, or whose job was cancelled,
// matches no row and so can change nothing.
//
// Events: state-changing statements insert their `job_events` rows in the same statement
// (data-modifying CTEs), so a job never changes without its history saying so, and the
// event trigger's NOTIFY is sent at that commit.
//
// Birth: every job row is inserted by the SQL function spool_insert_job (with its QUEUED
// event), through enqueue() (engine/enqueue.ts), with one named exception: the webhook
// outbox, plpgsql spool_webhook_publish, calls the same function from inside Postgres for
// the webhook.deliver jobs of each message.

const TERMINAL = `('SUCCEEDED','FAILED','CANCELLED')`;

/**
 * A RETURNING item for statements that may end a job: when the row's new status is
 * terminal, the transaction's commit waits for the WAL flush. The engine pool commits with
 * synchronous_commit = off, and Postgres sends a transaction's NOTIFYs (and lets others
 * read its rows) as soon as the commit is in memory, before it is on disk: a Postgres crash
 * then erased SUCCEEDED events that subscribers and webhook receivers had been told of, and
 * the job ran again. A flushed commit becomes visible, and is notified, only after the
 * flush, and it flushes every earlier commit with it, so the job's history up to its end is
 * on disk too (test/pubsub/postgres-crash.test.ts). Progress, stages and claims stay
 * unflushed: the hot path, and redone if lost.
 */
const flushIfTerminal = (status: string) =>
  `case when ${status} in ${TERMINAL} then set_config('synchronous_commit', 'on', true) end as flushed`;

/**
 * The one door to the jobs table: spool_insert_job (migration 20261203130000_one_job_insert)
 * inserts the row and its QUEUED event together. enqueue() calls it through this statement;
 * the one other caller is the webhook outbox (plpgsql spool_webhook_publish, run by the
 * job-event trigger at commit), which births webhook.deliver jobs inside Postgres.
 * $1 org, $2 type, $3 input jsonb, $4 priority, $5 max_attempts, $6 run_at (null = now),
 * $7 idempotency_key, $8 metadata jsonb, $9 parent_id
 */
export const insertJob = `
select * from spool_insert_job($1, $2, $3::jsonb, $4::job_priority, $5, $6::timestamptz, $7, $8::jsonb, $9)`;

/** $1 org, $2 idempotency key */
export const selectByIdempotencyKey = `
select * from jobs where organization_id = $1 and idempotency_key = $2`;

/**
 * The claim's CTEs, shared by `claim` and `completeAndClaim` so there is one definition of
 * what claiming is: the next QUEUED jobs whose time has come, highest priority first, then
 * oldest run_at; rows other workers hold are skipped, not waited for. They become RUNNING
 * with a new attempt and a lease, with a STATUS event each (CTE `claimed`).
 */
function claimCtes(p: { worker: string; limit: string; leaseMs: string; types: string; except?: string }): string {
  return `next as (
  select id from jobs
  where status = 'QUEUED' and run_at <= now() and type = any(${p.types}::text[])${p.except ? ` and id <> ${p.except}` : ""}
  order by priority desc, run_at, id
  limit ${p.limit}
  for update skip locked
), claimed as (
  update jobs set status = 'RUNNING', attempts = jobs.attempts + 1,
    lease_expires_at = now() + make_interval(secs => ${p.leaseMs}::float8 / 1000), locked_by = ${p.worker},
    started_at = coalesce(jobs.started_at, now()), updated_at = now(), error = null
  from next where jobs.id = next.id
  returning jobs.*
), claimed_events as (
  insert into job_events (organization_id, job_id, kind, data)
  select organization_id, id, 'STATUS', jsonb_build_object('status', 'RUNNING', 'attempt', attempts) from claimed
)`;
}

/** claim: $1 worker id, $2 limit, $3 lease ms, $4 runnable types text[] */
export const claim = `
with ${claimCtes({ worker: "$1", limit: "$2", leaseMs: "$3", types: "$4" })}
select * from claimed order by priority desc, run_at, id`;

/** heartbeat: renew the leases this worker still holds; returns the ids still held. $1 ids, $2 attempts, $3 lease ms */
export const heartbeat = `
update jobs set lease_expires_at = now() + make_interval(secs => $3::float8 / 1000)
from unnest($1::uuid[], $2::int[]) as held(id, attempt)
where jobs.id = held.id and jobs.attempts = held.attempt and jobs.status = 'RUNNING'
returning jobs.id`;

/** progress (fenced): $1 id, $2 attempt, $3 progress, $4 jsonb details (fps, speed, etaSeconds) or null */
export const progress = `
with j as (
  update jobs set progress = $3, updated_at = now()
  where id = $1 and attempts = $2 and status = 'RUNNING'
  returning id, organization_id
)
insert into job_events (organization_id, job_id, kind, data)
select organization_id, id, 'PROGRESS', jsonb_build_object('progress', $3::float8, 'attempt', $2::int) || coalesce($4::jsonb, '{}') from j
returning job_id`;

/** stage (fenced): $1 id, $2 attempt, $3 stage */
export const stage = `
with j as (
  update jobs set stage = $3, updated_at = now()
  where id = $1 and attempts = $2 and status = 'RUNNING'
  returning id, organization_id
)
insert into job_events (organization_id, job_id, kind, data)
select organization_id, id, 'STAGE', jsonb_build_object('stage', $3::text, 'attempt', $2::int) from j
returning job_id`;

/** log lines (fenced): $1 id, $2 attempt, $3 jsonb array of {level, message} */
export const logLines = `
insert into job_events (organization_id, job_id, kind, data)
select j.organization_id, j.id, 'LOG', line || jsonb_build_object('attempt', $2::int)
from jobs j, jsonb_array_elements($3::jsonb) as line
where j.id = $1 and j.attempts = $2 and j.status = 'RUNNING'
returning job_id`;

/** complete (fenced): $1 id, $2 attempt, $3 result jsonb */
export const complete = `
with j as (
  update jobs set status = 'SUCCEEDED', result = $3::jsonb, progress = 1, finished_at = now(),
    updated_at = now(), lease_expires_at = null, locked_by = null
  where id = $1 and attempts = $2 and status = 'RUNNING'
  returning *, ${flushIfTerminal("status")}
), e as (
  insert into job_events (organization_id, job_id, kind, data)
  select organization_id, id, 'STATUS', jsonb_build_object('status', 'SUCCEEDED', 'attempt', attempts) from j
)
select id from j`;

/**
 * complete-and-claim: completes a job (fenced, as `complete`) and, in the same statement,
 * claims up to $5 more jobs as `claim` does. A worker whose job just finished takes its
 * next one in one round trip and one commit instead of two (bench:engine: ~1.7x drain).
 * Returns one row per claimed job, or one row of nulls; `completed` says whether the fence
 * held. $1 id, $2 attempt, $3 result jsonb, $4 worker id, $5 limit, $6 lease ms, $7 types text[]
 */
export const completeAndClaim = `
with done as (
  update jobs set status = 'SUCCEEDED', result = $3::jsonb, progress = 1, finished_at = now(),
    updated_at = now(), lease_expires_at = null, locked_by = null
  where id = $1 and attempts = $2 and status = 'RUNNING'
  returning id, organization_id, attempts, ${flushIfTerminal("status")}
), done_event as (
  insert into job_events (organization_id, job_id, kind, data)
  select organization_id, id, 'STATUS', jsonb_build_object('status', 'SUCCEEDED', 'attempt', attempts) from done
), ${claimCtes({ worker: "$4", limit: "$5", leaseMs: "$6", types: "$7", except: "$1" })}
select (select count(*) from done)::int as completed, claimed.* from (select 1) as one left join claimed on true`;

/**
 * fail (fenced): back to QUEUED after $5 ms when attempts are left and the error is
 * retryable, else FAILED for good. $1 id, $2 attempt, $3 error jsonb, $4 permanent, $5 delay ms
 */
export const fail = `
with j as (
  update jobs set
    status = case when $4::boolean or attempts >= max_attempts then 'FAILED'::job_status else 'QUEUED'::job_status end,
    run_at = case when $4::boolean or attempts >= max_attempts then run_at else now() + make_interval(secs => $5::float8 / 1000) end,
    finished_at = case when $4::boolean or attempts >= max_attempts then now() end,
    error = $3::jsonb, updated_at = now(), lease_expires_at = null, locked_by = null
  where id = $1 and attempts = $2 and status = 'RUNNING'
  returning *, ${flushIfTerminal("status")}
), e as (
  insert into job_events (organization_id, job_id, kind, data)
  select organization_id, id, 'STATUS', jsonb_build_object('status', status, 'attempt', attempts, 'error', error)
    || case when status = 'QUEUED' then jsonb_build_object('retryAt', run_at) else '{}'::jsonb end
  from j
)
select id from j`;

/**
 * release (fenced): give a job back after a graceful shutdown aborted it. It keeps its
 * run_at, so it runs again at once and ahead of the jobs queued after it. The attempt is
 * not charged: `attempts` keeps counting (the next claim must get a new fencing token, as
 * the released worker may still be winding down), so the budget grows by one instead, as
 * `retry` does. $1 id, $2 attempt
 */
export const release = `
with j as (
  update jobs set status = 'QUEUED', max_attempts = max_attempts + 1, updated_at = now(), lease_expires_at = null, locked_by = null
  where id = $1 and attempts = $2 and status = 'RUNNING'
  returning *
), e as (
  insert into job_events (organization_id, job_id, kind, data)
  select organization_id, id, 'STATUS', jsonb_build_object('status', 'QUEUED', 'attempt', attempts, 'reason', 'released at shutdown') from j
)
select id from j`;

/**
 * reclaim-expired: jobs whose worker stopped renewing its lease (crashed, frozen, cut
 * off) go back to QUEUED, or fail with WORKER_LOST when that was their last attempt.
 * A reclaimed job keeps its run_at, and so its place: it was claimed before every job
 * queued since, and a crash must not send it behind them (with `run_at = now()` it waited
 * behind hundreds of queued jobs under worker churn: kill → running again up to 60 s).
 * $1 limit
 */
export const reclaimExpired = `
with expired as (
  select id from jobs
  where status = 'RUNNING' and lease_expires_at < now()
  order by lease_expires_at
  limit $1
  for update skip locked
), j as (
  update jobs set
    status = case when jobs.attempts >= jobs.max_attempts then 'FAILED'::job_status else 'QUEUED'::job_status end,
    finished_at = case when jobs.attempts >= jobs.max_attempts then now() end,
    error = jsonb_build_object('code', 'WORKER_LOST', 'message',
      'The worker running attempt ' || jobs.attempts || ' stopped renewing its lease (crashed or frozen).'),
    updated_at = now(), lease_expires_at = null, locked_by = null
  from expired where jobs.id = expired.id
  returning jobs.*, ${flushIfTerminal("jobs.status")}
), e as (
  insert into job_events (organization_id, job_id, kind, data)
  select organization_id, id, 'STATUS', jsonb_build_object('status', status, 'attempt', attempts, 'error', error) from j
)
select * from j`;

/**
 * cancel: a QUEUED or RUNNING job ends CANCELLED at once; a RUNNING job's worker is told
 * on `spool_cancel` and aborts, and its fenced writes can no longer change the job.
 * Children of a cancelled batch are cancelled with it. $1 org, $2 id
 */
export const cancel = `
with target as (
  select id, status as old_status from jobs where organization_id = $1 and (id = $2 or parent_id = $2)
    and status in ('QUEUED','RUNNING')
  for update
), j as (
  update jobs set status = 'CANCELLED', finished_at = now(), updated_at = now(), lease_expires_at = null, locked_by = null
  from target where jobs.id = target.id
  returning jobs.*, target.old_status, ${flushIfTerminal("jobs.status")}
), e as (
  insert into job_events (organization_id, job_id, kind, data)
  select organization_id, id, 'STATUS', jsonb_build_object('status', 'CANCELLED', 'attempt', attempts) from j
), n as (
  select pg_notify('spool_cancel', id::text) from j where old_status = 'RUNNING'
)
select j.*, (select count(*) from n)::int as notified from j`;

/**
 * retry: a FAILED or CANCELLED job (and, for a batch, its FAILED or CANCELLED children)
 * runs again with $3 more attempts. `attempts` keeps counting up (it is the fencing
 * token), so the budget grows instead. $1 org, $2 id, $3 extra attempts
 */
export const retry = `
with target as (
  select id from jobs where organization_id = $1 and (id = $2 or parent_id = $2)
    and status in ('FAILED','CANCELLED')
  for update
), j as (
  update jobs set status = 'QUEUED', run_at = now(), finished_at = null, error = null, result = null,
    max_attempts = jobs.attempts + $3::int, updated_at = now()
  from target where jobs.id = target.id
  returning jobs.*
), e as (
  insert into job_events (organization_id, job_id, kind, data)
  select organization_id, id, 'STATUS', jsonb_build_object('status', 'QUEUED', 'attempt', attempts, 'reason', 'retried') from j
)
select * from j`;

/** lock a batch parent that is not finished yet; returns its status and progress. $1 id */
export const lockParent = `
select id, organization_id, status, progress from jobs where id = $1 and status in ('QUEUED','RUNNING') for update`;

/** children counts by status and mean progress (finished children count as 1). $1 parent id */
export const childrenSummary = `
select count(*)::int as total,
  count(*) filter (where status = 'QUEUED')::int as queued,
  count(*) filter (where status = 'SUCCEEDED')::int as succeeded,
  count(*) filter (where status = 'FAILED')::int as failed,
  count(*) filter (where status = 'CANCELLED')::int as cancelled,
  coalesce(avg(case when status in ${TERMINAL} then 1 else progress end), 0)::float8 as progress
from jobs where parent_id = $1`;

/** set a batch parent's derived state, with a STATUS event when it changed. $1 id, $2 status, $3 progress, $4 error jsonb, $5 status changed */
export const updateParent = `
with j as (
  update jobs set status = $2::job_status, progress = $3, error = $4::jsonb, updated_at = now(),
    started_at = case when $2::job_status <> 'QUEUED' then coalesce(started_at, now()) end,
    finished_at = case when $2::job_status in ${TERMINAL} then now() end
  where id = $1
  returning *, ${flushIfTerminal("status")}
), e as (
  insert into job_events (organization_id, job_id, kind, data)
  select organization_id, id, case when $5::boolean then 'STATUS'::job_event_kind else 'PROGRESS'::job_event_kind end,
    case when $5::boolean then jsonb_build_object('status', status, 'progress', progress)
      else jsonb_build_object('progress', progress) end
  from j
)
select * from j`;

/** unfinished batch parents whose children are all finished: repaired by the sweeper. $1 limit */
export const staleParents = `
select p.id from jobs p
where p.type = 'batch' and p.status in ('QUEUED','RUNNING')
  and not exists (select 1 from jobs c where c.parent_id = p.id and c.status not in ${TERMINAL})
limit $1`;

/** cleanup: count what a cleanup would delete. $1 org, $2 cutoff, $3 job id to spare */
export const cleanupCount = `
with doomed as (
  select id from jobs
  where organization_id = $1 and parent_id is null and finished_at < $2 and status in ${TERMINAL} and id <> $3
)
select
  (select count(*) from doomed)::int + (select count(*) from jobs c where c.parent_id in (select id from doomed))::int as jobs,
  (select count(*) from job_events e where e.job_id in (select id from doomed)
     or e.job_id in (select c.id from jobs c where c.parent_id in (select id from doomed)))::int as events`;

/** cleanup: delete one batch of finished top-level jobs (children and events cascade). $1 org, $2 cutoff, $3 spare id, $4 batch size */
export const cleanupBatch = `
with doomed as (
  select id from jobs
  where organization_id = $1 and parent_id is null and finished_at < $2 and status in ${TERMINAL} and id <> $3
  order by finished_at
  limit $4
  for update skip locked
), counts as (
  select
    (select count(*) from jobs c where c.parent_id in (select id from doomed))::int as children,
    (select count(*) from job_events e where e.job_id in (select id from doomed)
       or e.job_id in (select c.id from jobs c where c.parent_id in (select id from doomed)))::int as events
), d as (
  delete from jobs where id in (select id from doomed) returning id
)
select (select count(*) from d)::int as deleted, counts.children, counts.events from counts`;

/** reopen a finished batch parent when one of its children is retried. $1 parent id */
export const reopenParent = `
with j as (
  update jobs set status = 'RUNNING', finished_at = null, error = null, updated_at = now()
  where id = $1 and status in ('FAILED','CANCELLED')
  returning *
)
insert into job_events (organization_id, job_id, kind, data)
select organization_id, id, 'STATUS', jsonb_build_object('status', 'RUNNING', 'reason', 'child retried') from j`;
