-- Note where an applied completion file was moved (its errors file sits beside it).
UPDATE MoodleSyncAppliedFile
SET MovedTo = @MovedTo
WHERE ContentHash = @ContentHash;
