// Every reason a verification gives, in one place. Each is a short, stable
// phrase; a Break's Detail adds the particulars.

package chainlog

// Reasons a chain breaks. Each is a short, stable phrase; a Break's Detail
// adds the particulars.
const (
	ReasonHashMismatch = "chain_hash does not match the recomputed hash: an identity field was altered or the row was forged"
	ReasonPrevMismatch = "chain_prev_hash does not link to the previous row: a row was removed, reordered or forged"
	ReasonSeqGap       = "chain_seq skips: rows were deleted"
	ReasonFork         = "fork: two rows claim the same predecessor"
	ReasonHiddenRow    = "chain_hash is NULL on a stamped row: a row was hidden as pre-chain"
	ReasonNoSeq        = "chain_seq is NULL on a stamped row"
	ReasonHeadMismatch = "chain head disagrees with the node's last row: rows were deleted from the end or the head was rewritten"
	ReasonHeadMissing  = "chain head is missing for a node with stamped rows"
	ReasonHeadOrphan   = "chain head points at rows that do not exist"
)

// Reasons an amendment trail or a payload fails verification.
const (
	ReasonPayloadChanged     = "payload changed outside the amendment trail"
	ReasonAmendHash          = "amendment hash does not match the recomputed hash: the record was edited or forged"
	ReasonAmendPrev          = "amendment prev_hash does not link to the previous record: a record was deleted, reordered or forged"
	ReasonAmendSeq           = "amendment seq skips or repeats: a record was deleted, reordered or forged"
	ReasonAmendBefore        = "amendment digest_before does not match the event's previous payload digest"
	ReasonAmendNoEvent       = "amendment names an event that does not exist"
	ReasonAmendHeadMismatch  = "amendment head disagrees with the last record: records were deleted from the end or the head was rewritten"
	ReasonAmendHeadMissing   = "amendment head is missing while records exist"
	ReasonAmendHeadOrphan    = "amendment head points at records that do not exist"
	ReasonPayloadUnsealedRow = "payload digest is NULL on a row stamped with one"
	ReasonAnchorMismatch     = "an anchor event does not match the amendment record it anchors: the trail was rewritten after it was anchored"
	ReasonAnchorNoRecord     = "an anchor event names an amendment record that does not exist: records were deleted"
	ReasonUnanchored         = "the amendment trail runs past its last anchor event: records were appended outside the amendment path"
	ReasonAnchorMalformed    = "a row on the anchor node is not an anchor event: it was written outside the amendment path"
	ReasonAnchorOrder        = "anchor events do not name increasing amendment seqs: an anchor was forged or reordered"
	ReasonPruneRecord        = "a prune record breaks the prefix rule: only the next run of a chain's seqs, from seq 1, can be pruned"
	ReasonPruneAnchor        = "a prune record's anchor is not the chain hash of the last pruned row: the record claims what the chain does not attest"
	ReasonPrunedContent      = "a row a prune record covers still holds event fields: pruned data was restored or written back"
	ReasonPruneRecords       = "the prune records read first differ from the trail's: the trail was changed while it was read, or its index was rewritten"
)

// Reasons a tree or a checkpoint fails verification.
const (
	ReasonLeafMissing      = "leaf missing: stamped events were deleted or renumbered"
	ReasonTreeHeadMismatch = "the stored tree head does not match the events: the tree or the events were rewritten"
	ReasonTruncated        = "the store has fewer events than the checkpoint: the tail was truncated or the store was rolled back"
	ReasonRootMismatch     = "the store's tree at the checkpoint's size does not have the checkpoint's root: history was rewritten, rolled back to another copy, or events were deleted"
	ReasonEquivocation     = "two checkpoints of the same size have different roots"
	ReasonWrongOrigin      = "the checkpoint names another log"
	ReasonTrailRewritten   = "the amendment trail does not hold the record the checkpoint recorded: amendments were deleted, edited or rewritten"
	ReasonStoredHash       = "a stored tree hash does not match the tree recomputed from the events: the stored tree was rewritten"
)

// Reasons the store as a whole is invalid.
const (
	ReasonDuplicateID   = "an event id is stored on more than one row: the id index lost rows, or a row was copied"
	ReasonStorageClass  = "a column holds a value of a type chainlog never writes: the row was written outside chainlog"
	ReasonInvalidText   = "an identity field is not valid UTF-8: different stored bytes would give the same chain hash"
	ReasonNotLeaf       = "a stamped row is not a leaf of the Merkle tree: it was inserted outside chainlog, and no checkpoint covers it"
	ReasonUnchainedRow  = "a row without chain columns comes after the store's chains began: pre-chain rows are only those written before integrity was on"
	ReasonUnstampedLeaf = "a row without chain columns is a leaf of the Merkle tree: its chain columns were erased"
	ReasonNodeFork      = "fork evidence: the node sent the collector a second history, and is quarantined until an operator resolves it"
	ReasonBadNodeID     = "a forwarded batch's node_id is not one a node may forward"
	ReasonBadData       = "a forwarded event's data is not what a store accepts: a repeated key, a lone surrogate or invalid UTF-8"
)
