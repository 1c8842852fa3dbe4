import type { MigrationInterface, QueryRunner } from 'typeorm';
import { SCHEDULES_CHANNEL } from '../dispatch-channels';

/**
 * Schedules (recurring jobs). A schedule's run is an ordinary job carrying `schedule_id` and
 * `scheduled_for` (its tick): the unique index on the pair is what makes two evaluators of one
 * tick create one job. `next_run_at` is the next tick not evaluated yet (NULL once `endAt` is
 * past); `buffered_for` the tick a `buffer_one` schedule holds while its previous run is active.
 * A trigger notifies SCHEDULES_CHANNEL when a run of a schedule holding a buffered tick reaches a
 * terminal state, so that tick starts right after the run before it, whichever service ended it.
 */
export class Schedules1700000009000 implements MigrationInterface {
  name = 'Schedules1700000009000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE schedules (
        id uuid PRIMARY KEY,
        tenant text NOT NULL,
        name text NOT NULL,
        cron text,
        every_ms bigint CHECK (every_ms > 0),
        timezone text NOT NULL DEFAULT 'UTC',
        job jsonb NOT NULL,
        overlap text NOT NULL CHECK (overlap IN ('skip','buffer_one','allow','cancel_previous')),
        catchup_window_ms bigint NOT NULL CHECK (catchup_window_ms >= 0),
        jitter_ms integer NOT NULL DEFAULT 0 CHECK (jitter_ms >= 0),
        start_at timestamptz(3),
        end_at timestamptz(3),
        paused boolean NOT NULL DEFAULT false,
        note text,
        next_run_at timestamptz(3),
        buffered_for timestamptz(3),
        last_run_at timestamptz(3),
        last_error text,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        CONSTRAINT schedules_name UNIQUE (tenant, name),
        CHECK ((cron IS NULL) <> (every_ms IS NULL))
      )`);
    // The evaluator's wake-up time and its claim of due schedules.
    await q.query(`CREATE INDEX schedules_due ON schedules (next_run_at) WHERE NOT paused`);
    await q.query(
      `CREATE INDEX schedules_buffered ON schedules (buffered_for) WHERE buffered_for IS NOT NULL`,
    );
    await q.query(`CREATE INDEX schedules_list ON schedules (tenant, created_at DESC, id DESC)`);
    await q.query(`ALTER TABLE jobs ADD COLUMN schedule_id uuid, ADD COLUMN scheduled_for timestamptz(3)`);
    // One job per tick; also the index `GET /schedules/{id}/runs` pages (newest tick first).
    await q.query(
      `CREATE UNIQUE INDEX jobs_schedule_tick ON jobs (schedule_id, scheduled_for)
         WHERE schedule_id IS NOT NULL`,
    );
    // The overlap check: a schedule's runs that are not finished.
    await q.query(
      `CREATE INDEX jobs_schedule_active ON jobs (schedule_id)
         WHERE schedule_id IS NOT NULL AND status IN ('scheduled','queued','running','retrying')`,
    );
    await q.query(`
      CREATE FUNCTION switchyard_schedule_run_finished() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        -- Only a schedule holding a tick (buffer_one) waits for its runs to finish.
        IF EXISTS (SELECT 1 FROM schedules WHERE id = NEW.schedule_id AND buffered_for IS NOT NULL) THEN
          PERFORM pg_notify('${SCHEDULES_CHANNEL}', 'finished:' || NEW.schedule_id::text);
        END IF;
        RETURN NULL;
      END $$`);
    // Fires only for schedule runs entering a terminal state; every other update skips it in the
    // WHEN clause, without queueing a trigger event.
    await q.query(`
      CREATE TRIGGER jobs_schedule_run_finished AFTER UPDATE OF status ON jobs
        FOR EACH ROW
        WHEN (NEW.schedule_id IS NOT NULL AND NEW.status IN ('completed','failed','cancelled')
              AND OLD.status IS DISTINCT FROM NEW.status)
        EXECUTE FUNCTION switchyard_schedule_run_finished()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER jobs_schedule_run_finished ON jobs`);
    await q.query(`DROP FUNCTION switchyard_schedule_run_finished()`);
    await q.query(`DROP INDEX jobs_schedule_active`);
    await q.query(`DROP INDEX jobs_schedule_tick`);
    await q.query(`ALTER TABLE jobs DROP COLUMN schedule_id, DROP COLUMN scheduled_for`);
    await q.query(`DROP TABLE schedules`);
  }
}
