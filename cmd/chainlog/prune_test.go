package main

import (
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// TestSignerVerifier: the verifier derived from a signer key opens what
// the key signs, and is the verifier note.GenerateKey gave with it.
func TestSignerVerifier(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "example.com/log")
	if err != nil {
		t.Fatal(err)
	}
	v, err := signerVerifier(skey)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := note.NewVerifier(vkey)
	if v.Name() != want.Name() || v.KeyHash() != want.KeyHash() {
		t.Fatalf("verifier %s %08x; want %s %08x", v.Name(), v.KeyHash(), want.Name(), want.KeyHash())
	}
	s, _ := note.NewSigner(skey)
	msg, err := note.Sign(&note.Note{Text: "hello\n"}, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
		t.Fatalf("the derived verifier does not open a signed note: %v", err)
	}
	_, other, _ := note.GenerateKey(rand.Reader, "example.com/log")
	if ov, _ := note.NewVerifier(other); ov.KeyHash() == v.KeyHash() {
		t.Fatalf("two keys, one hash")
	}
	for _, bad := range []string{"", vkey, "PRIVATE+KEY+a+b", strings.Replace(skey, "+A", "+B", 1)[:len(skey)-4]} {
		if _, err := signerVerifier(bad); err == nil {
			t.Errorf("signerVerifier(%q) accepted it", bad)
		}
	}
}

// TestServeRetainFlags: the retention flags are checked before anything
// is opened.
func TestServeRetainFlags(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "s.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--retain", "30d"}, "--retain needs --retain-archive DIR, or --retain-no-archive"},
		{[]string{"--retain", "x"}, `--retain: "x" is not an age`},
		{[]string{"--retain", "30d", "--retain-no-archive", "--retain-archive", dir}, "not both"},
		{[]string{"--retain-no-archive"}, "need --retain AGE"},
		{[]string{"--retain", "30d", "--retain-no-archive", "--retain-every", "0s"}, "--retain-every 0s: want a value above zero"},
	} {
		r := runCLI(t, nil, "", append([]string{"serve", "--store", store}, tc.args...)...)
		if r.code != exitError || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("serve %q: exit %d, %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// TestServeRetain: the daemon prunes what its policy says, on its
// schedule, and the store verifies with its checkpoints.
func TestServeRetain(t *testing.T) {
	t.Parallel()
	bin := chainlogBinary(t)
	dir := t.TempDir()
	store := filepath.Join(dir, "r.db")
	skey, vkey := makeSignerKey(t, bin, dir)
	env := serveEnv(t, "CHAINLOG_SIGNER_KEY="+skey)
	d := startDaemon(t, bin, env, "", "--store", store, "--listen", "127.0.0.1:0", "--node-id", "n1",
		"--retain", "30d", "--retain-every", "50ms", "--retain-no-archive", "--checkpoint-interval", "20ms")
	p := newPoster(d.url, "")
	old, young := time.Now().AddDate(0, 0, -40).UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339)
	var lines []string
	for i, ts := range []string{old, old, old, young} {
		lines = append(lines, `{"id":"r`+string(rune('1'+i))+`","event_type":"tool_call","ts":"`+ts+`"}`)
	}
	if a, err := p.post(t.Context(), lines, false); err != nil || a.status != 200 {
		t.Fatalf("post: %+v, %v", a, err)
	}
	p.close()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(d.log.String(), "retention: pruned") {
		if time.Now().After(deadline) {
			t.Fatalf("no prune in 20s:\n%s", d.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.stop()
	rep := requireValid(t, bin, env, store, "--checkpoint", store+".checkpoints", "--key", vkey)
	if rep.Pruned != 3 || len(rep.Prunes) != 1 || rep.Prunes[0].Reason != "retention: policy 30d" || rep.Prunes[0].Actor != "chainlog serve" {
		t.Fatalf("pruned %d, records %+v; want the 3 old events, by the policy", rep.Pruned, rep.Prunes)
	}
	for _, nr := range rep.Nodes {
		if nr.NodeID == "n1" && (nr.Pruned != 3 || nr.Checked != 1) {
			t.Errorf("n1: %d pruned, %d checked; want 3 and the young event", nr.Pruned, nr.Checked)
		}
	}
}
