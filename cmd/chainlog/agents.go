package main

import (
	"path"
	"path/filepath"
	"strings"

	"chainlog/agentsrc"
	"chainlog/watch"
)

// agentFolder is one agent's transcript folder: the flag that names it,
// its default under the home directory, and which files in it are
// transcripts (paths relative to it, slash-separated).
type agentFolder struct {
	flag   string // watch's flag; serve's is watch-FLAG
	def    string // relative to $HOME
	format agentsrc.Format
	match  func(rel string) bool
}

var agentFolders = []agentFolder{
	// ~/.claude/projects/<slug>/<session>.jsonl, and the subagents'
	// files below a session's folder.
	{"claude-code", ".claude/projects", agentsrc.ClaudeCode, func(rel string) bool {
		return strings.HasSuffix(rel, ".jsonl")
	}},
	// ~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl
	{"codex", ".codex/sessions", agentsrc.Codex, func(rel string) bool {
		b := path.Base(rel)
		return strings.HasPrefix(b, "rollout-") && strings.HasSuffix(b, ".jsonl")
	}},
	// ~/.openclaw/agents/<agent>/sessions/<session>.jsonl
	{"openclaw", ".openclaw/agents", agentsrc.OpenClaw, func(rel string) bool {
		return path.Base(path.Dir(rel)) == "sessions" && strings.HasSuffix(rel, ".jsonl")
	}},
}

// folder is the watch.Folder of a at dir, its events given nodeID. The
// directory is made absolute, and a symbolic link to it resolved, so that
// the cursors' paths name the same files from wherever the command runs.
func (a agentFolder) folder(dir, nodeID string) watch.Folder {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	m := &agentsrc.Mapper{NodeID: nodeID}
	return watch.Folder{
		Source: a.format.String(), Dir: dir, Match: a.match,
		NewParser: func(p string) watch.Parser { return agentsrc.NewTranscript(a.format, p, m) },
	}
}
