-- Has a completion file with this content (SHA-256) been applied already? How, when, and with
-- which conflicts and refused rows (restated whenever the content is seen again).
SELECT
    ContentHash AS content_hash,
    FileName AS file_name,
    AppliedAt AS applied_at,
    DagId AS dag_id,
    RunId AS run_id,
    RowsRead AS rows_read,
    RowsWritten AS rows_written,
    RowsSkipped AS rows_skipped,
    RowsRejected AS rows_rejected,
    ErrorsCsv AS errors_csv,
    MovedTo AS moved_to,
    Anomalies AS anomalies
FROM MoodleSyncAppliedFile
WHERE ContentHash = @ContentHash;
