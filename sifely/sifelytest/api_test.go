package sifelytest

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestVerbsAndPaths(t *testing.T) {
	s := New(t, baseOptions())
	tok := login(t, s)
	paths := map[string]string{
		"/v3/lock/detail":         http.MethodGet,
		"/v3/lock/queryOpenState": http.MethodGet,
		"/v3/lockRecord/list":     http.MethodGet,
		"/v3/gateway/listByLock":  http.MethodGet,
		"/v3/lock/list":           http.MethodPost,
		"/v3/key/list":            http.MethodPost,
		"/v3/lock/lock":           http.MethodPost,
		"/v3/lock/unlock":         http.MethodPost,
	}
	for path, method := range paths {
		wrong := http.MethodPost
		if method == http.MethodPost {
			wrong = http.MethodGet
		}
		t.Run(path, func(t *testing.T) {
			a := do(t, s, request{method: wrong, path: path, query: q("lockId", "7100001", "pageNo", "1", "pageSize", "20"), auth: tok})
			if a.status != http.StatusMethodNotAllowed {
				t.Fatalf("%s %s: status %d, want 405", wrong, path, a.status)
			}
			if got, want := a.obj["message"], "Request method '"+wrong+"' is not supported"; got != want {
				t.Errorf("message = %v, want %q", got, want)
			}
			if got, want := a.obj["error"], "Method Not Allowed"; got != want {
				t.Errorf("error = %v, want %q", got, want)
			}
			if a.num("status") != 405 || a.obj["timestamp"] == nil {
				t.Errorf("not a Spring error body: %s", a.body)
			}
			// The right verb works.
			ok := do(t, s, request{method: method, path: path, query: q("lockId", "7100001", "pageNo", "1", "pageSize", "20"), auth: tok})
			if ok.status != http.StatusOK {
				t.Errorf("%s %s: status %d; body %s", method, path, ok.status, ok.body)
			}
		})
	}
	t.Run("unknown path", func(t *testing.T) {
		a := do(t, s, request{method: http.MethodGet, path: "/v3/keyboardPwd/list", query: q("lockId", "7100001"), auth: tok})
		if a.status != http.StatusNotFound {
			t.Errorf("status = %d, want 404", a.status)
		}
	})
}

func TestMissingParameters(t *testing.T) {
	s := New(t, baseOptions())
	tok := login(t, s)
	tests := []struct {
		method, path string
		query        []string
		wantStatus   int
		wantMessage  string
	}{
		{http.MethodGet, "/v3/lock/detail", nil, 500, "Required request parameter 'lockId' for method parameter type Long is not present"},
		{http.MethodGet, "/v3/lock/detail", []string{"lockId", "abc"}, 400, "Failed to convert"},
		{http.MethodPost, "/v3/lock/list", []string{"pageNo", "1"}, 500, "Required request parameter 'pageSize' for method parameter type Integer is not present"},
		{http.MethodPost, "/v3/key/list", []string{"pageSize", "1"}, 500, "Required request parameter 'pageNo' for method parameter type Integer is not present"},
		{http.MethodGet, "/v3/lockRecord/list", []string{"lockId", "7100001", "pageNo", "1"}, 500, "Required request parameter 'pageSize'"},
		{http.MethodPost, "/v3/lock/unlock", nil, 500, "Required request parameter 'lockId'"},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+strings.Join(tt.query, "="), func(t *testing.T) {
			a := do(t, s, request{method: tt.method, path: tt.path, query: q(tt.query...), auth: tok})
			if a.status != tt.wantStatus {
				t.Errorf("status = %d, want %d", a.status, tt.wantStatus)
			}
			if msg, _ := a.obj["message"].(string); !strings.HasPrefix(msg, tt.wantMessage) {
				t.Errorf("message = %q, want prefix %q", msg, tt.wantMessage)
			}
		})
	}
	t.Run("form body fallback", func(t *testing.T) {
		a := do(t, s, request{method: http.MethodPost, path: "/v3/lock/list", form: q("pageNo", "1", "pageSize", "2"), auth: tok})
		if got := len(a.list()); got != 2 {
			t.Errorf("got %d locks from form parameters, want 2; body %s", got, a.body)
		}
	})
}

