-- What this run did with a file earlier (a cleared task re-running after its file left the inbox).
SELECT
    ContentHash AS content_hash,
    Outcome AS outcome,
    Reason AS reason,
    MoveTarget AS move_target,
    MovedTo AS moved_to,
    HandledAt AS handled_at
FROM MoodleSyncInboxFile
WHERE RunId = @RunId AND FileName = @FileName;
