package langfuse

import (
	"bufio"
	"bytes"
	"context"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
)

// Client fetches traces from a Langfuse server (Langfuse Cloud or
// self-hosted) through its public API, with Basic auth: the public key as
// user, the secret key as password.
type Client struct {
	Host      string // e.g. https://cloud.langfuse.com (LANGFUSE_HOST); "https://" is assumed when no scheme is given
	PublicKey string // LANGFUSE_PUBLIC_KEY
	SecretKey string // LANGFUSE_SECRET_KEY
	HTTP      *http.Client

	// PageSize is the number of observations asked per page of the v2
	// endpoint; 0 means 100.
	PageSize int
	// MaxRetries bounds the retries of a request answered 429 or 5xx (or
	// failing at the network level); 0 means 4.
	MaxRetries int

	sleep func(ctx context.Context, d time.Duration) error // nil: a real, cancellable sleep
}

// v2Fields are the field groups asked from GET /api/public/v2/observations:
// all of them, so a fetched trace holds what an export holds. Servers that
// predate the trace_context group (May 2026) answer 400 to it: they are
// asked again with v2FieldsOld.
const (
	v2Fields    = "core,basic,time,io,metadata,model,usage,prompt,metrics,trace_context"
	v2FieldsOld = "core,basic,time,io,metadata,model,usage,prompt,metrics"
)