func TestListsPaging(t *testing.T) {
	opts := baseOptions()
	opts.Locks = nil
	for i := range int64(5) {
		opts.Locks = append(opts.Locks, LockSpec{ID: 7200001 + i, Alias: "Lock " + strconv.FormatInt(i, 10), Battery: 50, GatewayID: 1})
	}
	opts.Locks = append(opts.Locks, LockSpec{ID: 7300001, Alias: "Shared", Shared: true})
	s := New(t, opts)

	tests := []struct {
		path      string
		pageNo    int
		pageSize  int
		wantIDs   []int64
		wantTotal int64
		wantPages int64
	}{
		{"/v3/lock/list", 1, 2, []int64{7200001, 7200002}, 5, 3},
		{"/v3/lock/list", 3, 2, []int64{7200005}, 5, 3},
		{"/v3/lock/list", 4, 2, nil, 5, 3},
		{"/v3/lock/list", 1, 100, []int64{7200001, 7200002, 7200003, 7200004, 7200005}, 5, 1},
		{"/v3/key/list", 2, 4, []int64{7200005, 7300001}, 6, 2},
	}
	for _, tt := range tests {
		t.Run(tt.path+strconv.Itoa(tt.pageNo)+"x"+strconv.Itoa(tt.pageSize), func(t *testing.T) {
			a := do(t, s, request{method: http.MethodPost, path: tt.path,
				query: q("pageNo", strconv.Itoa(tt.pageNo), "pageSize", strconv.Itoa(tt.pageSize)), auth: "sk-test-key"})
			var got []int64
			for _, it := range a.list() {
				got = append(got, int64(it["lockId"].(float64)))
			}
			if !equalIDs(got, tt.wantIDs) {
				t.Errorf("ids = %v, want %v", got, tt.wantIDs)
			}
			if a.num("total") != tt.wantTotal || a.num("pages") != tt.wantPages || a.num("pageNo") != int64(tt.pageNo) {
				t.Errorf("page fields wrong: %s", a.body)
			}
			if _, wrapped := a.obj["data"]; wrapped {
				t.Errorf("list is wrapped: %s", a.body)
			}
		})
	}

	t.Run("item fields", func(t *testing.T) {
		lock := do(t, s, request{method: http.MethodPost, path: "/v3/lock/list", query: q("pageNo", "1", "pageSize", "1"), auth: "sk-test-key"}).list()[0]
		for _, f := range []string{"hasGateway", "electricQuantity", "featureValue", "lockData", "lockMac", "lockAlias", "lockName"} {
			if _, ok := lock[f]; !ok {
				t.Errorf("lock list item lacks %s", f)
			}
		}
		if _, ok := lock["featureValue"].(string); !ok {
			t.Errorf("featureValue is not a string: %#v", lock["featureValue"])
		}
		key := do(t, s, request{method: http.MethodPost, path: "/v3/key/list", query: q("pageNo", "1", "pageSize", "1"), auth: "sk-test-key"}).list()[0]
		for _, f := range []string{"keyRight", "keyStatus", "userType", "remoteEnable", "noKeyPwd", "electricQuantity", "lockAlias"} {
			if _, ok := key[f]; !ok {
				t.Errorf("key list item lacks %s", f)
			}
		}
		if _, ok := key["hasGateway"]; ok {
			t.Errorf("key list item has hasGateway")
		}
	})
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEnvelopes(t *testing.T) {
	tests := []struct {
		name        string
		envelope    Envelope
		id          string
		wantWrapped bool
	}{
		{"mixed odd", EnvelopeMixed, "7100001", false},
		{"mixed even", EnvelopeMixed, "7100002", true},
		{"raw even", EnvelopeRaw, "7100002", false},
		{"wrapped odd", EnvelopeWrapped, "7100001", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions()
			opts.Envelope = tt.envelope
			s := New(t, opts)
			for _, path := range []string{"/v3/lock/detail", "/v3/lock/queryOpenState"} {
				a := do(t, s, request{method: http.MethodGet, path: path, query: q("lockId", tt.id), auth: "sk-test-key"})
				data, wrapped := a.obj["data"].(map[string]any)
				if wrapped != tt.wantWrapped {
					t.Fatalf("%s wrapped = %v, want %v; body %s", path, wrapped, tt.wantWrapped, a.body)
				}
				obj := a.obj
				if wrapped {
					obj = data
					if a.num("code") != 200 {
						t.Errorf("wrapped code: %s", a.body)
					}
				}
				key := "lockId"
				if path == "/v3/lock/queryOpenState" {
					key = "state"
				}
				if _, ok := obj[key]; !ok {
					t.Errorf("%s: no %s in %s", path, key, a.body)
				}
			}
		})
	}
	t.Run("detail fields", func(t *testing.T) {
		s := New(t, baseOptions())
		a := do(t, s, request{method: http.MethodGet, path: "/v3/lock/detail", query: q("lockId", "7100001"), auth: "sk-test-key"})
		for _, f := range []string{"modelNum", "firmwareRevision", "hardwareRevision", "isFrozen", "adminPwd", "aesKeyStr", "lockData", "hasGateway", "electricQuantity"} {
			if _, ok := a.obj[f]; !ok {
				t.Errorf("detail lacks %s", f)
			}
		}
		if got, want := a.obj["modelNum"], "SS-S2"; got != want {
			t.Errorf("modelNum = %v, want %v", got, want)
		}
	})
}

