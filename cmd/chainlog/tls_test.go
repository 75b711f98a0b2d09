package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chainlog/internal/chainlogtest"
)

// TestServeTLS: serve --tls-cert --tls-key --client-ca serves HTTPS and
// takes only clients with a certificate from the CA; ingest --server
// https://... --ca --client-cert --client-key posts through it. With
// client certificates and TLS, a non-loopback address needs no token.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	bin := chainlogBinary(t)
	dir := t.TempDir()
	ca := chainlogtest.NewCA(t, "chainlog test CA")
	caFile := ca.WriteCert(t, dir, "ca")
	srvCert, srvKey := ca.IssueFiles(t, dir, "collector", true)
	cliCert, cliKey := ca.IssueFiles(t, dir, "node-a", false)
	other := chainlogtest.NewCA(t, "another CA")
	otherCert, otherKey := other.IssueFiles(t, dir, "stranger", false)
	store := filepath.Join(dir, "tls.db")
	env := serveEnv(t)

	d := startDaemonNoWait(t, bin, env, "--store", store, "--listen", "0.0.0.0:0", "--node-id", "collector",
		"--tls-cert", srvCert, "--tls-key", srvKey, "--client-ca", caFile)
	var addr string
	select {
	case addr = <-d.log.addr:
	case <-d.exited:
		t.Fatalf("serve exited: %v\n%s", d.err, d.log)
	case <-time.After(30 * time.Second):
		t.Fatalf("not listening in 30s\n%s", d.log)
	}
	_, port, _ := net.SplitHostPort(addr)
	url := "https://127.0.0.1:" + port
	if !strings.Contains(d.log.String(), "tls=true client_certs=true") {
		t.Errorf("the serving line does not say tls=true client_certs=true:\n%s", d.log)
	}

	client := func(certFile, keyFile string) *http.Client {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca.CertPEM)
		cfg := &tls.Config{RootCAs: pool}
		if certFile != "" {
			c, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	}
	get := func(c *http.Client, u string) (int, error) {
		resp, err := c.Get(u)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, err := get(client(cliCert, cliKey), url+"/healthz")
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz with the node's certificate: %d, %v\n%s", code, err, d.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for name, c := range map[string]*http.Client{"no client certificate": client("", ""), "another CA's certificate": client(otherCert, otherKey)} {
		if code, err := get(c, url+"/healthz"); err == nil {
			t.Errorf("%s: %d; want the handshake refused", name, code)
		}
	}
	if code, err := get(&http.Client{Timeout: 10 * time.Second}, "http://127.0.0.1:"+port+"/healthz"); err == nil && code == http.StatusOK {
		t.Errorf("plain HTTP: %d; want no answer from the daemon", code)
	}

	events := writeFile(t, dir, "e.ndjson", `{"id":"t1","node_id":"node-a","event_type":"tool_call","ts":"2026-06-01T00:00:00Z"}`+"\n"+
		`{"id":"t2","node_id":"node-a","event_type":"tool_call","ts":"2026-06-01T00:00:01Z"}`+"\n")
	r := runChainlog(t, bin, env, "ingest", "--server", url, "--ca", caFile, "--client-cert", cliCert, "--client-key", cliKey, events)
	if r.code != 0 || !strings.Contains(r.stdout, "inserted 2") {
		t.Fatalf("ingest over mutual TLS: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ca", caFile}, "certificate required"},
		{[]string{"--client-cert", cliCert, "--client-key", cliKey}, "certificate signed by unknown authority"},
		{[]string{"--ca", caFile, "--client-cert", cliCert}, "--client-cert and --client-key go together"},
		{[]string{"--ca", events, "--client-cert", cliCert, "--client-key", cliKey}, "no PEM certificate"},
	} {
		r := runChainlog(t, bin, env, append(append([]string{"ingest", "--server", url}, tc.args...), events)...)
		if r.code != exitError || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("ingest %q: exit %d\n%s; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	d.stop()
	requireValid(t, bin, env, store)
}

// TestServeTLSFlags: the TLS flags are checked before anything is opened.
func TestServeTLSFlags(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "s.db")
	ca := chainlogtest.NewCA(t, "ca")
	cert, key := ca.IssueFiles(t, dir, "srv", true)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", cert}, "--tls-cert and --tls-key go together"},
		{[]string{"--client-ca", cert}, "--client-ca needs --tls-cert"},
		{[]string{"--tls-cert", key, "--tls-key", key}, "--tls-cert " + key},
		{[]string{"--tls-cert", cert, "--tls-key", key, "--client-ca", filepath.Join(dir, "missing.pem")}, "--client-ca"},
		{[]string{"--listen", "0.0.0.0:0", "--tls-cert", cert, "--tls-key", key}, "set --token"},
		{[]string{"--listen", "0.0.0.0:0", "--client-ca", cert}, "--client-ca needs --tls-cert"},
	} {
		r := runCLI(t, nil, "", append([]string{"serve", "--store", store}, tc.args...)...)
		if r.code != exitError || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("serve %q: exit %d, %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}
