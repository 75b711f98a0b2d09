package watch

import (
	"context"

	"chainlog"
)

// CursorReader reads stored cursors back; a chainlog.Store is one.
type CursorReader interface {
	Cursors(ctx context.Context, source string) ([]chainlog.Cursor, error)
}

// StoreSink commits to a store: events and cursors in one transaction.
type StoreSink struct{ Store chainlog.Store }

// Commit ingests events with cursors.
func (s StoreSink) Commit(ctx context.Context, events []chainlog.Event, cursors ...chainlog.Cursor) (chainlog.IngestResult, error) {
	return s.Store.Ingest(ctx, events, cursors...)
}

// Cursors reads the store's cursors of source.
func (s StoreSink) Cursors(ctx context.Context, source string) ([]chainlog.Cursor, error) {
	return s.Store.Cursors(ctx, source)
}

// Submitter queues events and cursors for one commit and waits for it;
// the daemon's server.Writer is one.
type Submitter interface {
	Submit(ctx context.Context, events []chainlog.Event, cursors ...chainlog.Cursor) (chainlog.IngestResult, error)
}

// SubmitSink commits through a Submitter (the daemon's writer, which
// merges the watcher's batches with the HTTP requests into group commits)
// and reads the cursors from the store behind it.
type SubmitSink struct {
	Writer Submitter
	Cursor CursorReader
}

// Commit submits events with cursors and waits for their commit.
func (s SubmitSink) Commit(ctx context.Context, events []chainlog.Event, cursors ...chainlog.Cursor) (chainlog.IngestResult, error) {
	return s.Writer.Submit(ctx, events, cursors...)
}

// Cursors reads the cursors of source from the store.
func (s SubmitSink) Cursors(ctx context.Context, source string) ([]chainlog.Cursor, error) {
	return s.Cursor.Cursors(ctx, source)
}
