package server

// JobsWaiting returns the number of requests in the writer's queue
// channel. Queued counts a request's events just before it is sent there,
// so tests that need a request to be in the queue (to know which commit
// takes it) wait for this.
func (w *Writer) JobsWaiting() int { return len(w.jobs) }
