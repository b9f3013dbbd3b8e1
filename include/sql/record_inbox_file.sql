-- Note what became of a file taken from the inbox in this run (Outcome: applied, repeat or
-- rejected) and the name reserved for it in processed/ or rejected/, before it is moved there.
-- A retry of the same run updates its row.
UPDATE MoodleSyncInboxFile
SET ContentHash = @ContentHash,
    Outcome = @Outcome,
    Reason = @Reason,
    MoveTarget = @MoveTarget,
    HandledAt = @HandledAt
WHERE RunId = @RunId AND FileName = @FileName;

INSERT INTO MoodleSyncInboxFile (RunId, FileName, DagId, ContentHash, Outcome, Reason, MoveTarget, MovedTo, HandledAt)
SELECT @RunId, @FileName, @DagId, @ContentHash, @Outcome, @Reason, @MoveTarget, NULL, @HandledAt
WHERE NOT EXISTS (SELECT 1 FROM MoodleSyncInboxFile WHERE RunId = @RunId AND FileName = @FileName);
