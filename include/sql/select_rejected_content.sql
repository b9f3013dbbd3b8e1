-- Was this content (SHA-256) rejected before? The first rejection's reason is the one given again.
SELECT
    FileName AS file_name,
    RunId AS run_id,
    Reason AS reason,
    HandledAt AS handled_at
FROM MoodleSyncInboxFile
WHERE ContentHash = @ContentHash AND Outcome = 'rejected'
ORDER BY HandledAt, RunId;
