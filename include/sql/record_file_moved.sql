-- Note where a file taken from the inbox was moved (its errors file sits beside it). The applied
-- ledger keeps the first place its content was filed; a repeat delivery does not change it.
UPDATE MoodleSyncInboxFile
SET MovedTo = @MovedTo
WHERE RunId = @RunId AND FileName = @FileName;

UPDATE MoodleSyncAppliedFile
SET MovedTo = @MovedTo
WHERE ContentHash = @ContentHash AND MovedTo IS NULL;
