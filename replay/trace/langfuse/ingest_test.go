package langfuse

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// ingestServer answers POST /api/public/ingestion as Langfuse does: 207
// with successes and errors per event; answer decides per request.
func ingestServer(t *testing.T, answer func(n int, batch []IngestEvent, w http.ResponseWriter) bool) (*httptest.Server, *[][]IngestEvent) {
	t.Helper()
	var (
		mu   sync.Mutex
		reqs [][]IngestEvent
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/public/ingestion" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if u, p, ok := r.BasicAuth(); !ok || u != testPK || p != testSK {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"message":"Invalid credentials. Confirm that you've configured the correct host."}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if len(body) > MaxBatchBytes {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		var req struct {
			Batch []IngestEvent `json:"batch"`
		}
		if err := stdjson.Unmarshal(body, &req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"message":"Invalid request data","error":%q}`, err.Error())
			return
		}
		mu.Lock()
		n := len(reqs)
		reqs = append(reqs, req.Batch)
		mu.Unlock()
		if answer != nil && answer(n, req.Batch, w) {
			return
		}
		var ok []string
		for _, e := range req.Batch {
			ok = append(ok, fmt.Sprintf(`{"id":%q,"status":201}`, e.ID))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMultiStatus)
		fmt.Fprintf(w, `{"successes":[%s],"errors":[]}`, strings.Join(ok, ","))
	}))
	t.Cleanup(srv.Close)
	return srv, &reqs
}

func events(n, size int) []IngestEvent {
	var out []IngestEvent
	pad := strings.Repeat("x", size)
	for i := range n {
		out = append(out, IngestEvent{ID: fmt.Sprintf("ev-%d", i), Type: "span-create", Timestamp: "2026-11-25T10:00:00Z",
			Body: stdjson.RawMessage(fmt.Sprintf(`{"id":"obs-%d","traceId":"t","input":%q}`, i, pad))})
	}
	return out
}

func TestIngestBatches(t *testing.T) {
	srv, reqs := ingestServer(t, nil)
	var slept []time.Duration
	c := newClient(srv, &slept)
	// 10 events of ~1 MB: no batch may pass 3.5 MB.
	res, err := c.Ingest(context.Background(), events(10, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 10 || len(res.Errors) != 0 || res.Requests != len(*reqs) || len(*reqs) < 4 {
		t.Errorf("result %+v over %d requests", res, len(*reqs))
	}
	seen := 0
	for _, b := range *reqs {
		seen += len(b)
	}
	if seen != 10 {
		t.Errorf("%d events arrived, want 10", seen)
	}
}

func TestIngestPerEventErrors(t *testing.T) {
	srv, _ := ingestServer(t, func(_ int, batch []IngestEvent, w http.ResponseWriter) bool {
		w.WriteHeader(http.StatusMultiStatus)
		fmt.Fprintf(w, `{"successes":[{"id":%q,"status":201}],"errors":[{"id":%q,"status":400,"message":"Invalid request data","error":"startTime: Invalid datetime"}]}`,
			batch[0].ID, batch[1].ID)
		return true
	})
	var slept []time.Duration
	res, err := newClient(srv, &slept).Ingest(context.Background(), events(2, 10))
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 1 || len(res.Errors) != 1 || res.Errors[0].ID != "ev-1" || res.Errors[0].Status != 400 ||
		res.Errors[0].Message != "Invalid request data" || !strings.Contains(string(res.Errors[0].Error), "Invalid datetime") {
		t.Errorf("result %+v", res)
	}
}

func TestIngestRetriesAndRefusals(t *testing.T) {
	t.Run("503 then 207", func(t *testing.T) {
		srv, reqs := ingestServer(t, func(n int, _ []IngestEvent, w http.ResponseWriter) bool {
			if n < 2 {
				w.Header().Set("Retry-After", "3")
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			}
			return false
		})
		var slept []time.Duration
		res, err := newClient(srv, &slept).Ingest(context.Background(), events(3, 10))
		if err != nil || res.Accepted != 3 || len(*reqs) != 3 || len(slept) != 2 || slept[0] != 3*time.Second {
			t.Errorf("err %v, result %+v, %d requests, slept %v", err, res, len(*reqs), slept)
		}
	})
	t.Run("wrong keys", func(t *testing.T) {
		srv, _ := ingestServer(t, nil)
		var slept []time.Duration
		c := newClient(srv, &slept)
		c.SecretKey = "nope"
		_, err := c.Ingest(context.Background(), events(1, 10))
		var se *IngestStatusError
		if !errors.As(err, &se) || se.Code != 401 || !strings.Contains(err.Error(), srv.Listener.Addr().String()) ||
			!strings.Contains(err.Error(), "LANGFUSE_SECRET_KEY") || len(slept) != 0 {
			t.Errorf("err %v, slept %v", err, slept)
		}
	})
	t.Run("500 for good", func(t *testing.T) {
		srv, reqs := ingestServer(t, func(int, []IngestEvent, http.ResponseWriter) bool { return false })
		srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			*reqs = append(*reqs, nil)
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"message":"Internal Server Error"}`)
		})
		var slept []time.Duration
		c := newClient(srv, &slept)
		_, err := c.Ingest(context.Background(), events(1, 10))
		if err == nil || !strings.Contains(err.Error(), "500 Internal Server Error: Internal Server Error") || len(*reqs) != 5 {
			t.Errorf("err %v after %d requests", err, len(*reqs))
		}
	})
	t.Run("no keys", func(t *testing.T) {
		c := &Client{Host: "http://127.0.0.1:1"}
		if _, err := c.Ingest(context.Background(), events(1, 10)); err == nil || !strings.Contains(err.Error(), "LANGFUSE_PUBLIC_KEY") {
			t.Errorf("err %v", err)
		}
	})
}

