-- The events table's three hashes become 32-byte blobs, half the bytes of
-- their 64-character hex text (see hashcol.go). Only text that is a hash's
-- lowercase hex is converted: any other value, which matches no hash the
-- verifier computes, is kept as it is, so that verification still reports
-- it. The columns keep their names and declared types; lower(hex(x)) shows
-- a blob as hex. The space the shorter rows free is reused by later rows,
-- or returned to the file system by VACUUM.
UPDATE events SET
    chain_prev_hash = CASE WHEN typeof(chain_prev_hash) = 'text' AND length(chain_prev_hash) = 64
            AND NOT chain_prev_hash GLOB '*[^0-9a-f]*'
        THEN unhex(chain_prev_hash) ELSE chain_prev_hash END,
    chain_hash = CASE WHEN typeof(chain_hash) = 'text' AND length(chain_hash) = 64
            AND NOT chain_hash GLOB '*[^0-9a-f]*'
        THEN unhex(chain_hash) ELSE chain_hash END,
    payload_digest = CASE WHEN typeof(payload_digest) = 'text' AND length(payload_digest) = 64
            AND NOT payload_digest GLOB '*[^0-9a-f]*'
        THEN unhex(payload_digest) ELSE payload_digest END
WHERE typeof(chain_prev_hash) = 'text' OR typeof(chain_hash) = 'text' OR typeof(payload_digest) = 'text';
