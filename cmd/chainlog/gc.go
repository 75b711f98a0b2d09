package main

import (
	"os"
	"runtime/debug"
)

// streamGCPercent is the GC percent that verify-integrity and ingest run
// with unless GOGC is set. Both stream through many short-lived objects
// (decoded events, a tampered store's rows) while keeping a heap of a few
// MB: with the default of 100 the heap goal stays at its 4 MB floor and
// the collector runs about once per thousand events, which was 8-9% of
// the CPU of ingest's validation pass. With 400 the heap may grow to five
// times the live heap, which is still flat in the number of events.
const streamGCPercent = 400

// streamGC raises the GC percent to streamGCPercent, unless GOGC is set,
// and returns the function that restores it.
func streamGC() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(streamGCPercent)
	return func() { debug.SetGCPercent(old) }
}