// Fetch gets the trace traceID with all its observations and writes it to w
// as {"observations":[…],"trace":{…}}, the shape Format imports. See the
// package documentation for which endpoints it uses. On error, w may hold
// part of the document: discard it.
func (c *Client) Fetch(ctx context.Context, traceID string, w io.Writer) error {
	base, err := c.base()
	if err != nil {
		return err
	}
	if c.PublicKey == "" || c.SecretKey == "" {
		return fmt.Errorf("fetch langfuse trace %q from %s: no API keys: set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY", traceID, base.Host)
	}
	if strings.TrimSpace(traceID) == "" {
		return fmt.Errorf("fetch langfuse trace from %s: empty trace id", base.Host)
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	found, err := c.fetchV2(ctx, base, traceID, bw)
	if err != nil {
		return err
	}
	if !found {
		if err := c.fetchLegacy(ctx, base, traceID, bw); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write langfuse trace %q: %w", traceID, err)
	}
	return nil
}

func (c *Client) base() (*url.URL, error) {
	h := strings.TrimSpace(c.Host)
	if h == "" {
		return nil, errors.New("fetch langfuse trace: no host: set LANGFUSE_HOST (e.g. https://cloud.langfuse.com)")
	}
	if !strings.Contains(h, "://") {
		h = "https://" + h
	}
	u, err := url.Parse(strings.TrimRight(h, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("fetch langfuse trace: invalid host %q", c.Host)
	}
	return u, nil
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// statusError is a response the client could not use.
type statusError struct {
	host, traceID string
	code          int
	body          string
}

func (e *statusError) Error() string {
	prefix := fmt.Sprintf("fetch langfuse trace %q from %s: %d %s", e.traceID, e.host, e.code, http.StatusText(e.code))
	switch e.code {
	case http.StatusUnauthorized:
		return prefix + ": the API keys were refused: check LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (and that LANGFUSE_HOST is the server they belong to)"
	case http.StatusForbidden:
		return prefix + ": these API keys may not read this project's traces"
	case http.StatusNotFound, http.StatusGone:
		return prefix + ": no such trace (check the id, and that the keys belong to the trace's project)"
	}
	if e.body != "" {
		return prefix + ": " + e.body
	}
	return prefix
}

// get sends a GET and retries 429 and 5xx answers (and network errors),
// honouring Retry-After, with exponential backoff otherwise. The caller
// closes the returned body, whose status is below 300.
func (c *Client) get(ctx context.Context, u *url.URL, traceID string) (*http.Response, error) {
	maxRetries := c.MaxRetries
	if maxRetries <= 0 {
		maxRetries = 4
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, fmt.Errorf("fetch langfuse trace %q: %w", traceID, err)
		}
		req.SetBasicAuth(c.PublicKey, c.SecretKey)
		req.Header.Set("Accept", "application/json")
		resp, err := c.httpClient().Do(req)
		if err != nil {
			if ctx.Err() != nil || attempt >= maxRetries {
				return nil, fmt.Errorf("fetch langfuse trace %q from %s: %w", traceID, u.Host, err)
			}
			if err := c.wait(ctx, backoff(attempt)); err != nil {
				return nil, err
			}
			continue
		}
		if resp.StatusCode < 300 {
			return resp, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		retryable := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
		if retryable && attempt < maxRetries {
			d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now())
			if !ok {
				d = backoff(attempt)
			}
			if err := c.wait(ctx, d); err != nil {
				return nil, err
			}
			continue
		}
		return nil, &statusError{host: u.Host, traceID: traceID, code: resp.StatusCode, body: snippet(body)}
	}
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	var m struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(b, &m) == nil {
		if m.Message != "" {
			s = m.Message
		} else if m.Error != "" {
			s = m.Error
		}
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// backoff is the wait before retry attempt+1: 0.5 s, 1 s, 2 s, … up to 30 s.
func backoff(attempt int) time.Duration {
	d := 500 * time.Millisecond << min(attempt, 6)
	return min(d, 30*time.Second)
}

// retryAfter reads a Retry-After header: seconds or an HTTP date. Waits are
// capped at two minutes.
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	var d time.Duration
	if s, err := strconv.Atoi(h); err == nil {
		d = time.Duration(max(s, 0)) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = max(t.Sub(now), 0)
	} else {
		return 0, false
	}
	return min(d, 2*time.Minute), true
}

func (c *Client) wait(ctx context.Context, d time.Duration) error {
	if c.sleep != nil {
		return c.sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// v2Page is one page of GET /api/public/v2/observations.
type v2Page struct {
	Data []json.RawMessage `json:"data"`
	Meta struct {
		Cursor string `json:"cursor"`
	} `json:"meta"`
}

// v2Obs is what the trace object is rebuilt from.
type v2Obs struct {
	ID          string          `json:"id"`
	Parent      *string         `json:"parentObservationId"`
	IsRoot      *bool           `json:"isRootObservation"`
	Name        string          `json:"name"`
	TraceName   string          `json:"traceName"`
	SessionID   string          `json:"sessionId"`
	UserID      string          `json:"userId"`
	Release     string          `json:"release"`
	Version     string          `json:"version"`
	Environment string          `json:"environment"`
	Tags        []string        `json:"tags"`
	StartTime   string          `json:"startTime"`
	EndTime     string          `json:"endTime"`
	Input       json.RawMessage `json:"input"`
	Output      json.RawMessage `json:"output"`
}

// fetchV2 pages through the v2 observations of traceID, writing them as
// they come. found is false, with nothing written, when v2 does not exist
// on the server (404) or knows no observation of that trace.
func (c *Client) fetchV2(ctx context.Context, base *url.URL, traceID string, w io.Writer) (found bool, err error) {
	limit := c.PageSize
	if limit <= 0 {
		limit = 100
	}
	var (
		tr      traceObject
		root    *v2Obs
		first   = true
		cursor  string
		visited = map[string]bool{}
		fields  = v2Fields
	)
	tr.ID = traceID
	for {
		q := url.Values{}
		q.Set("traceId", traceID)
		q.Set("fields", fields)
		q.Set("expandMetadata", "attributes")
		q.Set("parseIoAsJson", "true")
		q.Set("limit", strconv.Itoa(limit))
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		u := base.JoinPath("/api/public/v2/observations")
		u.RawQuery = q.Encode()
		resp, err := c.get(ctx, u, traceID)
		if err != nil {
			var se *statusError
			if first && errors.As(err, &se) && (se.code == http.StatusNotFound || se.code == http.StatusMethodNotAllowed) {
				return false, nil // no v2 endpoint: self-hosted Langfuse before v4
			}
			if first && cursor == "" && fields == v2Fields && errors.As(err, &se) && se.code == http.StatusBadRequest {
				fields = v2FieldsOld
				continue
			}
			return false, err
		}
		var page v2Page
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return false, fmt.Errorf("fetch langfuse trace %q from %s: decode observations page: %w", traceID, base.Host, err)
		}
		if first && len(page.Data) == 0 {
			return false, nil
		}
		for _, raw := range page.Data {
			var o v2Obs
			if err := json.Unmarshal(raw, &o); err != nil {
				return false, fmt.Errorf("fetch langfuse trace %q from %s: decode observation: %w", traceID, base.Host, err)
			}
			sep := ","
			if first {
				sep = `{"observations":[`
				first = false
			}
			if _, err := io.WriteString(w, sep); err != nil {
				return false, fmt.Errorf("write langfuse trace %q: %w", traceID, err)
			}
			if _, err := w.Write(raw); err != nil {
				return false, fmt.Errorf("write langfuse trace %q: %w", traceID, err)
			}
			tr.observe(&o)
			isRoot := (o.IsRoot != nil && *o.IsRoot) || (o.IsRoot == nil && (o.Parent == nil || *o.Parent == ""))
			if isRoot && (root == nil || o.StartTime < root.StartTime) {
				cp := o
				root = &cp
			}
		}
		if page.Meta.Cursor == "" || visited[page.Meta.Cursor] {
			break
		}
		visited[page.Meta.Cursor] = true
		cursor = page.Meta.Cursor
	}
	if root != nil {
		tr.fromRoot(root)
	}
	b, err := json.Marshal(tr.object())
	if err != nil {
		return false, fmt.Errorf("encode langfuse trace %q: %w", traceID, err)
	}
	if _, err := fmt.Fprintf(w, `],"trace":%s}`, b); err != nil {
		return false, fmt.Errorf("write langfuse trace %q: %w", traceID, err)
	}
	return true, nil
}

// traceObject is the trace rebuilt from v2 observations.
type traceObject struct {
	ID, Name, SessionID, UserID, Release, Version, Environment string
	Tags                                                       []string
	start, end                                                 time.Time
	Input, Output                                              json.RawMessage
}

func (t *traceObject) observe(o *v2Obs) {
	set := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	set(&t.Name, o.TraceName)
	set(&t.SessionID, o.SessionID)
	set(&t.UserID, o.UserID)
	set(&t.Release, o.Release)
	set(&t.Environment, o.Environment)
	if len(t.Tags) == 0 {
		t.Tags = o.Tags
	}
	if s := parseTime(o.StartTime); !s.IsZero() && (t.start.IsZero() || s.Before(t.start)) {
		t.start = s
	}
	if e := parseTime(o.EndTime); e.After(t.end) {
		t.end = e
	}
}

func (t *traceObject) fromRoot(r *v2Obs) {
	if t.Name == "" {
		t.Name = r.Name
	}
	if t.Version == "" {
		t.Version = r.Version
	}
	t.Input, t.Output = r.Input, r.Output
}

func (t *traceObject) object() map[string]any {
	m := map[string]any{"id": t.ID}
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	put("name", t.Name)
	put("sessionId", t.SessionID)
	put("userId", t.UserID)
	put("release", t.Release)
	put("version", t.Version)
	put("environment", t.Environment)
	if len(t.Tags) > 0 {
		m["tags"] = t.Tags
	}
	if !t.start.IsZero() {
		m["timestamp"] = t.start.Format(time.RFC3339Nano)
		if !t.end.IsZero() {
			m["latency"] = t.end.Sub(t.start).Seconds()
		}
	}
	if !isNull(t.Input) {
		m["input"] = t.Input
	}
	if !isNull(t.Output) {
		m["output"] = t.Output
	}
	return m
}

// fetchLegacy gets GET /api/public/traces/{id} (deprecated) and rewrites its
// trace object, streaming the observations out of it.
func (c *Client) fetchLegacy(ctx context.Context, base *url.URL, traceID string, w io.Writer) error {
	u := base.JoinPath("/api/public/traces", traceID)
	resp, err := c.get(ctx, u, traceID)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := stdjson.NewDecoder(bufio.NewReader(resp.Body))
	fail := func(err error) error {
		return fmt.Errorf("fetch langfuse trace %q from %s: decode trace: %w", traceID, base.Host, err)
	}
	if tok, err := dec.Token(); err != nil || tok != stdjson.Delim('{') {
		if err == nil {
			err = errors.New("not a JSON object")
		}
		return fail(err)
	}
	var rest bytes.Buffer
	rest.WriteByte('{')
	if _, err := io.WriteString(w, `{"observations":[`); err != nil {
		return fmt.Errorf("write langfuse trace %q: %w", traceID, err)
	}
	n := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		key, _ := tok.(string)
		if key == "observations" {
			if t, err := dec.Token(); err != nil || t != stdjson.Delim('[') {
				if err == nil && t == nil {
					continue
				}
				return fail(fmt.Errorf("\"observations\" is not a list"))
			}
			for dec.More() {
				var raw stdjson.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return fail(err)
				}
				if n > 0 {
					if _, err := io.WriteString(w, ","); err != nil {
						return fmt.Errorf("write langfuse trace %q: %w", traceID, err)
					}
				}
				n++
				if _, err := w.Write(raw); err != nil {
					return fmt.Errorf("write langfuse trace %q: %w", traceID, err)
				}
			}
			if _, err := dec.Token(); err != nil {
				return fail(err)
			}
			continue
		}
		var raw stdjson.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fail(err)
		}
		if rest.Len() > 1 {
			rest.WriteByte(',')
		}
		kb, _ := json.Marshal(key)
		rest.Write(kb)
		rest.WriteByte(':')
		rest.Write(raw)
	}
	rest.WriteByte('}')
	if _, err := fmt.Fprintf(w, `],"trace":%s}`, rest.Bytes()); err != nil {
		return fmt.Errorf("write langfuse trace %q: %w", traceID, err)
	}
	return nil
}
