package agentsrc

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"chainlog"
	"chainlog/pricing"
)

// checkValid fails the test unless ev passes chainlog's own validation:
// the event, written as JSON, decodes with chainlog.DecodeEvent to the
// same event. (The root package exports no validator for a built Event.)
func checkValid(t testing.TB, ev chainlog.Event) {
	t.Helper()
	b, err := chainlog.StoredEvent{Event: ev}.MarshalJSON()
	if err != nil {
		t.Fatalf("event %s: marshal: %v", ev.ID, err)
	}
	got, err := chainlog.DecodeEvent(b, "")
	if err != nil {
		t.Fatalf("event %s does not decode: %v\n%s", ev.ID, err, b)
	}
	if err := chainlog.CheckData(ev.Data); ev.Data != nil && err != nil {
		t.Fatalf("event %s: data: %v", ev.ID, err)
	}
	if !json.Valid(ev.Data) || !bytes.HasPrefix(ev.Data, []byte("{")) {
		t.Fatalf("event %s: data is not a JSON object: %s", ev.ID, ev.Data)
	}
	if !reflect.DeepEqual(got, ev) {
		t.Fatalf("event %s changes in a round trip through DecodeEvent:\n got %+v\nwant %+v", ev.ID, got, ev)
	}
}

func ptrVal[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// dataField decodes one member of an event's data.
func dataField(t testing.TB, ev chainlog.Event, name string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		t.Fatalf("event %s: data: %v", ev.ID, err)
	}
	return m[name]
}

var pricingTable = pricing.Table{Models: []pricing.Price{{Model: "tiny-1", Input: 2, Output: 4}}}
