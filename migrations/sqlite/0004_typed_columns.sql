-- PostgreSQL's migration 0004 gives ids and instants native types (uuid, timestamptz). SQLite keeps
-- them as they are (UUIDv7 text, Unix milliseconds); the store's typed values read and write both.
-- This migration exists so both engines stand at the same version, which `rampart migrate-data` checks.
SELECT 1;