func TestGatewayErrors(t *testing.T) {
	s := New(t, baseOptions())
	s.AddLock(LockSpec{ID: 7100011, Alias: "No gateway", State: StateLocked})
	s.AddLock(LockSpec{ID: 7100013, Alias: "Frozen", GatewayID: 3, Frozen: true})
	s.AddLock(LockSpec{ID: 7100015, Alias: "No remote", GatewayID: 3, RemoteUnlockDisabled: true})
	s.AddLock(LockSpec{ID: 7100017, Alias: "Offline", GatewayID: 4})
	s.SetGatewayOnline(4, false)

	tests := []struct {
		path      string
		id        string
		wantCode  int64
		wantState int64
	}{
		{"/v3/lock/unlock", "7100011", -2012, 0},
		{"/v3/lock/lock", "7100011", -2012, 0},
		{"/v3/lock/queryOpenState", "7100011", -999999, StateUnknown},
		{"/v3/lock/unlock", "7100013", -2025, 0},
		{"/v3/lock/lock", "7100013", -2025, 0},
		{"/v3/lock/unlock", "7100015", -4043, 0},
		{"/v3/lock/lock", "7100015", 0, 0},
		{"/v3/lock/unlock", "7100017", -3002, 0},
		{"/v3/lock/queryOpenState", "7100017", -3002, 0},
		{"/v3/lock/unlock", "999", -1003, 0},
		{"/v3/lock/detail", "999", -1003, 0},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.id, func(t *testing.T) {
			method := http.MethodPost
			if tt.path != "/v3/lock/unlock" && tt.path != "/v3/lock/lock" {
				method = http.MethodGet
			}
			a := do(t, s, request{method: method, path: tt.path, query: q("lockId", tt.id), auth: "sk-test-key"})
			if got := a.num("errcode"); got != tt.wantCode {
				t.Errorf("errcode = %d, want %d; body %s", got, tt.wantCode, a.body)
			}
			if tt.wantCode == -999999 {
				if got := a.num("state"); got != tt.wantState {
					t.Errorf("state = %d, want %d", got, tt.wantState)
				}
			}
		})
	}

	s.SetGatewayOnline(4, true)
	a := do(t, s, request{method: http.MethodPost, path: "/v3/lock/unlock", query: q("lockId", "7100017"), auth: "sk-test-key"})
	if a.num("errcode") != 0 || a.obj["errmsg"] != "none error message" {
		t.Errorf("unlock after gateway came back: %s", a.body)
	}
	if got := s.State(7100017); got != StateUnlocked {
		t.Errorf("state after unlock = %d, want %d", got, StateUnlocked)
	}
}

