package sifelytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is an injected failure for the next Times calls to a path.
type Fault struct {
	// Times is how many calls the fault affects (0 counts as 1).
	Times int
	// HTTPStatus, when set, is the status answered: 5xx gateway errors
	// (502, 503, 504) come with an HTML body like a reverse proxy's, others
	// with a Spring-style JSON error.
	HTTPStatus int
	// Code, when set, answers {"errcode":Code,"errmsg":Message}, or
	// {"code":Code,"msg":Message} when Wrapped, with HTTPStatus or 200.
	Code    int
	Message string
	Wrapped bool
	// Delay is waited before answering, respecting the request's context.
	// With HTTPStatus and Code zero the call is then answered normally; on
	// gateway operations the delay holds the gateway like a slow round trip.
	Delay time.Duration
	// Malformed answers a truncated, non-JSON body.
	Malformed bool
}

// Inject makes the next f.Times calls to path fail as f says. Faults for a
// path queue up in the order injected.
func (s *Server) Inject(path string, f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], f)
}

func (s *Server) takeFault(path string) (Fault, bool) {
	q := s.faults[path]
	if len(q) == 0 {
		return Fault{}, false
	}
	f := q[0]
	q[0].Times--
	if q[0].Times <= 0 {
		q = q[1:]
	}
	if len(q) == 0 {
		delete(s.faults, path)
	} else {
		s.faults[path] = q
	}
	return f, true
}

// Authorization kinds of a request.
const (
	authNone = iota
	authLegacy
	authAPIKey
)

type route struct {
	method  string
	auth    bool // needs Authorization
	gateway bool // a gateway operation
	handle  func(*exchange)
}

func (s *Server) buildRoutes() map[string]route {
	get, post := http.MethodGet, http.MethodPost
	return map[string]route{
		"/system/smart/login":        {method: post, handle: s.login},
		"/system/smart/loginByGuest": {method: post, handle: s.loginByGuest},
		"/system/smart/oauthToken":   {method: post, handle: s.oauthToken},
		"/v3/lock/list":              {method: post, auth: true, handle: s.lockList},
		"/v3/key/list":               {method: post, auth: true, handle: s.keyList},
		"/v3/lock/detail":            {method: get, auth: true, handle: s.lockDetail},
		"/v3/lock/queryOpenState":    {method: get, auth: true, gateway: true, handle: s.queryOpenState},
		"/v3/lock/lock":              {method: post, auth: true, gateway: true, handle: s.lockCmd},
		"/v3/lock/unlock":            {method: post, auth: true, gateway: true, handle: s.unlockCmd},
		"/v3/lockRecord/list":        {method: get, auth: true, handle: s.recordList},
		"/v3/gateway/listByLock":     {method: get, auth: true, handle: s.gatewayList},
	}
}

// exchange is one request being answered.
type exchange struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	path   string
	status int
	code   int
	lockID int64
	auth   int
	delay  time.Duration // extra gateway latency from a delay-only fault
}

// ServeHTTP answers one request like the Sifely cloud.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := &exchange{s: s, w: w, r: r, path: r.URL.Path}
	start := s.now()
	if id, err := strconv.ParseInt(x.param("lockId"), 10, 64); err == nil {
		x.lockID = id
	}
	s.mu.Lock()
	s.calls[x.path]++
	f, faulted := s.takeFault(x.path)
	s.mu.Unlock()
	defer func() {
		if x.status == 0 {
			x.status = http.StatusOK
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.callLog = append(s.callLog, Call{
			Method: r.Method, Path: x.path, LockID: x.lockID,
			Start: start, End: s.now(), Status: x.status, Code: x.code,
		})
	}()

	rt, known := s.routes[x.path]
	if faulted && !s.applyFault(x, f, known && rt.gateway) {
		return
	}
	if !known {
		x.spring(http.StatusNotFound, "")
		return
	}
	if r.Method != rt.method {
		x.w.Header().Set("Allow", rt.method)
		x.spring(http.StatusMethodNotAllowed, fmt.Sprintf("Request method '%s' is not supported", r.Method))
		return
	}
	if rt.auth && !s.authorize(x) {
		return
	}
	if !rt.auth && strings.Contains(r.Header.Get("Content-Type"), "json") {
		x.auth = authAPIKey // the Open API login
	}
	if ok, wait := s.allowRate(); !ok {
		x.rateLimited(wait)
		return
	}
	rt.handle(x)
}

