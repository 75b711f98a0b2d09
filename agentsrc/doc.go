// Package agentsrc maps real agent telemetry to chainlog events: OTLP log
// records and spans (Claude Code, Codex CLI and Gemini CLI events, the
// OpenTelemetry GenAI semantic conventions, OpenLLMetry), and the session
// transcripts that Claude Code, Codex and OpenClaw write as JSON lines.
//
// The mapping, field by field, and the id rule are written down in
// docs/sources.md. The key rule is that ids are deterministic: a retried
// export, a transcript read again after a restart, and the same event seen
// both through OTLP and through a transcript all give the same id, so the
// store drops the repeats as duplicates.
//
// Nothing here does I/O but one: a [Transcript] reads its file's
// modification time, once, when a record has no time of its own and no
// earlier record has one either.
package agentsrc
