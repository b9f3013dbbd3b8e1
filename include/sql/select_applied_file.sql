-- Has a completion file with this content (SHA-256) been applied already?
SELECT
    ContentHash AS content_hash,
    FileName AS file_name,
    AppliedAt AS applied_at,
    RunId AS run_id,
    RowsRead AS rows_read,
    ErrorsCsv AS errors_csv,
    MovedTo AS moved_to
FROM MoodleSyncAppliedFile
WHERE ContentHash = @ContentHash;
