package discovery_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sifely2mqtt/sifely2mqtt/discovery"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var eventTypes = []string{"unlocked", "locked", "unlock_failed", "tamper", "low_battery"}

func testOptions() discovery.Options {
	return discovery.Options{
		DiscoveryPrefix: "homeassistant",
		BaseTopic:       "sifely2mqtt",
		Version:         "1.2.3",
		SupportURL:      "https://example.com/sifely2mqtt",
	}
}

// mustPayload returns the payload of l under testOptions, failing the test on error.
func mustPayload(tb testing.TB, l discovery.Lock) []byte {
	tb.Helper()
	got, err := discovery.Payload(testOptions(), l)
	if err != nil {
		tb.Fatalf("Payload(%+v): %v", l, err)
	}
	return got
}

// decode parses a payload into generic JSON, failing the test if it is not a JSON object.
func decode(tb testing.TB, payload []byte) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		tb.Fatalf("payload is not a JSON object: %v\n%s", err, payload)
	}
	return m
}

// componentsOf returns the components mapping of a decoded payload.
func componentsOf(tb testing.TB, m map[string]any) map[string]map[string]any {
	tb.Helper()
	raw, ok := m["components"].(map[string]any)
	if !ok {
		tb.Fatalf("components = %T, want object", m["components"])
	}
	out := make(map[string]map[string]any, len(raw))
	for k, v := range raw {
		c, ok := v.(map[string]any)
		if !ok {
			tb.Fatalf("component %q = %T, want object", k, v)
		}
		out[k] = c
	}
	return out
}

func TestPayloadGolden(t *testing.T) {
	tests := []struct {
		name string
		lock discovery.Lock
	}{
		{
			name: "gateway_and_code",
			lock: discovery.Lock{
				ID: 7100001, Alias: "Front door", Model: "SS-C1", MAC: "aa:bb:cc:dd:ee:01",
				Firmware: "6.3.12", Hardware: "1.4", HasGateway: true,
				CodeFormat: `^\d{4,8}$`, EventTypes: eventTypes,
			},
		},
		{
			name: "no_gateway_no_code",
			lock: discovery.Lock{
				ID: 7100002, Alias: "Back door", Model: "S-D5", MAC: "aa:bb:cc:dd:ee:02",
				Firmware: "6.1.0", EventTypes: eventTypes,
			},
		},
		{
			name: "empty_alias",
			lock: discovery.Lock{ID: 7100003, Alias: "  ", EventTypes: eventTypes},
		},
		{
			name: "weird_mac_casing",
			lock: discovery.Lock{
				ID: 7100004, Alias: `Garage "side" <door> & co`, MAC: " Aa:bB:CC:dd:EE:0f ",
				HasGateway: true, EventTypes: eventTypes,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := mustPayload(t, tt.lock)
			var got bytes.Buffer
			if err := json.Indent(&got, payload, "", "  "); err != nil {
				t.Fatalf("indent payload: %v\n%s", err, payload)
			}
			got.WriteByte('\n')

			golden := filepath.Join("testdata", tt.name+".json")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("payload differs from %s (run with -update to accept)\ngot:\n%s\nwant:\n%s", golden, got.Bytes(), want)
			}
		})
	}
}

func TestPayloadDeterministic(t *testing.T) {
	l := discovery.Lock{ID: 42, Alias: "Door", MAC: "AA:BB", HasGateway: true, CodeFormat: `^\d+$`, EventTypes: eventTypes}
	first := mustPayload(t, l)
	for range 20 {
		if got := mustPayload(t, l); !bytes.Equal(got, first) {
			t.Fatalf("payload changed between calls:\n%s\n%s", got, first)
		}
	}
}

