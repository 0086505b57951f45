package bridge

import "testing"

func TestConflaterKeepsNewestPerTopicInFirstQueuedOrder(t *testing.T) {
	c := newConflater()
	c.put(outMsg{topic: "a", payload: []byte("1"), retain: true})
	c.put(outMsg{topic: "b", payload: []byte("1"), retain: true, force: true})
	c.put(outMsg{topic: "a", payload: []byte("2"), retain: true})
	c.put(outMsg{topic: "b", payload: []byte("2"), retain: true})
	c.put(outMsg{topic: "c", payload: nil, retain: true})
	var got []string
	for m, ok := c.next(); ok; m, ok = c.next() {
		got = append(got, m.topic+"="+string(m.payload))
		if m.topic == "b" && !m.force {
			t.Error("a forced message lost its force when replaced")
		}
	}
	want := []string{"a=2", "b=2", "c="}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %q, want %q", got, want)
			break
		}
	}
	if _, ok := c.next(); ok {
		t.Error("queue not empty after draining")
	}
}
