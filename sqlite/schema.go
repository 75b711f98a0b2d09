package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"chainlog"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// ErrCorrupt is returned when SQLite's own check of the database file
// (PRAGMA quick_check, or integrity_check) finds it damaged.
var ErrCorrupt = errors.New("the store file is corrupt")

// ErrSchema is returned when a store's schema lacks an object its version
// requires, holds one in another shape than chainlog's, or holds a
// trigger, a view or another object that could change what is read or
// written. A writer refuses such a store before changing anything.
var ErrSchema = errors.New("the store's schema is not chainlog's")

// ErrTampered is returned by a write that finds the store changed behind
// the writer in a way no other writer does: a row it inserted was not
// stored, or a chain head, the amendment head or the tree head is behind
// what it last committed. Nothing of the write is committed, and it is not
// retried.
var ErrTampered = errors.New("the store was tampered with")

// ReadOption configures a store opened read-only.
type ReadOption func(*Store)

// WithIntegrityCheck makes CheckStore run SQLite's PRAGMA integrity_check,
// which also checks that every index holds exactly its table's rows,
// instead of the faster PRAGMA quick_check.
func WithIntegrityCheck() ReadOption {
	return func(s *Store) { s.integrityCheck = true }
}

// CheckStore checks the store as a whole: SQLite's own check of the file
// (quick_check, or integrity_check when the store was opened
// WithIntegrityCheck), and the schema against what its version requires.
// A damaged file is an error wrapping ErrCorrupt; a schema fault is
// returned as a Break naming the object. It implements
// chainlog.StoreChecker and reads on the store's connection, so that
// inside Snapshot it sees the same state as the verifier.
func (s *Store) CheckStore(ctx context.Context) (*chainlog.Break, error) {
	var b *chainlog.Break
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		indexes, err := fileCheck(conn, s.integrityCheck)
		if err != nil {
			return err
		}
		if indexes != "" {
			// The tables are sound and the verifier does not read through
			// indexes: what an index leaves out is tampering to report,
			// along with whatever the rows show.
			b = &chainlog.Break{Reason: ReasonIndexRows, Detail: indexes,
				Expected: "every index holding exactly its table's rows", Found: indexes}
			return nil
		}
		v, err := userVersion(conn)
		if err != nil {
			return err
		}
		faults, err := checkSchema(conn, v)
		if err != nil {
			return err
		}
		if len(faults) > 0 {
			f := faults[0]
			b = &chainlog.Break{Reason: f.object + ": " + f.reason, Expected: f.expected, Found: f.found}
			if len(faults) > 1 {
				b.Detail = fmt.Sprintf("%d more schema faults; the first: %s", len(faults)-1, faults[1])
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// maxCheckMessages is how many of SQLite's messages a corrupt file's error
// carries.
const maxCheckMessages = 5

// ReasonIndexRows is the reason for an index that does not hold exactly
// its table's rows, as SQLite's own check finds it: rebuilt as a partial
// index whose CREATE text was put back, say, to hide rows from lookups.
const ReasonIndexRows = "an index does not hold its table's rows: it was rebuilt or altered outside chainlog"

// indexMessage reports whether a message of SQLite's check is about an
// index's entries only, the table being sound.
func indexMessage(m string) bool {
	return strings.HasPrefix(m, "wrong # of entries in index ") ||
		strings.HasPrefix(m, "non-unique entry in index ") ||
		(strings.HasPrefix(m, "row ") && strings.Contains(m, " missing from index "))
}

// fileCheck runs PRAGMA quick_check, or integrity_check when full is set.
// A damaged file is an error wrapping ErrCorrupt; indexes that disagree
// with sound tables are returned as SQLite's messages.
func fileCheck(conn *sqlite.Conn, full bool) (indexes string, err error) {
	pragma := "quick_check"
	if full {
		pragma = "integrity_check"
	}
	var msgs []string
	err = sqlitex.ExecuteTransient(conn, fmt.Sprintf("PRAGMA %s(%d)", pragma, maxCheckMessages), &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			msgs = append(msgs, stmt.ColumnText(0))
			return nil
		},
	})
	if err != nil {
		switch sqlite.ErrCode(err).ToPrimary() {
		case sqlite.ResultCorrupt, sqlite.ResultNotADB, sqlite.ResultIOErr:
			return "", fmt.Errorf("%w: %s: %v", ErrCorrupt, pragma, err)
		}
		return "", fmt.Errorf("%s: %w", pragma, err)
	}
	if len(msgs) == 1 && msgs[0] == "ok" {
		return "", nil
	}
	msg := strings.Join(msgs, "; ")
	msg = strings.ReplaceAll(strings.TrimPrefix(msg, "*** in database main ***\n"), "\n", "; ")
	for _, m := range strings.Split(msg, "; ") {
		if !indexMessage(m) {
			return "", fmt.Errorf("%w: %s: %s", ErrCorrupt, pragma, msg)
		}
	}
	return pragma + ": " + msg, nil
}

// A schemaFault is one way the schema differs from chainlog's.
type schemaFault struct {
	object   string // "table chain_heads", "index events_node_seq", ...
	reason   string
	expected string
	found    string
}

func (f schemaFault) String() string {
	return fmt.Sprintf("%s: %s (expected %s, found %s)", f.object, f.reason, orNone(f.expected), orNone(f.found))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Reasons a schema fault gives.
const (
	reasonMissing = "missing from the schema"
	reasonAltered = "not in the shape chainlog creates"
	reasonUnknown = "a schema object chainlog does not create"
	reasonVersion = "not part of the store's schema version"
)

// schemaError turns faults into an error wrapping ErrSchema that names
// each faulty object.
func schemaError(faults []schemaFault) error {
	var parts []string
	for _, f := range faults {
		parts = append(parts, f.String())
	}
	return fmt.Errorf("%w: %s", ErrSchema, strings.Join(parts, "; "))
}

// A knownObject is a table or index chainlog's migrations create.
type knownObject struct {
	typ, name, table string
	since            int // the schema version that creates it
	until            int // the last version that has it; 0 is every later one
	// early is set for an object a store may already have before the
	// version that creates it: migration 2 creates chain_heads only where
	// missing, and keeps the heads a ClawMetry store already had.
	early  bool
	tokens []string // its CREATE statement, normalized; nil for an automatic index
}

// eventsColumn is a column of the events table: its declared type and the
// schema version from which it is required (0: always).
type eventsColumn struct {
	typ      string
	required int
}

var eventsColumns = map[string]eventsColumn{
	"id": {"TEXT", 0}, "agent_type": {"TEXT", 0}, "node_id": {"TEXT", 0}, "agent_id": {"TEXT", 0},
	"session_id": {"TEXT", 0}, "workspace_id": {"TEXT", 0}, "event_type": {"TEXT", 0}, "ts": {"TEXT", 0},
	"data": {"TEXT", 0}, "cost_usd": {"REAL", 0}, "token_count": {"INTEGER", 0}, "model": {"TEXT", 0},
	"created_at": {"TEXT", 0},
	// ClawMetry stores may have the first two before migration 2.
	"chain_prev_hash": {"TEXT", 2}, "chain_hash": {"TEXT", 2}, "chain_seq": {"INTEGER", 2},
	"payload_digest": {"TEXT", 3},
	"leaf_index":     {"INTEGER", 4},
}

var knownObjects = sync.OnceValue(func() []knownObject {
	objs := []knownObject{
		// The events table is checked column by column: ClawMetry,
		// ALTER TABLE and migration 5's rebuild give it several texts.
		{typ: "table", name: "events", table: "events"},
	}
	for _, m := range migrations {
		text, err := migrationFS.ReadFile(m.file)
		if err != nil {
			panic(err)
		}
		for _, stmt := range splitStatements(tokenize(string(text))) {
			o, ok := createdObject(stmt)
			if !ok || o.name == "events" || slices.ContainsFunc(objs, func(k knownObject) bool { return k.name == o.name }) {
				continue
			}
			o.since = m.version
			o.early = o.name == "chain_heads"
			objs = append(objs, o)
		}
	}
	// The automatic indexes of the PRIMARY KEYs on text: ClawMetry's on
	// events.id, dropped by migration 5, and chain_heads'.
	return append(objs,
		knownObject{typ: "index", name: "sqlite_autoindex_events_1", table: "events", until: 4},
		knownObject{typ: "index", name: "sqlite_autoindex_chain_heads_1", table: "chain_heads", since: 2, early: true})
})

// createdObject reads a normalized CREATE TABLE or CREATE [UNIQUE] INDEX
// statement, without IF NOT EXISTS, as SQLite stores it.
func createdObject(stmt []string) (knownObject, bool) {
	var o knownObject
	if len(stmt) < 3 || stmt[0] != "create" {
		return o, false
	}
	i := 1
	if stmt[i] == "unique" {
		i++
	}
	o.typ = stmt[i]
	if o.typ != "table" && o.typ != "index" {
		return o, false
	}
	rest := stmt[i+1:]
	if len(rest) > 3 && rest[0] == "if" && rest[1] == "not" && rest[2] == "exists" {
		rest = rest[3:]
	}
	o.name = rest[0]
	o.table = o.name
	if o.typ == "index" {
		if j := slices.Index(rest, "on"); j >= 0 && j+1 < len(rest) {
			o.table = rest[j+1]
		}
	}
	o.tokens = append(slices.Clone(stmt[:i+1]), rest...)
	return o, true
}

// has reports whether schema version v has the object.
func (o *knownObject) has(v int) bool {
	return v >= o.since && (o.until == 0 || v <= o.until)
}

// checkSchema compares the main schema with what version v requires and
// returns every fault, in schema order. The temp schema is the reading
// connection's own and is not looked at.
func checkSchema(conn *sqlite.Conn, v int) ([]schemaFault, error) {
	type object struct{ typ, name, table, sql string }
	var objs []object
	err := sqlitex.ExecuteTransient(conn, `SELECT type, name, tbl_name, sql FROM main.sqlite_schema ORDER BY rowid`,
		&sqlitex.ExecOptions{ResultFunc: func(stmt *sqlite.Stmt) error {
			objs = append(objs, object{stmt.ColumnText(0), stmt.ColumnText(1), stmt.ColumnText(2), stmt.ColumnText(3)})
			return nil
		}})
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	known := knownObjects()
	ours := map[string]bool{} // every table any version of chainlog has
	for _, k := range known {
		if k.typ == "table" {
			ours[k.name] = true
		}
	}
	var faults []schemaFault
	seen := map[string]bool{}
	for _, o := range objs {
		name, table := strings.ToLower(o.name), strings.ToLower(o.table)
		what := o.typ + " " + o.name
		i := slices.IndexFunc(known, func(k knownObject) bool { return k.typ == o.typ && k.name == name })
		switch {
		case o.typ == "trigger":
			faults = append(faults, schemaFault{object: what + " on " + o.table, reason: reasonUnknown,
				expected: "no trigger", found: o.sql})
		case o.typ == "view":
			faults = append(faults, schemaFault{object: what, reason: reasonUnknown, expected: "no view", found: o.sql})
		case i >= 0 && !known[i].has(v) && !(known[i].early && v < known[i].since):
			faults = append(faults, schemaFault{object: what, reason: reasonVersion,
				expected: fmt.Sprintf("none at schema version %d", v), found: orSQL(o.sql)})
		case i >= 0:
			seen[o.typ+" "+name] = true
			k := known[i]
			if table != k.table {
				faults = append(faults, schemaFault{object: what, reason: reasonAltered, expected: "on " + k.table, found: "on " + o.table})
				continue
			}
			if k.name == "events" {
				f, err := checkEventsTable(conn, v, o.sql)
				if err != nil {
					return nil, err
				}
				faults = append(faults, f...)
				continue
			}
			if k.tokens != nil && !slices.Equal(tokenize(o.sql), k.tokens) {
				faults = append(faults, schemaFault{object: what, reason: reasonAltered,
					expected: strings.Join(k.tokens, " "), found: o.sql})
				continue
			}
			if k.typ == "index" {
				f, err := checkIndex(conn, k)
				if err != nil {
					return nil, err
				}
				faults = append(faults, f...)
			}
		case o.typ == "index" && ours[table]:
			faults = append(faults, schemaFault{object: what + " on " + o.table, reason: reasonUnknown,
				expected: "only chainlog's indexes", found: orSQL(o.sql)})
		case o.typ == "table" && ours[name]:
			// Known by name, but not at this version: reported above.
		case o.typ == "table" && isVirtual(o.sql):
			faults = append(faults, schemaFault{object: what, reason: reasonUnknown, expected: "no virtual table", found: o.sql})
		default:
			// Another application's table in the same file, or one of
			// SQLite's own (sqlite_stat1, sqlite_sequence), and its
			// indexes: chainlog neither reads nor writes them, and
			// without triggers they cannot touch chainlog's tables.
		}
	}
	for _, k := range known {
		if k.has(v) && !seen[k.typ+" "+k.name] {
			exp := strings.Join(k.tokens, " ")
			if k.tokens == nil {
				exp = k.typ + " " + k.name
			}
			if k.name == "events" {
				exp = "the events table"
			}
			faults = append(faults, schemaFault{object: k.typ + " " + k.name, reason: reasonMissing, expected: exp})
		}
	}
	return faults, nil
}

func orSQL(sql string) string {
	if sql == "" {
		return "an automatic index"
	}
	return sql
}

func isVirtual(sql string) bool {
	t := tokenize(sql)
	return len(t) > 1 && t[1] == "virtual"
}

// checkIndex checks a known index through SQLite's own view of it: not
// partial, unique as chainlog made it, on the same columns in ascending
// order with the BINARY collation.
func checkIndex(conn *sqlite.Conn, k knownObject) ([]schemaFault, error) {
	what := "index " + k.name
	var unique, partial, found bool
	err := sqlitex.ExecuteTransient(conn, `SELECT "unique", partial FROM pragma_index_list(?1) WHERE name = ?2`,
		&sqlitex.ExecOptions{Args: []any{k.table, k.name}, ResultFunc: func(stmt *sqlite.Stmt) error {
			found, unique, partial = true, stmt.ColumnInt(0) != 0, stmt.ColumnInt(1) != 0
			return nil
		}})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	var cols []string
	err = sqlitex.ExecuteTransient(conn, `SELECT name, "desc", coll FROM pragma_index_xinfo(?1) WHERE key ORDER BY seqno`,
		&sqlitex.ExecOptions{Args: []any{k.name}, ResultFunc: func(stmt *sqlite.Stmt) error {
			c := strings.ToLower(stmt.ColumnText(0))
			if stmt.ColumnInt(1) != 0 {
				c += " desc"
			}
			if coll := stmt.ColumnText(2); !strings.EqualFold(coll, "binary") {
				c += " collate " + coll
			}
			cols = append(cols, c)
			return nil
		}})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	wantUnique := k.tokens == nil || k.tokens[1] == "unique"
	var wantCols []string
	if k.tokens != nil {
		if j := slices.Index(k.tokens, "("); j >= 0 {
			for _, t := range k.tokens[j+1:] {
				if t != "," && t != ")" {
					wantCols = append(wantCols, t)
				}
			}
		}
	}
	switch {
	case !found:
		return []schemaFault{{object: what, reason: reasonMissing, expected: "an index on " + k.table}}, nil
	case partial:
		return []schemaFault{{object: what, reason: reasonAltered, expected: "a full index", found: "a partial index"}}, nil
	case unique != wantUnique:
		return []schemaFault{{object: what, reason: reasonAltered, expected: fmt.Sprintf("unique %v", wantUnique), found: fmt.Sprintf("unique %v", unique)}}, nil
	case wantCols != nil && !slices.Equal(cols, wantCols):
		return []schemaFault{{object: what, reason: reasonAltered, expected: strings.Join(wantCols, ", "), found: strings.Join(cols, ", ")}}, nil
	}
	return nil, nil
}

// checkEventsTable checks the events table: every column version v
// requires, with its declared type; no constraint, collation, generated
// column or table option chainlog does not create; and no column that
// hides the rowid, which chainlog reads rows by.
func checkEventsTable(conn *sqlite.Conn, v int, sql string) ([]schemaFault, error) {
	type column struct {
		typ    string
		hidden bool
	}
	cols := map[string]column{}
	err := sqlitex.ExecuteTransient(conn, `SELECT name, type, hidden FROM pragma_table_xinfo('events')`,
		&sqlitex.ExecOptions{ResultFunc: func(stmt *sqlite.Stmt) error {
			cols[strings.ToLower(stmt.ColumnText(0))] = column{strings.ToUpper(stmt.ColumnText(1)), stmt.ColumnInt(2) != 0}
			return nil
		}})
	if err != nil {
		return nil, fmt.Errorf("read the events table: %w", err)
	}
	var faults []schemaFault
	add := func(object, reason, expected, found string) {
		faults = append(faults, schemaFault{object: object, reason: reason, expected: expected, found: found})
	}
	names := make([]string, 0, len(eventsColumns))
	for name := range eventsColumns {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		want := eventsColumns[name]
		c, ok := cols[name]
		switch {
		case !ok && v >= want.required:
			add("column events."+name, reasonMissing, want.typ, "")
		case ok && c.typ != want.typ:
			add("column events."+name, reasonAltered, want.typ, c.typ)
		}
	}
	for name, c := range cols {
		switch {
		case c.hidden:
			add("column events."+name, reasonAltered, "a stored column", "a generated column")
		case name == "rowid" || name == "oid" || name == "_rowid_":
			add("column events."+name, reasonUnknown, "no column named "+name, "a column that hides the rowid")
		}
	}
	defs, opts, ok := tableDefs(tokenize(sql))
	if !ok {
		add("table events", reasonAltered, "CREATE TABLE events (...)", sql)
		return faults, nil
	}
	if len(opts) > 0 {
		add("table events", reasonAltered, "no table options", strings.Join(opts, " "))
	}
	for _, d := range defs {
		if bad := columnConstraint(d); bad != "" {
			add("column events."+d[0], reasonAltered, "no "+bad, strings.Join(d, " "))
		}
	}
	slices.SortStableFunc(faults, func(a, b schemaFault) int { return strings.Compare(a.object, b.object) })
	return faults, nil
}

// tableDefs splits a normalized CREATE TABLE statement into its column
// definitions (and table constraints), and the table options after them.
func tableDefs(t []string) (defs [][]string, opts []string, ok bool) {
	open := slices.Index(t, "(")
	if len(t) < 4 || t[0] != "create" || t[1] != "table" || open < 0 {
		return nil, nil, false
	}
	depth, start := 0, open+1
	for i := open; i < len(t); i++ {
		switch t[i] {
		case "(":
			depth++
		case ")":
			depth--
			if depth == 0 {
				defs = append(defs, t[start:i])
				return defs, t[i+1:], true
			}
		case ",":
			if depth == 1 {
				defs = append(defs, t[start:i])
				start = i + 1
			}
		}
	}
	return nil, nil, false
}

// columnConstraint returns the first clause of a column definition that
// chainlog's events table does not have, or "" when there is none. A
// definition may carry NULL, NOT NULL and DEFAULT anywhere, and PRIMARY KEY
// on id (ClawMetry's key, dropped by migration 5). Any other clause
// (COLLATE, GENERATED or AS, CHECK, UNIQUE, REFERENCES, a conflict clause)
// or a table constraint changes what is read or written.
func columnConstraint(d []string) string {
	if len(d) == 0 {
		return "empty definition"
	}
	switch d[0] {
	case "constraint", "primary", "unique", "check", "foreign":
		return "table constraint"
	}
	i := 1
	// The type name: words, and a parenthesized size.
	for i < len(d) && !isConstraintWord(d[i]) {
		if d[i] == "(" {
			j := closing(d, i)
			if j < 0 {
				return "unbalanced parenthesis"
			}
			i = j
		}
		i++
	}
	for i < len(d) {
		switch {
		case d[i] == "null":
			i++
		case d[i] == "not" && i+1 < len(d) && d[i+1] == "null":
			i += 2
		case d[i] == "default" && i+1 < len(d):
			i++
			if d[i] == "-" || d[i] == "+" {
				i++
			}
			if i < len(d) && d[i] == "(" {
				j := closing(d, i)
				if j < 0 {
					return "unbalanced parenthesis"
				}
				i = j
			}
			i++
		case d[0] == "id" && d[i] == "primary" && i+1 < len(d) && d[i+1] == "key":
			i += 2
		default:
			return strings.ToUpper(d[i])
		}
	}
	return ""
}

func isConstraintWord(w string) bool {
	switch w {
	case "constraint", "primary", "not", "null", "unique", "check", "default", "collate", "references",
		"generated", "as", "on", "autoincrement":
		return true
	}
	return false
}

// closing returns the index of the parenthesis closing the one at i.
func closing(t []string, i int) int {
	depth := 0
	for j := i; j < len(t); j++ {
		switch t[j] {
		case "(":
			depth++
		case ")":
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

// splitStatements splits tokens at semicolons.
func splitStatements(t []string) [][]string {
	var out [][]string
	for len(t) > 0 {
		i := slices.Index(t, ";")
		if i < 0 {
			i = len(t)
		}
		if i > 0 {
			out = append(out, t[:i])
		}
		if i == len(t) {
			break
		}
		t = t[i+1:]
	}
	return out
}

// tokenize splits SQL text into tokens for comparison: comments and
// whitespace dropped, words and quoted identifiers lower-cased and
// unquoted (SQLite's names are case-insensitive), string literals kept
// with their quotes, and every other character a token of its own.
func tokenize(sql string) []string {
	var t []string
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				return t
			}
			i += j + 1
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			j := strings.Index(sql[i+2:], "*/")
			if j < 0 {
				return t
			}
			i += j + 4
		case c == '\'':
			j := quoted(sql, i, '\'')
			t = append(t, sql[i:j])
			i = j
		case c == '"' || c == '`':
			j := quoted(sql, i, c)
			name := strings.ReplaceAll(sql[i+1:max(i+1, j-1)], string([]byte{c, c}), string(c))
			t = append(t, strings.ToLower(name))
			i = j
		case c == '[':
			j := strings.IndexByte(sql[i:], ']')
			if j < 0 {
				j = len(sql) - i - 1
			}
			t = append(t, strings.ToLower(sql[i+1:i+j]))
			i += j + 1
		case isWordByte(c):
			j := i
			for j < len(sql) && isWordByte(sql[j]) {
				j++
			}
			t = append(t, strings.ToLower(sql[i:j]))
			i = j
		default:
			t = append(t, string(c))
			i++
		}
	}
	return t
}

// quoted returns the index just after the quoted text starting at i; a
// doubled quote is part of the text.
func quoted(s string, i int, q byte) int {
	for j := i + 1; j < len(s); j++ {
		if s[j] == q {
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// schemaCookie returns PRAGMA schema_version, which SQLite moves with
// every change to the schema.
func schemaCookie(conn *sqlite.Conn) (int64, error) {
	var v int64
	err := sqlitex.ExecuteTransient(conn, "PRAGMA schema_version", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { v = stmt.ColumnInt64(0); return nil },
	})
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// recheckSchema checks the schema again, inside a write transaction, when
// it changed since the writer last checked it: a trigger created while the
// writer is open is refused before the write, as Open refuses one created
// before.
func (s *Store) recheckSchema(conn *sqlite.Conn) error {
	if s.skipRecheck {
		return nil
	}
	cookie, err := schemaCookie(conn)
	if err != nil || cookie == s.schemaCookie {
		return err
	}
	faults, err := checkSchema(conn, SchemaVersion)
	if err != nil {
		return err
	}
	if len(faults) > 0 {
		return schemaError(faults)
	}
	s.schemaCookie = cookie
	return nil
}

// checkWritable is Open's check before it changes anything: a database
// with tables but no events table is refused unless Options.Init asks to
// initialise it, and a schema fault (an object missing or altered, a
// trigger, a view) is refused with every faulty object named.
func (s *Store) checkWritable() error {
	v, err := userVersion(s.conn)
	if err != nil {
		return err
	}
	if v > SchemaVersion {
		return fmt.Errorf("store schema version %d is newer than this chainlog supports (%d): upgrade chainlog", v, SchemaVersion)
	}
	var tables []string
	hasEvents := false
	err = sqlitex.ExecuteTransient(s.conn, `SELECT name FROM main.sqlite_schema WHERE type = 'table' ORDER BY rowid`,
		&sqlitex.ExecOptions{ResultFunc: func(stmt *sqlite.Stmt) error {
			name := stmt.ColumnText(0)
			hasEvents = hasEvents || strings.EqualFold(name, "events")
			tables = append(tables, name)
			return nil
		}})
	if err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	if !hasEvents && len(tables) > 0 && !s.opts.Init {
		return fmt.Errorf("%w: the database has tables (%s) but no events table; initialise it as a store only on purpose (Options.Init, --init)",
			ErrNotStore, strings.Join(tables, ", "))
	}
	faults, err := checkSchema(s.conn, v)
	if err != nil {
		return err
	}
	if !hasEvents {
		// Nothing of chainlog's yet: its tables are missing, as they
		// should be; only the rest counts.
		faults = slices.DeleteFunc(faults, func(f schemaFault) bool { return f.reason == reasonMissing })
	}
	if len(faults) > 0 {
		return schemaError(faults)
	}
	return nil
}