func TestPayloadContent(t *testing.T) {
	tests := []struct {
		name           string
		lock           discovery.Lock
		wantComponents []string
		wantName       string
		wantMAC        string // "" = no connections
		wantCode       bool
	}{
		{
			name:           "gateway and code",
			lock:           discovery.Lock{ID: 1, Alias: "Front", MAC: "AA:BB:CC:DD:EE:FF", HasGateway: true, CodeFormat: `^\d{4}$`, EventTypes: eventTypes},
			wantComponents: []string{"activity", "battery", "gateway", "last_unlock", "lock"},
			wantName:       "Front",
			wantMAC:        "aa:bb:cc:dd:ee:ff",
			wantCode:       true,
		},
		{
			name:           "bare lock",
			lock:           discovery.Lock{ID: 2, EventTypes: eventTypes},
			wantComponents: []string{"activity", "battery", "last_unlock", "lock"},
			wantName:       "Sifely lock 2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := decode(t, mustPayload(t, tt.lock))
			comps := componentsOf(t, m)

			var gotComponents []string
			for k := range comps {
				gotComponents = append(gotComponents, k)
			}
			slices.Sort(gotComponents)
			if !slices.Equal(gotComponents, tt.wantComponents) {
				t.Errorf("components = %v, want %v", gotComponents, tt.wantComponents)
			}

			dev, _ := m["device"].(map[string]any)
			if got := dev["name"]; got != tt.wantName {
				t.Errorf("device name = %v, want %q", got, tt.wantName)
			}
			conns, hasConns := dev["connections"].([]any)
			switch {
			case tt.wantMAC == "" && hasConns:
				t.Errorf("connections = %v, want none", conns)
			case tt.wantMAC != "":
				want := []any{[]any{"mac", tt.wantMAC}}
				if gotJSON, wantJSON := mustJSON(t, conns), mustJSON(t, want); gotJSON != wantJSON {
					t.Errorf("connections = %s, want %s", gotJSON, wantJSON)
				}
			}

			lock := comps["lock"]
			if name, present := lock["name"]; !present || name != nil {
				t.Errorf("lock name = %v (present %v), want null", name, present)
			}
			_, hasTemplate := lock["command_template"]
			_, hasFormat := lock["code_format"]
			if hasTemplate != tt.wantCode || hasFormat != tt.wantCode {
				t.Errorf("command_template present %v, code_format present %v, want %v", hasTemplate, hasFormat, tt.wantCode)
			}
			for key, c := range comps {
				if _, ok := c["object_id"]; ok {
					t.Errorf("component %q uses deprecated object_id", key)
				}
				if _, ok := c["platform"].(string); !ok {
					t.Errorf("component %q has no platform", key)
				}
			}
		})
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestPayloadAvailability(t *testing.T) {
	m := decode(t, mustPayload(t, discovery.Lock{ID: 9, HasGateway: true, EventTypes: eventTypes}))

	topics := func(v any) []string {
		t.Helper()
		list, ok := v.([]any)
		if !ok {
			t.Fatalf("availability = %T, want list", v)
		}
		var out []string
		for _, e := range list {
			entry, _ := e.(map[string]any)
			if entry["payload_available"] != "online" || entry["payload_not_available"] != "offline" {
				t.Errorf("availability entry %v: want payloads online/offline", entry)
			}
			topic, _ := entry["topic"].(string)
			out = append(out, topic)
		}
		return out
	}

	if got, want := topics(m["availability"]), []string{"sifely2mqtt/bridge/state", "sifely2mqtt/9/availability"}; !slices.Equal(got, want) {
		t.Errorf("device availability topics = %v, want %v", got, want)
	}
	if got := m["availability_mode"]; got != "all" {
		t.Errorf("availability_mode = %v, want all", got)
	}

	comps := componentsOf(t, m)
	if got, want := topics(comps["gateway"]["availability"]), []string{"sifely2mqtt/bridge/state"}; !slices.Equal(got, want) {
		t.Errorf("gateway availability topics = %v, want %v", got, want)
	}
	for _, key := range []string{"lock", "battery", "last_unlock", "activity"} {
		if _, ok := comps[key]["availability"]; ok {
			t.Errorf("component %q overrides availability; want the device-level list", key)
		}
	}
}

func TestPayloadUniqueIDs(t *testing.T) {
	locks := []discovery.Lock{
		{ID: 1, Alias: "Same name", HasGateway: true, EventTypes: eventTypes},
		{ID: 2, Alias: "Same name", HasGateway: true, EventTypes: eventTypes},
		{ID: 12, Alias: "Other", HasGateway: true, EventTypes: eventTypes},
	}
	seenUnique := map[string]int64{}
	seenEntity := map[string]int64{}
	for _, l := range locks {
		for key, c := range componentsOf(t, decode(t, mustPayload(t, l))) {
			uid, _ := c["unique_id"].(string)
			eid, _ := c["default_entity_id"].(string)
			if uid == "" || eid == "" {
				t.Errorf("lock %d component %q: unique_id %q, default_entity_id %q, want both set", l.ID, key, uid, eid)
				continue
			}
			if other, dup := seenUnique[uid]; dup {
				t.Errorf("unique_id %q of lock %d repeats (first seen on lock %d)", uid, l.ID, other)
			}
			if other, dup := seenEntity[eid]; dup {
				t.Errorf("default_entity_id %q of lock %d repeats (first seen on lock %d)", eid, l.ID, other)
			}
			seenUnique[uid] = l.ID
			seenEntity[eid] = l.ID
		}
	}
	if got, want := len(seenUnique), 5*len(locks); got != want {
		t.Errorf("distinct unique_ids = %d, want %d", got, want)
	}
}

func TestPayloadIdentityIgnoresAlias(t *testing.T) {
	ids := func(alias string) map[string]string {
		t.Helper()
		out := map[string]string{}
		l := discovery.Lock{ID: 5, Alias: alias, HasGateway: true, EventTypes: eventTypes}
		for key, c := range componentsOf(t, decode(t, mustPayload(t, l))) {
			out[key] = mustJSON(t, []any{c["unique_id"], c["default_entity_id"]})
		}
		return out
	}
	a, b := ids("Front door"), ids("Renamed door")
	if got, want := mustJSON(t, b), mustJSON(t, a); got != want {
		t.Errorf("identities after rename = %s, want %s", got, want)
	}
}

func TestPayloadErrors(t *testing.T) {
	tests := []struct {
		name string
		opts discovery.Options
		lock discovery.Lock
	}{
		{"zero id", testOptions(), discovery.Lock{ID: 0, EventTypes: eventTypes}},
		{"negative id", testOptions(), discovery.Lock{ID: -3, EventTypes: eventTypes}},
		{"no event types", testOptions(), discovery.Lock{ID: 3}},
		{"bad options", discovery.Options{DiscoveryPrefix: "ha/#", BaseTopic: "s"}, discovery.Lock{ID: 3, EventTypes: eventTypes}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := discovery.Payload(tt.opts, tt.lock)
			if err == nil {
				t.Errorf("Payload() = %s, want an error", got)
			}
		})
	}
}

