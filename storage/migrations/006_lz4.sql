-- Large values (raw Bundles in the inbound log, big resources) are TOASTed
-- with compression. lz4 costs a fraction of the CPU of the default pglz for a
-- similar ratio on JSON; servers built without lz4 keep pglz.
DO $$
BEGIN
  ALTER TABLE inbound_log ALTER COLUMN body SET COMPRESSION lz4;
  ALTER TABLE resource_version ALTER COLUMN resource SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN -- an optimisation only: never fail the migration for it
  RAISE NOTICE 'lz4 is not available (%): large values stay compressed with pglz', SQLERRM;
END
$$;