// FuzzIngestAnswer: whatever a server answers with a success status, the
// client counts what it took and lists what it refused, or says the answer
// is no ingestion response, naming the server; an empty answer takes all.
func FuzzIngestAnswer(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `{"successes":[],"errors":[]}`,
		`{"successes":[{"id":"a","status":201}],"errors":[{"id":"b","status":400,"message":"Invalid request data","error":{"issues":[{"path":["body","startTime"]}]}}]}`,
		`{"successes":[{"id":"a","status":"201"}]}`, `{"errors":[{"id":7}]}`, `[1,2]`, `{"errors":[{"error":"x"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		took, refused, err := ingestAnswer("langfuse.test:3000", data, 3)
		if err != nil {
			if !strings.Contains(err.Error(), "langfuse.test:3000") || took != 0 || refused != nil {
				t.Fatalf("error %v with %d taken, %d refused", err, took, len(refused))
			}
			return
		}
		if took < 0 || (len(bytes.TrimSpace(data)) == 0 && took != 3) {
			t.Fatalf("%d taken of 3", took)
		}
		for _, e := range refused {
			if len(e.Error) > 0 && !stdjson.Valid(e.Error) {
				t.Fatalf("refusal %+v: its error is not JSON", e)
			}
		}
	})
}

// FuzzParseHost: an accepted host is an http(s) URL with a host name, no
// credentials or query, that the client can join paths to.
func FuzzParseHost(f *testing.F) {
	for _, s := range []string{"https://cloud.langfuse.com", "cloud.langfuse.com", "http://127.0.0.1:3000/", "ftp://h", "http://u:p@h", "http://h?x=1", " ", "http://[::1]:3000", "https://h/prefix/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseHost(s)
		if err != nil {
			return
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			t.Fatalf("ParseHost(%q) = %s", s, u)
		}
		if got := u.JoinPath("/api/public/ingestion"); !strings.HasSuffix(got.String(), "/api/public/ingestion") || got.Host != u.Host {
			t.Fatalf("ParseHost(%q): the ingestion URL is %s", s, got)
		}
	})
}