func TestPayloadCopiesEventTypes(t *testing.T) {
	types := []string{"unlocked", "locked"}
	l := discovery.Lock{ID: 8, EventTypes: types}
	before := mustPayload(t, l)
	types[0] = "changed"
	l.EventTypes = []string{"unlocked", "locked"}
	if after := mustPayload(t, l); !bytes.Equal(before, after) {
		t.Errorf("payload depends on the caller's later slice edits:\n%s\n%s", before, after)
	}
}

func TestTopic(t *testing.T) {
	tests := []struct {
		prefix string
		id     int64
		want   string
	}{
		{"homeassistant", 7100000, "homeassistant/device/sifely_7100000/config"},
		{"ha/test", 1, "ha/test/device/sifely_1/config"},
		{"homeassistant", 9223372036854775807, "homeassistant/device/sifely_9223372036854775807/config"},
	}
	for _, tt := range tests {
		if got := discovery.Topic(tt.prefix, tt.id); got != tt.want {
			t.Errorf("Topic(%q, %d) = %q, want %q", tt.prefix, tt.id, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    discovery.Options
		wantErr []string // substrings the error must contain; nil = valid
	}{
		{"defaults", discovery.Options{DiscoveryPrefix: "homeassistant", BaseTopic: "sifely2mqtt"}, nil},
		{"nested", discovery.Options{DiscoveryPrefix: "ha/discovery", BaseTopic: "home/locks"}, nil},
		{"empty prefix", discovery.Options{BaseTopic: "b"}, []string{"discovery prefix"}},
		{"empty base", discovery.Options{DiscoveryPrefix: "p"}, []string{"base topic"}},
		{"both empty", discovery.Options{}, []string{"discovery prefix", "base topic"}},
		{"plus", discovery.Options{DiscoveryPrefix: "home+assistant", BaseTopic: "b"}, []string{"discovery prefix", "wildcard"}},
		{"hash", discovery.Options{DiscoveryPrefix: "p", BaseTopic: "b/#"}, []string{"base topic", "wildcard"}},
		{"leading slash", discovery.Options{DiscoveryPrefix: "/p", BaseTopic: "b"}, []string{"discovery prefix", "start or end"}},
		{"trailing slash", discovery.Options{DiscoveryPrefix: "p", BaseTopic: "b/"}, []string{"base topic", "start or end"}},
		{"nul", discovery.Options{DiscoveryPrefix: "p\x00", BaseTopic: "b"}, []string{"discovery prefix", "NUL"}},
		{"all at once", discovery.Options{DiscoveryPrefix: "/+", BaseTopic: ""}, []string{"wildcard", "start or end", "base topic"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := discovery.Validate(tt.opts)
			if tt.wantErr == nil {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error mentioning %q", tt.wantErr)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Validate() = %q, want it to mention %q", err, s)
				}
			}
		})
	}
}

