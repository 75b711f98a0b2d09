package chainlog

// EventFilter selects stored events for a page of a store's Events. Empty
// fields do not filter. Since and Until compare ts as text (inclusive
// since, exclusive until), which orders RFC 3339 timestamps of one format
// chronologically.
type EventFilter struct {
	NodeID, SessionID, AgentID, EventType string
	Since, Until                          string
	After                                 int64 // keyset cursor: return rows after this one
	// Upto, when above zero, bounds the rows read to those up to this
	// cursor: a page over a window of the store, which reads at most
	// Upto-After rows however few of them match.
	Upto int64
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

// CostDay is what one day's events of one model and one agent cost: the
// day is the first ten characters of their ts (YYYY-MM-DD for RFC 3339),
// Model is "" for events without one.
type CostDay struct {
	Day     string
	Model   string
	AgentID string
	CostUSD float64
	Tokens  int64
	Events  int64
}
