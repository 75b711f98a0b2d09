package chainlog

// EventFilter selects stored events for a page of a store's Events. Empty
// fields do not filter. Since and Until compare ts as text (inclusive
// since, exclusive until), which orders RFC 3339 timestamps of one format
// chronologically.
type EventFilter struct {
	NodeID, SessionID, AgentID, EventType string
	Since, Until                          string
	After                                 int64 // keyset cursor: return rows after this one
	// Limit bounds the page's events; zero or above MaxQueryLimit means
	// MaxQueryLimit.
	Limit int
	// MaxBytes, when above zero, also ends a page once its events hold
	// that many bytes (their data and text columns); a page holds at least
	// one event.
	MaxBytes int64
}

// MaxQueryLimit bounds one page of events.
const MaxQueryLimit = 1000