func FuzzPayload(f *testing.F) {
	f.Add("Front door", "SS-C1", "AA:BB:CC:DD:EE:FF", int64(1))
	f.Add("", "", "", int64(7100000))
	f.Add(`"}{\u0000</script>`, "{{ value }}", "zz", int64(42))
	f.Add("\xff\xfe", "\t\n", "::", int64(9223372036854775807))
	f.Fuzz(func(t *testing.T, alias, model, mac string, id int64) {
		if id &= math.MaxInt64; id == 0 { // Payload wants a positive ID
			id = 1
		}
		l := discovery.Lock{ID: id, Alias: alias, Model: model, MAC: mac, Firmware: model, HasGateway: len(alias)%2 == 0, CodeFormat: model, EventTypes: eventTypes}
		payload, err := discovery.Payload(testOptions(), l)
		if err != nil {
			t.Fatalf("Payload(%+v): %v", l, err)
		}
		if !json.Valid(payload) {
			t.Fatalf("invalid JSON: %s", payload)
		}
		m := decode(t, payload)
		dev, _ := m["device"].(map[string]any)
		if name, _ := dev["name"].(string); name == "" {
			t.Errorf("device name is empty for alias %q", alias)
		} else if utf8.ValidString(alias) && strings.TrimSpace(alias) != "" && name != strings.TrimSpace(alias) {
			t.Errorf("device name = %q, want %q", name, strings.TrimSpace(alias))
		}
		want := discovery.Topic("p", id)
		for key, c := range componentsOf(t, m) {
			uid, _ := c["unique_id"].(string)
			// The unique ID comes from the lock ID alone: it is the node ID of
			// the discovery topic plus a fixed suffix.
			node := strings.TrimSuffix(strings.TrimPrefix(want, "p/device/"), "/config")
			if !strings.HasPrefix(uid, node+"_") || strings.ContainsAny(uid, " \"") {
				t.Errorf("component %q unique_id = %q, want %q_<suffix>", key, uid, node)
			}
		}
	})
}
