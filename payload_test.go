package chainlog_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"chainlog"
)

// payloadVector is one case of testdata/payload-vectors.json, written by
// testdata/gen_payload_vectors.py, an independent implementation of
// docs/audit-trail.md.
type payloadVector struct {
	Name         string   `json:"name"`
	Data         *string  `json:"data"`
	Cost         *float64 `json:"cost"`      // informative
	CostBits     *string  `json:"cost_bits"` // exact
	TokenCount   *int64   `json:"token_count"`
	Model        *string  `json:"model"`
	Canonical    string   `json:"canonical"`
	CanonicalHex string   `json:"canonical_hex"`
	Digest       string   `json:"digest"`
}

// mutable returns the vector's fields as a Mutable.
func (v *payloadVector) mutable(tb testing.TB) chainlog.Mutable {
	tb.Helper()
	var m chainlog.Mutable
	if v.Data != nil {
		m.Data = json.RawMessage(*v.Data)
	}
	if (v.Cost == nil) != (v.CostBits == nil) {
		tb.Fatalf("%s: cost %v and cost_bits %v disagree on NULL", v.Name, v.Cost, v.CostBits)
	}
	if v.CostBits != nil {
		bits, err := strconv.ParseUint(*v.CostBits, 16, 64)
		if err != nil || len(*v.CostBits) != 16 {
			tb.Fatalf("%s: cost_bits %q: want 16 hex digits (%v)", v.Name, *v.CostBits, err)
		}
		c := math.Float64frombits(bits)
		if c != *v.Cost {
			tb.Fatalf("%s: cost_bits %s is %v, cost says %v", v.Name, *v.CostBits, c, *v.Cost)
		}
		m.CostUSD = &c
	}
	m.TokenCount, m.Model = v.TokenCount, v.Model
	return m
}

func loadPayloadVectors(tb testing.TB) []payloadVector {
	tb.Helper()
	b, err := os.ReadFile("testdata/payload-vectors.json")
	if err != nil {
		tb.Fatal(err)
	}
	var f struct {
		Vectors []payloadVector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Fatalf("payload-vectors.json: %v", err)
	}
	if len(f.Vectors) < 25 {
		tb.Fatalf("payload-vectors.json: got %d vectors, want at least 25", len(f.Vectors))
	}
	return f.Vectors
}

func TestPayloadVectors(t *testing.T) {
	vectors := loadPayloadVectors(t)
	var h chainlog.Hasher // shared by every case, as a verifier shares it
	seen := map[string]string{}
	// Forward then backward, in one process: the encoding must not depend
	// on what was encoded before.
	for _, pass := range []string{"forward", "backward"} {
		for i := range vectors {
			v := &vectors[i]
			if pass == "backward" {
				v = &vectors[len(vectors)-1-i]
			}
			t.Run(pass+"/"+v.Name, func(t *testing.T) {
				want, err := hex.DecodeString(v.CanonicalHex)
				if err != nil {
					t.Fatalf("canonical_hex: %v", err)
				}
				if string(want) != v.Canonical {
					t.Fatalf("vector: canonical_hex and canonical disagree: %q vs %q", want, v.Canonical)
				}
				if sum := sha256.Sum256(want); hex.EncodeToString(sum[:]) != v.Digest {
					t.Fatalf("vector: digest %s is not the SHA-256 of its canonical bytes", v.Digest)
				}
				m := v.mutable(t)

				if got := chainlog.AppendPayload(nil, &m); !bytes.Equal(got, want) {
					t.Errorf("AppendPayload:\n got %q\nwant %q", got, want)
				}
				prefix := []byte("keep|")
				got := chainlog.AppendPayload(prefix, &m)
				if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], want) {
					t.Errorf("AppendPayload after a prefix:\n got %q\nwant %q", got, "keep|"+string(want))
				}
				if got := chainlog.PayloadDigest(&m); got != v.Digest {
					t.Errorf("PayloadDigest: got %s, want %s", got, v.Digest)
				}
				// Dirty the hasher's buffer with a chain hash first.
				h.Sum(chainlog.GenesisHash, &chainlog.Event{ID: v.Name, NodeID: "n", EventType: "t", TS: "ts"})
				if got := h.PayloadSum(&m); got != v.Digest {
					t.Errorf("Hasher.PayloadSum: got %s, want %s", got, v.Digest)
				}
				if other, dup := seen[v.Digest]; dup && other != v.Name {
					t.Errorf("digest %s shared with vector %q", v.Digest, other)
				}
				seen[v.Digest] = v.Name
			})
		}
	}
}