// applyFault answers x as f says; it reports whether the call goes on to be
// answered normally.
func (s *Server) applyFault(x *exchange, f Fault, gatewayOp bool) bool {
	if f.HTTPStatus == 0 && f.Code == 0 && !f.Malformed {
		if gatewayOp {
			x.delay = f.Delay
			return true
		}
		return s.sleep(x.r.Context(), f.Delay)
	}
	if !s.sleep(x.r.Context(), f.Delay) {
		return false
	}
	status := f.HTTPStatus
	if status == 0 {
		status = http.StatusOK
	}
	switch {
	case f.Malformed:
		x.code = f.Code
		x.raw(status, "application/json;charset=UTF-8", `{"errcode":0,"list":[{"lockId":`)
	case f.Code != 0 && f.Wrapped:
		x.code = f.Code
		x.json(status, map[string]any{"code": f.Code, "msg": f.Message})
	case f.Code != 0:
		x.code = f.Code
		x.json(status, map[string]any{"errcode": f.Code, "errmsg": f.Message})
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		text := fmt.Sprintf("%d %s", status, http.StatusText(status))
		x.raw(status, "text/html", "<html>\r\n<head><title>"+text+"</title></head>\r\n<body>\r\n<center><h1>"+text+"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
	default:
		x.spring(status, f.Message)
	}
	return false
}

// authorize checks the Authorization header of a v3 call.
func (s *Server) authorize(x *exchange) bool {
	h := strings.TrimSpace(x.r.Header.Get("Authorization"))
	tok, bearer := strings.CutPrefix(h, "Bearer ")
	if !bearer {
		tok, bearer = strings.CutPrefix(h, "bearer ")
	}
	tok = strings.TrimSpace(tok)
	switch {
	case tok == "":
		x.fail(10003, "access token is required")
		return false
	case strings.HasPrefix(tok, "sk-"):
		x.auth = authAPIKey
		if bearer {
			// The Open API wants the key raw; "Bearer sk-..." is refused.
			x.code = 401
			x.json(http.StatusUnauthorized, map[string]any{"code": 401, "msg": "Unauthorized: send the API key without Bearer"})
			return false
		}
		if tok != s.apiKey {
			x.code = 401
			x.json(http.StatusUnauthorized, map[string]any{"code": 401, "msg": "Unauthorized: invalid API key"})
			return false
		}
		return true
	}
	x.auth = authLegacy
	s.mu.Lock()
	exp, ok := s.access[tok]
	valid := ok && s.now().Before(exp)
	s.mu.Unlock()
	if !valid {
		x.fail(10004, "invalid access token")
		return false
	}
	return true
}

func (x *exchange) rateLimited(wait time.Duration) {
	if x.auth == authAPIKey {
		secs := int(wait/time.Second) + 1
		h := x.w.Header()
		h.Set("Retry-After", strconv.Itoa(secs))
		h.Set("X-RateLimit-Limit", strconv.Itoa(x.s.opts.RateLimitPerMinute))
		h.Set("X-RateLimit-Remaining", "0")
		x.code = 429
		x.json(http.StatusTooManyRequests, map[string]any{"code": 429, "msg": "Too Many Requests: rate limit exceeded"})
		return
	}
	x.fail(30006, "API call rate limit exceeded")
}

// param reads a parameter from the query string, falling back to a form
// body.
func (x *exchange) param(name string) string {
	if v := x.r.URL.Query().Get(name); v != "" {
		return v
	}
	if x.r.Method == http.MethodPost || x.r.Method == http.MethodPut {
		ct := x.r.Header.Get("Content-Type")
		if strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data") {
			return x.r.PostFormValue(name)
		}
	}
	return ""
}

// requireInt reads a required integer parameter the way Spring does: HTTP
// 500 when absent, 400 when not a number.
func (x *exchange) requireInt(name, javaType string) (int64, bool) {
	v := x.param(name)
	if v == "" {
		x.spring(http.StatusInternalServerError, fmt.Sprintf("Required request parameter '%s' for method parameter type %s is not present", name, javaType))
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		x.spring(http.StatusBadRequest, fmt.Sprintf("Failed to convert value of type 'java.lang.String' to required type 'java.lang.%s'; For input string: \"%s\"", javaType, v))
		return 0, false
	}
	return n, true
}

// optionalInt reads an optional integer parameter; absent or blank is 0.
func (x *exchange) optionalInt(name string) (int64, bool) {
	v := strings.TrimSpace(x.param(name))
	if v == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		x.spring(http.StatusBadRequest, fmt.Sprintf("Failed to convert value of type 'java.lang.String' to required type 'java.lang.Long'; For input string: \"%s\"", v))
		return 0, false
	}
	return n, true
}

// spring answers a Spring Boot style error.
func (x *exchange) spring(status int, message string) {
	body := map[string]any{
		"timestamp": x.s.now().UTC().Format("2006-01-02T15:04:05.000+00:00"),
		"status":    status,
		"error":     http.StatusText(status),
		"path":      x.path,
	}
	if message != "" {
		body["message"] = message
	}
	x.json(status, body)
}

// fail answers a TTLock-style business error with HTTP 200.
func (x *exchange) fail(code int, msg string) {
	x.code = code
	x.json(http.StatusOK, map[string]any{"errcode": code, "errmsg": msg})
}

// ok answers the TTLock "YesOrNot" success body.
func (x *exchange) ok() {
	x.code = 0
	x.json(http.StatusOK, map[string]any{"errcode": 0, "errmsg": "none error message", "description": "表示成功或是否"})
}

// wrapped answers {"code":200,"message":"Operation success!","data":data}.
func (x *exchange) wrapped(data any) {
	x.code = 200
	x.json(http.StatusOK, map[string]any{"code": 200, "message": "Operation success!", "data": data})
}

func (x *exchange) json(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		x.raw(http.StatusInternalServerError, "text/plain", err.Error())
		return
	}
	x.raw(status, "application/json;charset=UTF-8", string(b))
}

func (x *exchange) raw(status int, contentType, body string) {
	x.status = status
	x.w.Header().Set("Content-Type", contentType)
	x.w.WriteHeader(status)
	_, _ = x.w.Write([]byte(body))
}
