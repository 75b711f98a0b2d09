package sqlite

import (
	"encoding/binary"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"chainlog"

	"zombiezen.com/go/sqlite"
)

// commitCols is how many columns readCommitRow reads.
const commitCols = 18

// readCommitRowText is readCommitRow as it was written with ColumnText,
// one Go string per text column (and hashText for a hash, which may be a
// blob): the reference the buffered decoding must agree with.
func readCommitRowText(stmt *sqlite.Stmt, r *chainlog.CommitRow) {
	r.Fault = storageFault(stmt)
	var has chainlog.RowHas
	r.ID = stmt.ColumnText(0)
	r.AgentType = stmt.ColumnText(1)
	nodeType := stmt.ColumnType(2)
	r.NodeID = stmt.ColumnText(2)
	r.AgentID = stmt.ColumnText(3)
	r.SessionID, r.WorkspaceID = "", ""
	if stmt.ColumnType(4) != sqlite.TypeNull {
		r.SessionID = stmt.ColumnText(4)
		has |= chainlog.HasSessionID
	}
	if stmt.ColumnType(5) != sqlite.TypeNull {
		r.WorkspaceID = stmt.ColumnText(5)
		has |= chainlog.HasWorkspaceID
	}
	r.EventType = stmt.ColumnText(6)
	r.TS = stmt.ColumnText(7)
	seqType := stmt.ColumnType(8)
	r.Irregular = nodeType != sqlite.TypeText || (seqType != sqlite.TypeInteger && seqType != sqlite.TypeNull)
	r.Seq = stmt.ColumnInt64(8)
	r.PrevHash = hashText(stmt, 9)
	r.Hash = hashText(stmt, 10)
	r.Data = nil
	if stmt.ColumnType(11) != sqlite.TypeNull {
		r.Data = []byte(stmt.ColumnText(11))
		has |= chainlog.HasData
	}
	r.CostUSD, r.TokenCount, r.Model = 0, 0, ""
	if stmt.ColumnType(12) != sqlite.TypeNull {
		r.CostUSD = stmt.ColumnFloat(12)
		has |= chainlog.HasCostUSD
	}
	if stmt.ColumnType(13) != sqlite.TypeNull {
		r.TokenCount = stmt.ColumnInt64(13)
		has |= chainlog.HasTokenCount
	}
	if stmt.ColumnType(14) != sqlite.TypeNull {
		r.Model = stmt.ColumnText(14)
		has |= chainlog.HasModel
	}
	r.PayloadDigest = hashText(stmt, 15)
	r.LastDigest = ""
	if stmt.ColumnType(16) != sqlite.TypeNull {
		r.LastDigest = stmt.ColumnText(16)
	}
	r.LeafIndex = 0
	if stmt.ColumnType(17) != sqlite.TypeNull {
		r.LeafIndex = stmt.ColumnInt64(17)
		has |= chainlog.HasLeaf
	}
	r.Has = has
}

// sameCommitRow reports whether a and b decode the same row: every field
// but the source's buffer, with Data compared as bytes (nil and empty
// alike, as Has says whether there is any).
func sameCommitRow(a, b chainlog.CommitRow) bool {
	if string(a.Data) != string(b.Data) {
		return false
	}
	a.Data, b.Data, a.Buf, b.Buf = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}

// bindCommitValues binds the values in, as many rows of commitCols
// parameters as it holds, and calls fn after each row is bound. Each value
// is a storage-class byte (modulo 5: NULL, text, blob, integer, real), and
// for text and blob a length byte and that many bytes (a length byte of
// 255 means 300 bytes of its next byte, to outgrow the buffer's room), for
// numbers 8 bytes.
func bindCommitValues(stmt *sqlite.Stmt, in []byte, fn func()) {
	next := func(n int) []byte {
		n = min(n, len(in))
		b := in[:n]
		in = in[n:]
		return b
	}
	for len(in) > 0 {
		for col := 1; col <= commitCols; col++ {
			kind := next(1)
			if len(kind) == 0 {
				stmt.BindNull(col)
				continue
			}
			switch kind[0] % 5 {
			case 0:
				stmt.BindNull(col)
			case 1, 2:
				var v []byte
				if n := next(1); len(n) == 1 && n[0] == 255 {
					v = []byte(strings.Repeat(string(next(1)), 300))
				} else if len(n) == 1 {
					v = next(int(n[0]))
				}
				if kind[0]%5 == 1 {
					stmt.BindText(col, string(v))
				} else {
					stmt.BindBytes(col, v)
				}
			case 3, 4:
				var b [8]byte
				copy(b[:], next(8))
				u := binary.LittleEndian.Uint64(b[:])
				if kind[0]%5 == 3 {
					stmt.BindInt64(col, int64(u))
				} else if f := math.Float64frombits(u); math.IsNaN(f) {
					stmt.BindNull(col) // SQLite stores a NaN as NULL
				} else {
					stmt.BindFloat(col, f)
				}
			}
		}
		fn()
	}
}