// TestPayloadVectorsDistinct: different payloads never share canonical
// bytes; the vectors include pairs that a naive encoding would confuse.
func TestPayloadVectorsDistinct(t *testing.T) {
	vectors := loadPayloadVectors(t)
	byCanon := map[string]string{}
	for _, v := range vectors {
		m := v.mutable(t)
		key := describeMutable(&m)
		if other, ok := byCanon[v.CanonicalHex]; ok && other != key {
			t.Errorf("vector %q: canonical bytes shared by payloads %s and %s", v.Name, other, key)
		}
		byCanon[v.CanonicalHex] = key
	}
}

func describeMutable(m *chainlog.Mutable) string {
	s := "data=NULL"
	if m.Data != nil {
		s = fmt.Sprintf("data=%q", m.Data)
	}
	if m.CostUSD != nil {
		s += fmt.Sprintf(" cost=%016x", math.Float64bits(*m.CostUSD))
	} else {
		s += " cost=NULL"
	}
	if m.TokenCount != nil {
		s += fmt.Sprintf(" tokens=%d", *m.TokenCount)
	} else {
		s += " tokens=NULL"
	}
	if m.Model != nil {
		s += fmt.Sprintf(" model=%q", *m.Model)
	} else {
		s += " model=NULL"
	}
	return s
}

// TestPayloadDigestDocExample is the worked example of docs/audit-trail.md.
func TestPayloadDigestDocExample(t *testing.T) {
	m := chainlog.Mutable{Data: json.RawMessage(`{"a":1}`), CostUSD: f64p(0.006), TokenCount: i64p(1200)}
	const (
		wantBytes  = "chainlog-payload-v1\n7:{\"a\":1};16:3f789374bc6a7efa;4:1200;N;"
		wantDigest = "ca78a1809bade8f596ddc8fa6df8c2eb92138d4520d77132b7b6cf227937249d"
	)
	// Encode other costs first: the example must come out the same
	// whatever was encoded before it.
	for _, c := range []float64{0, 5e-324, 1, math.MaxFloat64} {
		chainlog.PayloadDigest(&chainlog.Mutable{CostUSD: f64p(c)})
	}
	if got := string(chainlog.AppendPayload(nil, &m)); got != wantBytes {
		t.Errorf("AppendPayload:\n got %q\nwant %q", got, wantBytes)
	}
	if got := chainlog.PayloadDigest(&m); got != wantDigest {
		t.Errorf("PayloadDigest: got %s, want %s", got, wantDigest)
	}
	if got := chainlog.PayloadDigestPrefix; got != "chainlog-payload-v1\n" {
		t.Errorf("PayloadDigestPrefix: got %q, want %q", got, "chainlog-payload-v1\n")
	}
}

// TestPayloadCostEncoding checks the 16-digit bit pattern of costs whose
// patterns start with zero digits, each after one that does not.
func TestPayloadCostEncoding(t *testing.T) {
	tests := []struct {
		name string
		cost float64
		want string
	}{
		{"zero", 0, "0000000000000000"},
		{"smallest subnormal", 5e-324, "0000000000000001"},
		{"subnormal", 1e-310, "000012688b70e62b"},
		{"smallest normal", 0x1p-1022, "0010000000000000"},
		{"0.006", 0.006, "3f789374bc6a7efa"},
		{"one", 1, "3ff0000000000000"},
		{"largest finite", math.MaxFloat64, "7fefffffffffffff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chainlog.AppendPayload(nil, &chainlog.Mutable{CostUSD: f64p(math.MaxFloat64)})
			got := string(chainlog.AppendPayload(nil, &chainlog.Mutable{CostUSD: &tt.cost}))
			want := chainlog.PayloadDigestPrefix + "N;16:" + tt.want + ";N;N;"
			if got != want {
				t.Errorf("AppendPayload(cost %v):\n got %q\nwant %q", tt.cost, got, want)
			}
		})
	}
}

