package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"
)

// serverTLSFlags are serve's TLS flags.
type serverTLSFlags struct {
	cert, key, clientCA string
}

func (f *serverTLSFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.cert, "tls-cert", "", "serve HTTPS with this certificate `file` (PEM, with its chain); needs --tls-key")
	fs.StringVar(&f.key, "tls-key", "", "the `file` of --tls-cert's private key (PEM)")
	fs.StringVar(&f.clientCA, "client-ca", "", "require client certificates issued by the CAs in this `file` (PEM): mutual TLS; needs --tls-cert")
}

// check validates the flags' combination.
func (f *serverTLSFlags) check() error {
	switch {
	case (f.cert == "") != (f.key == ""):
		return errors.New("--tls-cert and --tls-key go together")
	case f.clientCA != "" && f.cert == "":
		return errors.New("--client-ca needs --tls-cert and --tls-key: client certificates are checked in the TLS handshake")
	}
	return nil
}

// config loads the files into a TLS configuration; nil without --tls-cert.
func (f *serverTLSFlags) config() (*tls.Config, error) {
	if f.cert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", f.cert, f.key, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if f.clientCA != "" {
		pool, err := loadCAs("--client-ca", f.clientCA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// loadCAs reads a PEM file of CA certificates.
func loadCAs(flagName, path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", flagName, path)
	}
	return pool, nil
}

// clientTLSFlags are the TLS flags of a command that talks to a daemon
// (--server).
type clientTLSFlags struct {
	ca, cert, key string
	names         [3]string // the flags' names: CA, certificate, key
}

func (f *clientTLSFlags) register(fs *flag.FlagSet) {
	f.registerAs(fs, [3]string{"ca", "client-cert", "client-key"}, "the daemon")
}

// registerAs registers the flags under names, for a peer called peer.
func (f *clientTLSFlags) registerAs(fs *flag.FlagSet, names [3]string, peer string) {
	f.names = names
	fs.StringVar(&f.ca, names[0], "", "trust "+peer+"'s certificate only if one of the CAs in this `file` (PEM) issued it (default: the system's CAs)")
	fs.StringVar(&f.cert, names[1], "", "present this client certificate `file` (PEM) to "+peer+", when it requires one (serve --client-ca); needs --"+names[2])
	fs.StringVar(&f.key, names[2], "", "the `file` of --"+names[1]+"'s private key (PEM)")
}

// client returns an HTTP client with the flags' TLS settings.
func (f *clientTLSFlags) client(timeout time.Duration) (*http.Client, error) {
	if (f.cert == "") != (f.key == "") {
		return nil, fmt.Errorf("--%s and --%s go together", f.names[1], f.names[2])
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.ca != "" {
		pool, err := loadCAs("--"+f.names[0], f.ca)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if f.cert != "" {
		cert, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("--%s %s, --%s %s: %w", f.names[1], f.cert, f.names[2], f.key, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &http.Client{Timeout: timeout, Transport: tr}, nil
}