// checkCommitDecoding decodes the rows of in (see bindCommitValues) with
// readCommitRow, into a few reused rows as a batch would be, and with
// readCommitRowText, and fails where they disagree. A row's strings must
// stay as decoded until the row is filled again.
func checkCommitDecoding(t *testing.T, conn *sqlite.Conn, in []byte) {
	t.Helper()
	q := "SELECT ?1"
	for i := 2; i <= commitCols; i++ {
		q += ", ?" + strconv.Itoa(i)
	}
	stmt, err := conn.Prepare(q)
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.ClearBindings()
	rows := make([]chainlog.CommitRow, 3)
	want := make([]chainlog.CommitRow, len(rows))
	k := 0
	bindCommitValues(stmt, in, func() {
		if ok, err := stmt.Step(); err != nil || !ok {
			t.Fatalf("step: %v, %v", ok, err)
		}
		i := k % len(rows)
		readCommitRow(stmt, &rows[i])
		readCommitRowText(stmt, &want[i])
		if err := stmt.Reset(); err != nil {
			t.Fatal(err)
		}
		for j := range rows[:min(k+1, len(rows))] {
			if !sameCommitRow(rows[j], want[j]) {
				t.Fatalf("row %d, after row %d was read:\n got %+v\nwant %+v", j, k, rows[j], want[j])
			}
		}
		k++
	})
}

func openMemConn(t testing.TB) *sqlite.Conn {
	t.Helper()
	conn, err := sqlite.OpenConn(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// commitSeeds are inputs for checkCommitDecoding: a regular row, one of
// every storage class in every column, empty and long values.
var commitSeeds = [][]byte{
	// Text everywhere, an integer seq and leaf, NULL workspace.
	{1, 3, 'e', 'v', '1', 1, 1, 'c', 1, 2, 'n', '1', 1, 0, 1, 1, 's', 0, 1, 1, 't', 1, 2, '2', '6',
		3, 1, 0, 0, 0, 0, 0, 0, 0, 1, 4, 'g', 'e', 'n', '0', 1, 2, 'h', '1', 1, 2, '{', '}',
		4, 0, 0, 0, 0, 0, 0, 0xd0, 0x3f, 3, 12, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 'd', 0, 3, 0, 0, 0, 0, 0, 0, 0, 0},
	// Blobs, numbers and empty values in the text columns.
	{2, 0, 3, 7, 0, 0, 0, 0, 0, 0, 0, 2, 3, 'n', 0, '1', 4, 1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 2, 0, 1, 0,
		1, 0, 2, 1, '3', 1, 0, 2, 0, 2, 0, 1, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 2, 1, 'x', 1, 0, 3, 9, 9, 9, 9, 9, 9, 9, 0x80,
		1, 0, 4, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f},
	// Long values that outgrow the buffer, then a short row reusing it.
	{1, 255, 'a', 1, 255, 'b', 1, 255, 'c', 1, 255, 'd', 1, 255, 'e', 1, 255, 'f', 1, 255, 'g', 1, 255, 'h', 3, 5, 0, 0, 0, 0, 0, 0, 0,
		1, 255, 'i', 1, 255, 'j', 2, 255, 'k', 0, 0, 1, 255, 'l', 1, 255, 'm', 1, 255, 'n', 0,
		1, 1, 'x', 1, 0, 1, 1, 'y'},
}

func TestReadCommitRow(t *testing.T) {
	t.Parallel()
	conn := openMemConn(t)
	for _, in := range commitSeeds {
		checkCommitDecoding(t, conn, in)
	}
	var all []byte
	for _, in := range commitSeeds {
		all = append(all, in...)
	}
	checkCommitDecoding(t, conn, all)
}

func FuzzReadCommitRow(f *testing.F) {
	for _, in := range commitSeeds {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 4000 {
			in = in[:4000]
		}
		checkCommitDecoding(t, openMemConn(t), in)
	})
}