// TestPayloadDigestConcurrent: PayloadDigest is safe for concurrent use
// (run with -race).
func TestPayloadDigestConcurrent(t *testing.T) {
	costs := []float64{0, 0.006, 5e-324, 1, 123456.789}
	want := make([]string, len(costs))
	for i := range costs {
		want[i] = chainlog.PayloadDigest(&chainlog.Mutable{CostUSD: &costs[i]})
	}
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func() {
			var err error
			for n := 0; n < 200; n++ {
				i := (g + n) % len(costs)
				if got := chainlog.PayloadDigest(&chainlog.Mutable{CostUSD: &costs[i]}); got != want[i] && err == nil {
					err = fmt.Errorf("cost %v: got %s, want %s", costs[i], got, want[i])
				}
			}
			done <- err
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestMutableRoundTrip(t *testing.T) {
	m := chainlog.Mutable{Data: json.RawMessage(`[1]`), CostUSD: f64p(1), TokenCount: i64p(2), Model: strp("m")}
	var e chainlog.Event
	e.SetMutable(m)
	if got := e.Mutable(); chainlog.PayloadDigest(&got) != chainlog.PayloadDigest(&m) {
		t.Errorf("Mutable after SetMutable: got %s, want %s", describeMutable(&got), describeMutable(&m))
	}
	e.SetMutable(chainlog.Mutable{})
	if e.Data != nil || e.CostUSD != nil || e.TokenCount != nil || e.Model != nil {
		t.Errorf("SetMutable(zero): got %s, want all NULL", describeMutable(&chainlog.Mutable{Data: e.Data, CostUSD: e.CostUSD, TokenCount: e.TokenCount, Model: e.Model}))
	}
}

func f64p(v float64) *float64 { return &v }
func i64p(v int64) *int64     { return &v }
func strp(s string) *string   { return &s }

func TestPatchApply(t *testing.T) {
	base := func() chainlog.Mutable {
		return chainlog.Mutable{Data: json.RawMessage(`{"a":1}`), CostUSD: f64p(0.5), TokenCount: i64p(10), Model: strp("m")}
	}
	// others holds values a patch carries for fields it does not set.
	others := chainlog.Mutable{Data: json.RawMessage(`{"ignored":true}`), CostUSD: f64p(99), TokenCount: i64p(99), Model: strp("ignored")}
	with := func(edit func(*chainlog.Mutable)) chainlog.Mutable {
		m := base()
		edit(&m)
		return m
	}
	patch := func(values chainlog.Mutable, set ...string) chainlog.Patch {
		return chainlog.Patch{Set: set, Values: values}
	}
	values := func(edit func(*chainlog.Mutable)) chainlog.Mutable {
		m := others
		edit(&m)
		return m
	}
	tests := []struct {
		name     string
		patch    chainlog.Patch
		want     chainlog.Mutable
		errField string // when set, a *FieldError for this field is wanted
		errMsg   string // when set, an error containing this is wanted
	}{
		// One field each.
		{name: "data", patch: patch(values(func(m *chainlog.Mutable) { m.Data = json.RawMessage(`{"b":2}`) }), "data"),
			want: with(func(m *chainlog.Mutable) { m.Data = json.RawMessage(`{"b":2}`) })},
		{name: "cost_usd", patch: patch(values(func(m *chainlog.Mutable) { m.CostUSD = f64p(0.006) }), "cost_usd"),
			want: with(func(m *chainlog.Mutable) { m.CostUSD = f64p(0.006) })},
		{name: "token_count", patch: patch(values(func(m *chainlog.Mutable) { m.TokenCount = i64p(1200) }), "token_count"),
			want: with(func(m *chainlog.Mutable) { m.TokenCount = i64p(1200) })},
		{name: "model", patch: patch(values(func(m *chainlog.Mutable) { m.Model = strp("modèle-😀") }), "model"),
			want: with(func(m *chainlog.Mutable) { m.Model = strp("modèle-😀") })},
		{name: "field constants", patch: patch(values(func(m *chainlog.Mutable) { m.Model = strp("x") }), chainlog.FieldModel),
			want: with(func(m *chainlog.Mutable) { m.Model = strp("x") })},

		// Several fields.
		{name: "all four", patch: patch(chainlog.Mutable{Data: json.RawMessage(`[]`), CostUSD: f64p(1), TokenCount: i64p(2), Model: strp("n")},
			"model", "token_count", "cost_usd", "data"),
			want: chainlog.Mutable{Data: json.RawMessage(`[]`), CostUSD: f64p(1), TokenCount: i64p(2), Model: strp("n")}},
		{name: "cost and tokens, as backfill does", patch: patch(values(func(m *chainlog.Mutable) { m.CostUSD, m.TokenCount = f64p(0.25), i64p(3) }), "cost_usd", "token_count"),
			want: with(func(m *chainlog.Mutable) { m.CostUSD, m.TokenCount = f64p(0.25), i64p(3) })},

		// Clearing to NULL, and values that are not NULL.
		{name: "data cleared", patch: patch(values(func(m *chainlog.Mutable) { m.Data = nil }), "data"),
			want: with(func(m *chainlog.Mutable) { m.Data = nil })},
		{name: "cost cleared", patch: patch(values(func(m *chainlog.Mutable) { m.CostUSD = nil }), "cost_usd"),
			want: with(func(m *chainlog.Mutable) { m.CostUSD = nil })},
		{name: "tokens cleared", patch: patch(values(func(m *chainlog.Mutable) { m.TokenCount = nil }), "token_count"),
			want: with(func(m *chainlog.Mutable) { m.TokenCount = nil })},
		{name: "model cleared", patch: patch(values(func(m *chainlog.Mutable) { m.Model = nil }), "model"),
			want: with(func(m *chainlog.Mutable) { m.Model = nil })},
		{name: "all cleared", patch: patch(chainlog.Mutable{}, "data", "cost_usd", "token_count", "model"),
			want: chainlog.Mutable{}},
		{name: "model empty, not NULL", patch: patch(values(func(m *chainlog.Mutable) { m.Model = strp("") }), "model"),
			want: with(func(m *chainlog.Mutable) { m.Model = strp("") })},
		{name: "data JSON null kept as JSON text, not SQL NULL", patch: patch(values(func(m *chainlog.Mutable) { m.Data = json.RawMessage(`null`) }), "data"),
			want: with(func(m *chainlog.Mutable) { m.Data = json.RawMessage(`null`) })},
		{name: "cost zero", patch: patch(values(func(m *chainlog.Mutable) { m.CostUSD = f64p(0) }), "cost_usd"),
			want: with(func(m *chainlog.Mutable) { m.CostUSD = f64p(0) })},
		// SQLite stores -0.0 as 0: a digest over the sign bit would not
		// survive the round trip.
		{name: "cost negative zero becomes zero", patch: patch(values(func(m *chainlog.Mutable) { m.CostUSD = f64p(math.Copysign(0, -1)) }), "cost_usd"),
			want: with(func(m *chainlog.Mutable) { m.CostUSD = f64p(0) })},
		{name: "cost largest finite", patch: patch(values(func(m *chainlog.Mutable) { m.CostUSD = f64p(math.MaxFloat64) }), "cost_usd"),
			want: with(func(m *chainlog.Mutable) { m.CostUSD = f64p(math.MaxFloat64) })},
		{name: "tokens zero", patch: patch(values(func(m *chainlog.Mutable) { m.TokenCount = i64p(0) }), "token_count"),
			want: with(func(m *chainlog.Mutable) { m.TokenCount = i64p(0) })},
		{name: "tokens int64 max", patch: patch(values(func(m *chainlog.Mutable) { m.TokenCount = i64p(math.MaxInt64) }), "token_count"),
			want: with(func(m *chainlog.Mutable) { m.TokenCount = i64p(math.MaxInt64) })},

		// Data is stored compact.
		{name: "data compacted", patch: patch(values(func(m *chainlog.Mutable) {
			m.Data = json.RawMessage(" {\n\t\"b\" : [ 1 , 2 ],\r\n \"c\" : \"x y\" } \n")
		}), "data"),
			want: with(func(m *chainlog.Mutable) { m.Data = json.RawMessage(`{"b":[1,2],"c":"x y"}`) })},
		{name: "data compaction keeps escapes and raw UTF-8", patch: patch(values(func(m *chainlog.Mutable) {
			m.Data = json.RawMessage(`{ "s" : "\u00e9 é <>& \n \/" }`)
		}), "data"),
			want: with(func(m *chainlog.Mutable) { m.Data = json.RawMessage(`{"s":"\u00e9 é <>& \n \/"}`) })},
		{name: "data scalar with spaces", patch: patch(values(func(m *chainlog.Mutable) { m.Data = json.RawMessage(" 42 ") }), "data"),
			want: with(func(m *chainlog.Mutable) { m.Data = json.RawMessage(`42`) })},

		// Refused.
		{name: "empty Set", patch: patch(others), errMsg: "no field"},
		{name: "empty non-nil Set", patch: patch(others, []string{}...), errMsg: "no field"},
		{name: "unknown field", patch: patch(others, "cost"), errMsg: `"cost" is not a mutable field`},
		{name: "identity field", patch: patch(others, "node_id"), errMsg: `"node_id" is not a mutable field`},
		{name: "field name case", patch: patch(others, "Model"), errMsg: `"Model" is not a mutable field`},
		{name: "unknown field after a valid one", patch: patch(others, "model", "chain_hash"), errMsg: `"chain_hash" is not a mutable field`},
		{name: "duplicate field", patch: patch(others, "model", "cost_usd", "model"), errMsg: `"model" twice`},
		{name: "invalid JSON data", patch: patch(values(func(m *chainlog.Mutable) { m.Data = json.RawMessage(`{"a":`) }), "data"),
			errField: "data", errMsg: "not valid JSON"},
		{name: "empty data is not JSON", patch: patch(values(func(m *chainlog.Mutable) { m.Data = json.RawMessage{} }), "data"),
			errField: "data", errMsg: "not valid JSON"},
		{name: "two JSON values", patch: patch(values(func(m *chainlog.Mutable) { m.Data = json.RawMessage(`{} {}`) }), "data"),
			errField: "data", errMsg: "not valid JSON"},
		{name: "negative cost", patch: patch(values(func(m *chainlog.Mutable) { m.CostUSD = f64p(-0.01) }), "cost_usd"),
			errField: "cost_usd", errMsg: "non-negative"},
		{name: "smallest negative cost", patch: patch(values(func(m *chainlog.Mutable) { m.CostUSD = f64p(-5e-324) }), "cost_usd"),
			errField: "cost_usd", errMsg: "non-negative"},
		{name: "NaN cost", patch: patch(values(func(m *chainlog.Mutable) { m.CostUSD = f64p(math.NaN()) }), "cost_usd"),
			errField: "cost_usd", errMsg: "finite"},
		{name: "+Inf cost", patch: patch(values(func(m *chainlog.Mutable) { m.CostUSD = f64p(math.Inf(1)) }), "cost_usd"),
			errField: "cost_usd", errMsg: "finite"},
		{name: "-Inf cost", patch: patch(values(func(m *chainlog.Mutable) { m.CostUSD = f64p(math.Inf(-1)) }), "cost_usd"),
			errField: "cost_usd", errMsg: "finite"},
		{name: "negative tokens", patch: patch(values(func(m *chainlog.Mutable) { m.TokenCount = i64p(-1) }), "token_count"),
			errField: "token_count", errMsg: "negative"},
		{name: "int64 min tokens", patch: patch(values(func(m *chainlog.Mutable) { m.TokenCount = i64p(math.MinInt64) }), "token_count"),
			errField: "token_count", errMsg: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base()
			inDigest := chainlog.PayloadDigest(&in)
			got, err := tt.patch.Apply(in)
			if chainlog.PayloadDigest(&in) != inDigest {
				t.Errorf("Apply changed its input: got %s", describeMutable(&in))
			}
			if tt.errMsg != "" || tt.errField != "" {
				if err == nil {
					t.Fatalf("Apply: got %s, nil error; want an error containing %q", describeMutable(&got), tt.errMsg)
				}
				if !strings.Contains(err.Error(), tt.errMsg) {
					t.Errorf("Apply: got error %q, want it to contain %q", err, tt.errMsg)
				}
				var fe *chainlog.FieldError
				switch {
				case tt.errField != "" && !errors.As(err, &fe):
					t.Errorf("Apply: got error %T %v, want a *FieldError", err, err)
				case tt.errField != "" && fe.Field != tt.errField:
					t.Errorf("Apply: got FieldError.Field %q, want %q", fe.Field, tt.errField)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: got error %v, want nil", err)
			}
			if g, w := describeMutable(&got), describeMutable(&tt.want); g != w {
				t.Errorf("Apply:\n got %s\nwant %s", g, w)
			}
			if g, w := chainlog.PayloadDigest(&got), chainlog.PayloadDigest(&tt.want); g != w {
				t.Errorf("digest after Apply: got %s, want %s", g, w)
			}
		})
	}
}

// TestPatchApplyDataCopied: the stored data does not alias the patch's
// buffer, so a caller reusing it cannot change what was applied.
func TestPatchApplyDataCopied(t *testing.T) {
	buf := []byte(`{"a": 1}`)
	p := chainlog.Patch{Set: []string{chainlog.FieldData}, Values: chainlog.Mutable{Data: buf}}
	got, err := p.Apply(chainlog.Mutable{})
	if err != nil {
		t.Fatalf("Apply: got error %v, want nil", err)
	}
	copy(buf, `{"b": 2}`)
	if want := `{"a":1}`; string(got.Data) != want {
		t.Errorf("data after the patch buffer changed: got %s, want %s", got.Data, want)
	}
}

// decodePayload parses canonical payload bytes back into their fields: the
// left inverse that makes the encoding injective. ok is false when b is not
// exactly one well-formed encoding.
func decodePayload(b []byte) (m chainlog.Mutable, ok bool) {
	rest, found := bytes.CutPrefix(b, []byte(chainlog.PayloadDigestPrefix))
	if !found {
		return m, false
	}
	var fields [4][]byte
	for i := range fields {
		if bytes.HasPrefix(rest, []byte("N;")) {
			rest = rest[2:]
			continue
		}
		colon := bytes.IndexByte(rest, ':')
		if colon <= 0 {
			return m, false
		}
		digits := string(rest[:colon])
		n, err := strconv.Atoi(digits)
		if err != nil || n < 0 || strconv.Itoa(n) != digits || colon+1+n+1 > len(rest) || rest[colon+1+n] != ';' {
			return m, false
		}
		fields[i] = append([]byte{}, rest[colon+1:colon+1+n]...)
		rest = rest[colon+1+n+1:]
	}
	if len(rest) != 0 {
		return m, false
	}
	if fields[0] != nil {
		m.Data = fields[0]
	}
	if c := fields[1]; c != nil {
		bits, err := strconv.ParseUint(string(c), 16, 64)
		if err != nil || len(c) != 16 || strings.ToLower(string(c)) != string(c) {
			return m, false
		}
		f := math.Float64frombits(bits)
		m.CostUSD = &f
	}
	if t := fields[2]; t != nil {
		v, err := strconv.ParseInt(string(t), 10, 64)
		if err != nil || strconv.FormatInt(v, 10) != string(t) {
			return m, false
		}
		m.TokenCount = &v
	}
	if fields[3] != nil {
		s := string(fields[3])
		m.Model = &s
	}
	return m, true
}

// sameMutable compares field by field, costs by bit pattern.
func sameMutable(a, b *chainlog.Mutable) bool {
	if (a.Data == nil) != (b.Data == nil) || !bytes.Equal(a.Data, b.Data) {
		return false
	}
	if (a.CostUSD == nil) != (b.CostUSD == nil) || a.CostUSD != nil && math.Float64bits(*a.CostUSD) != math.Float64bits(*b.CostUSD) {
		return false
	}
	if (a.TokenCount == nil) != (b.TokenCount == nil) || a.TokenCount != nil && *a.TokenCount != *b.TokenCount {
		return false
	}
	return (a.Model == nil) == (b.Model == nil) && (a.Model == nil || *a.Model == *b.Model)
}

func FuzzPayloadDigest(f *testing.F) {
	const (
		nullData = 1 << iota
		nullCost
		nullTokens
		nullModel
	)
	f.Add([]byte(`{"a":1}`), math.Float64bits(0.006), int64(1200), "", uint8(nullModel))
	f.Add([]byte{}, uint64(0), int64(0), "", uint8(0))
	f.Add([]byte("N;"), uint64(1), int64(-1), "N;", uint8(nullCost))
	f.Add([]byte("3:abc;"), math.Float64bits(math.MaxFloat64), int64(math.MinInt64), "1:x;N;", uint8(0))
	f.Add([]byte(";:;"), math.Float64bits(math.NaN()), int64(math.MaxInt64), "é😀\x00\xff", uint8(nullData|nullTokens))
	f.Add([]byte(nil), uint64(0), int64(0), "", uint8(0xff))
	f.Fuzz(func(t *testing.T, data []byte, costBits uint64, tokens int64, model string, nulls uint8) {
		var m chainlog.Mutable
		if nulls&nullData == 0 {
			m.Data = append(json.RawMessage{}, data...) // non-nil, even when empty
		}
		if nulls&nullCost == 0 {
			c := math.Float64frombits(costBits)
			m.CostUSD = &c
		}
		if nulls&nullTokens == 0 {
			m.TokenCount = &tokens
		}
		if nulls&nullModel == 0 {
			m.Model = &model
		}
		enc := chainlog.AppendPayload(nil, &m)
		got, ok := decodePayload(enc)
		if !ok {
			t.Fatalf("AppendPayload(%s) = %q: not a well-formed encoding", describeMutable(&m), enc)
		}
		if !sameMutable(&got, &m) {
			t.Fatalf("AppendPayload(%s) = %q decodes to %s", describeMutable(&m), enc, describeMutable(&got))
		}
		prefixed := chainlog.AppendPayload([]byte("x"), &m)
		if !bytes.Equal(prefixed[1:], enc) || prefixed[0] != 'x' {
			t.Fatalf("AppendPayload after a prefix: got %q, want %q", prefixed, "x"+string(enc))
		}
		sum := sha256.Sum256(enc)
		want := hex.EncodeToString(sum[:])
		if got := chainlog.PayloadDigest(&m); got != want {
			t.Fatalf("PayloadDigest: got %s, want %s", got, want)
		}
		var h chainlog.Hasher
		if got := h.PayloadSum(&m); got != want {
			t.Fatalf("Hasher.PayloadSum: got %s, want %s", got, want)
		}
		// A second payload from the same inputs, with data and model
		// swapped: equal encodings only for equal payloads.
		var swapped chainlog.Mutable
		swapped.CostUSD, swapped.TokenCount = m.CostUSD, m.TokenCount
		if m.Model != nil {
			swapped.Data = json.RawMessage(*m.Model)
		}
		if m.Data != nil {
			s := string(m.Data)
			swapped.Model = &s
		}
		enc2 := chainlog.AppendPayload(nil, &swapped)
		if bytes.Equal(enc, enc2) != sameMutable(&m, &swapped) {
			t.Fatalf("payloads %s and %s: encodings equal %v, payloads equal %v",
				describeMutable(&m), describeMutable(&swapped), bytes.Equal(enc, enc2), sameMutable(&m, &swapped))
		}
	})
}

func ExamplePayloadDigest() {
	m := chainlog.Mutable{
		Data:       json.RawMessage(`{"a":1}`),
		CostUSD:    f64p(0.006),
		TokenCount: i64p(1200),
		// Model nil: NULL
	}
	fmt.Printf("%q\n", chainlog.AppendPayload(nil, &m))
	fmt.Println(chainlog.PayloadDigest(&m))
	// Output:
	// "chainlog-payload-v1\n7:{\"a\":1};16:3f789374bc6a7efa;4:1200;N;"
	// ca78a1809bade8f596ddc8fa6df8c2eb92138d4520d77132b7b6cf227937249d
}

// TestDecodeCostNegativeZero: a cost of -0 is stored as 0 (SQLite keeps no
// sign on a zero REAL), so it must be digested as 0 at ingest too.
func TestDecodeCostNegativeZero(t *testing.T) {
	zero := chainlog.PayloadDigest(&chainlog.Mutable{CostUSD: f64p(0)})
	for _, raw := range []string{"-0", "-0.0", "-0e10", "0", "0.0"} {
		t.Run(raw, func(t *testing.T) {
			line := `{"id":"e","node_id":"n","event_type":"t","ts":"1","cost_usd":` + raw + `}`
			ev, err := chainlog.DecodeEvent([]byte(line), "")
			if err != nil {
				t.Fatalf("DecodeEvent: got error %v, want nil", err)
			}
			if ev.CostUSD == nil || *ev.CostUSD != 0 || math.Signbit(*ev.CostUSD) {
				t.Fatalf("cost_usd: got %v, want +0", ev.CostUSD)
			}
			m := ev.Mutable()
			if got := chainlog.PayloadDigest(&m); got != zero {
				t.Errorf("PayloadDigest: got %s, want %s (cost 0)", got, zero)
			}
		})
	}
}