func TestRecordsList(t *testing.T) {
	clock := newFakeClock()
	opts := baseOptions()
	opts.Now = clock.Now
	s := New(t, opts)
	base := clock.Now()
	var added []RecordSpec
	for i := range 5 {
		added = append(added, s.AddRecord(RecordSpec{LockID: 7100001, RecordType: 4, RecordTypeFromLock: 4, Success: true,
			Username: "Guest", KeyboardPwd: "123456", LockDate: base.Add(time.Duration(i) * time.Minute)}))
	}
	for i := 1; i < len(added); i++ {
		if added[i].RecordID <= added[i-1].RecordID {
			t.Fatalf("record ids not increasing: %d then %d", added[i-1].RecordID, added[i].RecordID)
		}
	}
	if added[0].Battery != 87 || !added[0].ServerDate.Equal(base) {
		t.Errorf("AddRecord did not fill battery and server date: %+v", added[0])
	}
	if got := s.State(7100001); got != StateUnlocked {
		t.Errorf("state after passcode unlock record = %d, want unlocked", got)
	}

	ms := func(i int) string { return strconv.FormatInt(base.Add(time.Duration(i)*time.Minute).UnixMilli(), 10) }
	tests := []struct {
		name    string
		query   []string
		wantIdx []int // indexes into added, in answer order
	}{
		{"newest first", []string{"pageNo", "1", "pageSize", "3"}, []int{4, 3, 2}},
		{"page 2", []string{"pageNo", "2", "pageSize", "3"}, []int{1, 0}},
		{"window", []string{"pageNo", "1", "pageSize", "10", "startDate", ms(1), "endDate", ms(3)}, []int{3, 2, 1}},
		{"zero bounds", []string{"pageNo", "1", "pageSize", "10", "startDate", "0", "endDate", "0"}, []int{4, 3, 2, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, s, request{method: http.MethodGet, path: "/v3/lockRecord/list",
				query: q(append([]string{"lockId", "7100001"}, tt.query...)...), auth: "sk-test-key"})
			var got, want []int64
			for _, it := range a.list() {
				got = append(got, int64(it["recordId"].(float64)))
			}
			for _, i := range tt.wantIdx {
				want = append(want, added[i].RecordID)
			}
			if !equalIDs(got, want) {
				t.Errorf("record ids = %v, want %v", got, want)
			}
		})
	}
	t.Run("item fields", func(t *testing.T) {
		a := do(t, s, request{method: http.MethodGet, path: "/v3/lockRecord/list", query: q("lockId", "7100001", "pageNo", "1", "pageSize", "1"), auth: "sk-test-key"})
		it := a.list()[0]
		want := map[string]any{"lockId": 7100001.0, "recordType": 4.0, "recordTypeFromLock": 4.0, "success": 1.0,
			"username": "Guest", "keyboardPwd": "123456", "electricQuantity": 87.0,
			"lockDate": float64(base.Add(4 * time.Minute).UnixMilli()), "serverDate": float64(base.UnixMilli())}
		for k, v := range want {
			if it[k] != v {
				t.Errorf("%s = %v, want %v", k, it[k], v)
			}
		}
	})
}

func TestCallLogAndCounters(t *testing.T) {
	s := New(t, baseOptions())
	do(t, s, request{method: http.MethodGet, path: "/v3/lock/detail", query: q("lockId", "7100001"), auth: "sk-test-key"})
	do(t, s, request{method: http.MethodPost, path: "/v3/lock/detail", query: q("lockId", "7100003"), auth: "sk-test-key"})
	do(t, s, request{method: http.MethodPost, path: "/v3/lock/unlock", query: q("lockId", "7100003"), auth: "sk-bad"})
	if got := s.Calls("/v3/lock/detail"); got != 2 {
		t.Errorf("Calls(detail) = %d, want 2", got)
	}
	log := s.CallLog()
	if len(log) != 3 {
		t.Fatalf("call log has %d entries, want 3", len(log))
	}
	want := []Call{
		{Method: "GET", Path: "/v3/lock/detail", LockID: 7100001, Status: 200},
		{Method: "POST", Path: "/v3/lock/detail", LockID: 7100003, Status: 405},
		{Method: "POST", Path: "/v3/lock/unlock", LockID: 7100003, Status: 401, Code: 401},
	}
	for i, w := range want {
		g := log[i]
		g.Start, g.End = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("call %d = %+v, want %+v", i, g, w)
		}
	}
	s.ResetCounters()
	if got := s.Calls("/v3/lock/detail"); got != 0 || len(s.CallLog()) != 0 {
		t.Errorf("after ResetCounters: calls %d, log %d", got, len(s.CallLog()))
	}
}
